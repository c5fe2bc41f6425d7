package runtime

import (
	"context"
	"fmt"
	"sync"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// ScopedValue names a value anywhere in a model: Scope is the onnx scope name of the graph it is
// in ("" for the main graph, `Loop "/loop"/body`, `function local.MLP`, as onnx.SubgraphScope and
// onnx.FunctionScope build them, and as the rewriter reports sites) and Name its name there.
type ScopedValue struct {
	Scope, Name string
}

func (v ScopedValue) String() string {
	if v.Scope == "" {
		return fmt.Sprintf("%q", v.Name)
	}
	return fmt.Sprintf("%q in %s", v.Name, v.Scope)
}

// RunWatching runs the model on inputs like Run (its outputs are computed and dropped) and calls
// see(i, t) with every tensor computed for values[i] during the run, as it is computed: once for a
// value of the main graph, once per iteration for a value inside a Loop or Scan body (none when
// the loop runs zero times, or for an If branch not taken), once per call for a value inside a
// model-local function (a function called twice yields two tensors). This is how calibration sees
// the activations inside bodies and functions, which no name of the main graph reaches. t is the
// run's own tensor: see must not modify it or keep it after it returns (clone it to keep it).
// see is called on the goroutine that called RunWatching, in execution order.
//
// A value that exists nowhere in the model is an error; a value whose graph or function the run
// never enters is simply never seen.
func (s *Session) RunWatching(ctx context.Context, inputs map[string]*tensor.Tensor, values []ScopedValue, see func(i int, t *tensor.Tensor)) error {
	w := &watch{values: values, see: see, slots: map[*graph]*watchSlots{}}
	if err := s.checkWatchable(values); err != nil {
		return err
	}
	// Naming the main graph's watched values as outputs keeps them out of reach of the
	// optimizer's fusions (graphFor falls back to the unoptimized graph) and in the plan.
	var names []string
	for _, slot := range s.main.outputs {
		names = append(names, s.main.slotNames[slot])
	}
	for _, slot := range s.main.watchable(values) {
		names = append(names, s.main.slotNames[slot.slot])
	}
	_, err := s.RunContext(context.WithValue(ctx, watchKey{}, w), inputs, names...)
	return err
}

// scopedValues is every value the model defines, in every scope: graph inputs, initializers and
// node outputs of the main graph and its subgraphs, function inputs and node outputs.
func scopedValues(m *onnx.ModelProto) map[ScopedValue]bool {
	out := map[ScopedValue]bool{}
	onnx.WalkScopes(m, func(scope string, g *onnx.GraphProto, f *onnx.FunctionProto) {
		add := func(name string) {
			if name != "" {
				out[ScopedValue{scope, name}] = true
			}
		}
		nodes := f.GetNode()
		if g != nil {
			nodes = g.GetNode()
			for _, vi := range g.GetInput() {
				add(vi.GetName())
			}
			for _, t := range g.GetInitializer() {
				add(t.GetName())
			}
		}
		for _, in := range f.GetInput() {
			add(in)
		}
		for _, n := range nodes {
			for _, o := range n.GetOutput() {
				add(o)
			}
		}
	})
	return out
}

// checkWatchable refuses a value whose scope the model does not have, or whose scope does not
// define it, so that a typo is an error rather than a run that sees nothing.
func (s *Session) checkWatchable(values []ScopedValue) error {
	for _, v := range values {
		if !s.defines[v] {
			return fmt.Errorf("watch: the model has no value %s", v)
		}
	}
	return nil
}

type watchKey struct{}

// watch is one RunWatching call's request, with the slots it resolves to per compiled graph.
type watch struct {
	values []ScopedValue
	see    func(int, *tensor.Tensor)
	mu     sync.Mutex
	slots  map[*graph]*watchSlots
}

func watchOf(ctx context.Context) *watch {
	if ctx == nil {
		return nil
	}
	w, _ := ctx.Value(watchKey{}).(*watch)
	return w
}

// watchContext carries w into a subgraph's run.
func watchContext(w *watch) context.Context {
	if w == nil {
		return context.Background()
	}
	return context.WithValue(context.Background(), watchKey{}, w)
}

// watchedSlot is a slot of a graph that holds one of the watched values.
type watchedSlot struct{ slot, index int }

// watchSlots are the watched values of one graph: those its nodes produce, reported as they are
// produced, and those it receives (formal inputs, enclosing scopes' values, constants — a
// function argument, a body's input), reported when the graph starts running.
type watchSlots struct {
	w      *watch
	bySlot map[int][]int // slot → indexes into w.values
	given  []watchedSlot
}

// slotsIn resolves the watch for g, once per graph.
func (w *watch) slotsIn(g *graph) *watchSlots {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ws, ok := w.slots[g]; ok {
		return ws
	}
	ws := &watchSlots{w: w, bySlot: map[int][]int{}}
	for _, ws2 := range g.watchable(w.values) {
		if g.producer[ws2.slot] >= 0 {
			ws.bySlot[ws2.slot] = append(ws.bySlot[ws2.slot], ws2.index)
		} else {
			ws.given = append(ws.given, ws2)
		}
	}
	w.slots[g] = ws
	return ws
}

// watchable lists g's slots that hold one of values: the graph's own values (when g is the
// value's scope) and the values of every call inlined into g of the function that is its scope.
func (g *graph) watchable(values []ScopedValue) []watchedSlot {
	var out []watchedSlot
	add := func(name string, i int) {
		if slot, ok := g.slotOf[name]; ok {
			out = append(out, watchedSlot{slot, i})
		}
	}
	for i, v := range values {
		if v.Scope == g.scope {
			add(g.via.valueName(v.Name), i)
		}
		for _, in := range g.inlined {
			if in.scope == v.Scope {
				add(in.valueName(v.Name), i)
			}
		}
	}
	return out
}

// start reports the watched values the graph receives rather than produces.
func (ws *watchSlots) start(vals []*tensor.Tensor) {
	for _, s := range ws.given {
		if v := vals[s.slot]; v != nil {
			ws.w.see(s.index, v)
		}
	}
}

// produced reports the watched values among a node's outputs.
func (ws *watchSlots) produced(n *node, outs []*tensor.Tensor) {
	for j, s := range n.outputs {
		if s < 0 || j >= len(outs) || outs[j] == nil {
			continue
		}
		for _, i := range ws.bySlot[s] {
			ws.w.see(i, outs[j])
		}
	}
}
