package runtime

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// plan is the part of a graph one set of requested values needs: the nodes to run, in order,
// and how many of those nodes read each value, so a run can drop a value after its last reader.
type plan struct {
	steps  []int   // indices into graph.nodes
	uses   []int32 // per slot
	pinned []bool  // per slot: requested, never dropped
	slots  []int   // requested values, in the caller's order
}

// planFor returns the (cached) plan for the requested slots.
func (g *graph) planFor(slots []int) *plan {
	if slices.Equal(slots, g.outputs) {
		return g.defaultPlan
	}
	var key strings.Builder
	for _, s := range slots {
		key.WriteString(strconv.Itoa(s))
		key.WriteByte(',')
	}
	if p, ok := g.plans.Load(key.String()); ok {
		return p.(*plan)
	}
	p, _ := g.plans.LoadOrStore(key.String(), g.makePlan(slots))
	return p.(*plan)
}

func (g *graph) makePlan(slots []int) *plan {
	p := &plan{
		uses:   make([]int32, len(g.slotNames)),
		pinned: make([]bool, len(g.slotNames)),
		slots:  append([]int(nil), slots...),
	}
	needed := make([]bool, len(g.nodes))
	var stack []int
	want := func(s int) {
		if s >= 0 {
			if i := g.producer[s]; i >= 0 && !needed[i] {
				needed[i] = true
				stack = append(stack, i)
			}
		}
	}
	for _, s := range slots {
		p.pinned[s] = true
		want(s)
	}
	for len(stack) > 0 {
		n := g.nodes[stack[len(stack)-1]]
		stack = stack[:len(stack)-1]
		for _, s := range n.inputs {
			want(s)
		}
		for _, s := range n.implicit {
			want(s)
		}
	}
	for i, n := range g.nodes {
		if !needed[i] {
			continue
		}
		p.steps = append(p.steps, i)
		for _, s := range n.inputs {
			if s >= 0 {
				p.uses[s]++
			}
		}
		for _, s := range n.implicit {
			p.uses[s]++
		}
	}
	return p
}

// run executes the plan with the formal inputs bound in order and returns the requested values.
// It stops between nodes when cancel is done.
func (g *graph) run(cancel context.Context, ctx *ops.Context, p *plan, feeds []*tensor.Tensor) ([]*tensor.Tensor, error) {
	arena := arenaOf(ctx) // nil unless buffers are recycled (optimize_memory.go)
	sc := arena.scratchFor(len(g.slotNames), len(p.slots))
	vals := sc.vals
	copy(vals, g.consts)
	mem := memoryProbeOf(cancel) // nil unless EstimateMemory is probing
	for i, s := range g.inputs {
		vals[s] = feeds[i]
		mem.add(feeds[i])
	}
	for _, s := range g.outer {
		if p.uses[s] == 0 && !p.pinned[s] {
			continue
		}
		var v *tensor.Tensor
		ok := false
		if ctx.Outer != nil {
			v, ok = ctx.Outer(g.slotNames[s])
		}
		if !ok {
			return nil, fmt.Errorf("graph %q: value %q from an enclosing scope is not available", g.name, g.slotNames[s])
		}
		vals[s] = v
	}
	w := watchOf(cancel)
	var ws *watchSlots
	if w != nil {
		ws = w.slotsIn(g)
		ws.start(vals)
	}
	remaining := sc.remaining
	copy(remaining, p.uses)
	drop := func(s int) {
		if remaining[s] == 0 && !p.pinned[s] && g.consts[s] == nil {
			mem.remove(vals[s])
			vals[s] = nil
			arena.release(s)
		}
	}
	inputs := sc.inputs[:0]
	prof := profileOf(cancel)
	for _, i := range p.steps {
		if err := cancel.Err(); err != nil {
			return nil, err
		}
		n := g.nodes[i]
		inputs = inputs[:0]
		for _, s := range n.inputs {
			if s >= 0 {
				inputs = append(inputs, vals[s])
			} else {
				inputs = append(inputs, nil)
			}
		}
		nodeCtx := ctx
		if n.subgraph {
			nodeCtx = &ops.Context{Threads: ctx.Threads, Outer: g.outerLookup(vals, ctx), Run: watchContext(w)}
		}
		var start time.Duration
		if prof != nil {
			start = nodeClock()
		}
		outs, err := runKernel(n, nodeCtx, inputs)
		if prof != nil {
			prof.add(n.label, n.opType, nodeClock()-start)
		}
		if err != nil {
			return nil, err
		}
		for j, s := range n.outputs {
			if s >= 0 && j < len(outs) {
				vals[s] = outs[j]
				mem.add(outs[j])
				arena.adopt(s, outs[j])
			}
		}
		if w != nil {
			ws.produced(n, outs)
		}
		for _, s := range n.inputs {
			if s >= 0 {
				remaining[s]--
				drop(s)
			}
		}
		for _, s := range n.implicit {
			remaining[s]--
			drop(s)
		}
		for _, s := range n.outputs {
			if s >= 0 {
				drop(s)
			}
		}
	}
	sc.inputs = inputs // keep a grown array for the next run
	out := sc.out
	for i, s := range p.slots {
		out[i] = vals[s]
	}
	return out, nil
}

// runScratch is the executor's per-run bookkeeping: value table, remaining reader counts, one
// node's inputs, the requested values. A run with an arena reuses its arena's; the slices are only
// valid until the run ends (RunContext copies the outputs into its result map before that).
type runScratch struct {
	vals      []*tensor.Tensor
	remaining []int32
	inputs    []*tensor.Tensor
	out       []*tensor.Tensor
}

// scratchFor returns zeroed bookkeeping for a run over nslots values and nout requested ones: the
// arena's (allocated once per pooled arena), or fresh slices when a is nil.
func (a *runArena) scratchFor(nslots, nout int) *runScratch {
	var sc *runScratch
	if a == nil {
		sc = &runScratch{}
	} else {
		sc = &a.scratch
	}
	sc.vals = resized(sc.vals, nslots)
	sc.remaining = resized(sc.remaining, nslots)
	sc.out = resized(sc.out, nout)
	if sc.inputs == nil {
		sc.inputs = make([]*tensor.Tensor, 0, 8)
	}
	return sc
}

// resized returns s with length n and every element zero, reusing s's array when it is big enough.
func resized[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// outerLookup lets a node's subgraphs read this graph's current values, then enclosing scopes'.
func (g *graph) outerLookup(vals []*tensor.Tensor, ctx *ops.Context) func(string) (*tensor.Tensor, bool) {
	return func(name string) (*tensor.Tensor, bool) {
		if s, ok := g.slotOf[name]; ok && vals[s] != nil {
			return vals[s], true
		}
		if ctx.Outer != nil {
			return ctx.Outer(name)
		}
		return nil, false
	}
}

// runKernel runs one node, turning a kernel panic into an error that names the node: a defensive
// net so that one bad kernel cannot take down a server.
func runKernel(n *node, ctx *ops.Context, inputs []*tensor.Tensor) (outs []*tensor.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			outs, err = nil, fmt.Errorf("node %q (%s): kernel panicked: %w", n.label, n.opType, newPanicError(r))
		}
	}()
	outs, err = n.kernel.Run(ctx, inputs)
	if err != nil {
		return nil, fmt.Errorf("node %q (%s): %w", n.label, n.opType, err)
	}
	return outs, nil
}
