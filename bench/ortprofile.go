package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
)

// ORTProfile is where onnxruntime's time went over some runs, per node as its session profiler
// names them: a node's own name, or for the nodes its NCHWc layout pass made, the name of the
// output they produce with "_nchwc" appended.
type ORTProfile struct {
	Runs  int                `json:"runs"`
	Nodes []runtime.NodeTime `json:"nodes"`
}

// ortEvent is one entry of the Chrome trace onnxruntime's profiler writes.
type ortEvent struct {
	Cat  string  `json:"cat"`
	Name string  `json:"name"`
	Ts   float64 `json:"ts"`  // µs from the session's start
	Dur  float64 `json:"dur"` // µs
	Args struct {
		OpName string `json:"op_name"`
	} `json:"args"`
}

// kernelSuffix ends the name of the event that times one node's kernel; the profiler adds
// "_fence_before" and "_fence_after" events beside it, which are not kernel time.
const kernelSuffix = "_kernel_time"

// ParseORTProfile reads the trace onnxruntime's profiler writes (SessionOptions
// EnableProfiling; SessionEndProfiling names the file) and sums each node's kernel time over the
// runs after the first skip, which are warm-up.
func ParseORTProfile(r io.Reader, skip int) (ORTProfile, error) {
	var events []ortEvent
	if err := json.NewDecoder(r).Decode(&events); err != nil {
		return ORTProfile{}, fmt.Errorf("onnxruntime profile: %w", err)
	}
	var runStarts []float64
	for _, e := range events {
		if e.Cat == "Session" && e.Name == "model_run" {
			runStarts = append(runStarts, e.Ts)
		}
	}
	slices.Sort(runStarts)
	if len(runStarts) <= skip {
		return ORTProfile{}, fmt.Errorf("onnxruntime profile: %d runs recorded, %d of them warm-up", len(runStarts), skip)
	}
	from := runStarts[skip]
	nodes := map[string]*runtime.NodeTime{}
	var order []string
	for _, e := range events {
		name, ok := strings.CutSuffix(e.Name, kernelSuffix)
		if e.Cat != "Node" || !ok || e.Ts < from {
			continue
		}
		t := nodes[name]
		if t == nil {
			t = &runtime.NodeTime{Node: name, OpType: e.Args.OpName}
			nodes[name] = t
			order = append(order, name)
		}
		t.Calls++
		t.Total += time.Duration(e.Dur * float64(time.Microsecond))
	}
	p := ORTProfile{Runs: len(runStarts) - skip}
	for _, name := range order {
		p.Nodes = append(p.Nodes, *nodes[name])
	}
	slices.SortStableFunc(p.Nodes, func(a, b runtime.NodeTime) int { return cmp.Compare(b.Total, a.Total) })
	return p, nil
}

// FusionRoots returns, for graph g, a function from a node name either profiler reports to the
// original node that begins the fusion it belongs to: onnxruntime names a Conv fused with its
// Relu after the Relu's output ("/1/Relu_output_0_nchwc"), actswap after the Conv, and both
// must land on the Conv. A name is first taken as a node's, else (without "_nchwc") as an
// output's, whose producer it becomes; then, while the node is an activation whose only
// computed input comes from a node that feeds nothing else, it steps back to that node. A name
// neither is is returned as it is.
func FusionRoots(g *onnx.GraphProto) func(string) string {
	byName := map[string]*onnx.NodeProto{}
	producer := map[string]*onnx.NodeProto{}
	consumers := map[string]int{}
	for _, n := range g.GetNode() {
		byName[n.GetName()] = n
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
		for _, in := range n.GetInput() {
			consumers[in]++
		}
	}
	return func(name string) string {
		n := byName[name]
		if n == nil {
			n = producer[strings.TrimSuffix(name, "_nchwc")]
		}
		if n == nil {
			return name
		}
		for steps := 0; fusedActivations[n.GetOpType()] && steps < len(byName); steps++ {
			var from *onnx.NodeProto
			computed := 0
			for _, in := range n.GetInput() {
				if p := producer[in]; p != nil {
					from, computed = p, computed+1
				}
			}
			if computed != 1 || len(from.GetOutput()) != 1 || consumers[from.GetOutput()[0]] != 1 {
				break
			}
			n = from
		}
		return n.GetName()
	}
}

// fusedActivations are the operators both runtimes fold into the node before them.
var fusedActivations = map[string]bool{
	"Relu": true, "Clip": true, "HardSwish": true, "HardSigmoid": true, "Sigmoid": true, "Tanh": true,
	"LeakyRelu": true, "Elu": true, "BatchNormalization": true,
}

// ModuleOf names the module a node belongs to, as PyTorch's exporter names nodes
// ("/layer1/layer1.0/conv1/Conv"): the first depth segments of its path without the last one,
// the operator ("/layer1/layer1.0"). Both runtimes fuse and rename nodes differently — actswap
// counts a fused Conv+Relu under the Conv, onnxruntime under the Relu's output — so the
// module, not the node, is where their profiles meet. A name without a path (onnxruntime's
// layout reorders, "ReorderInput") is its own module.
func ModuleOf(node string, depth int) string {
	node = strings.TrimSuffix(node, "_nchwc")
	i := strings.LastIndexByte(node, '/')
	if i <= 0 {
		return node
	}
	segs := strings.Split(node[1:i], "/")
	return "/" + strings.Join(segs[:min(depth, len(segs))], "/")
}

// ModuleTime is one module's kernel time per run on each side.
type ModuleTime struct {
	Module      string        `json:"module"`
	Actswap     time.Duration `json:"actswap_ns"`
	Onnxruntime time.Duration `json:"onnxruntime_ns"`
}

// JoinByModule sums both sides' node times per module — ModuleOf(root(node), depth), root as
// from FusionRoots — and divides them by each side's run count: per-run times, the modules in
// the order of their combined time.
func JoinByModule(ours []runtime.NodeTime, ourRuns int, theirs ORTProfile, root func(string) string, depth int) []ModuleTime {
	byModule := map[string]*ModuleTime{}
	add := func(ts []runtime.NodeTime, runs int, side func(*ModuleTime) *time.Duration) {
		for _, t := range ts {
			key := ModuleOf(root(t.Node), depth)
			m := byModule[key]
			if m == nil {
				m = &ModuleTime{Module: key}
				byModule[key] = m
			}
			*side(m) += t.Total / time.Duration(max(runs, 1))
		}
	}
	add(ours, ourRuns, func(m *ModuleTime) *time.Duration { return &m.Actswap })
	add(theirs.Nodes, theirs.Runs, func(m *ModuleTime) *time.Duration { return &m.Onnxruntime })
	out := make([]ModuleTime, 0, len(byModule))
	for _, m := range byModule {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b ModuleTime) int {
		return cmp.Or(cmp.Compare(b.Actswap+b.Onnxruntime, a.Actswap+a.Onnxruntime), cmp.Compare(a.Module, b.Module))
	})
	return out
}
