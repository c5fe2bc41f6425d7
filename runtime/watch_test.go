package runtime

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// RunWatching reports a value of the main graph once, a value of a Loop body once per iteration,
// and a value of a model-local function once per call (the function's formal input included),
// each equal to what the model computes there; and refuses a value the model does not have.
func TestRunWatchingScopes(t *testing.T) {
	b := graphtest.NestedGELUs(1)
	m := b.Model()
	loopScope := onnx.SubgraphScope("", "Loop", graphtest.NestedLoopNode, "body", -1)
	fnScope := onnx.FunctionScope(m.GetFunctions()[0])
	var loopNode, call1 *onnx.NodeProto
	for _, n := range m.GetGraph().GetNode() {
		switch {
		case n.GetOpType() == "Loop":
			loopNode = n
		case n.GetOpType() == graphtest.NestedFunctionName && call1 == nil:
			call1 = n
		}
	}
	body := loopNode.GetAttribute()[0].GetG()
	values := []ScopedValue{
		{"", m.GetGraph().GetNode()[0].GetOutput()[0]}, // the ReLU's output
		{loopScope, "h_in"},                            // a body input: given, per iteration
		{loopScope, body.GetOutput()[1].GetName()},     // produced in the body, per iteration
		{fnScope, "x"},                                 // a function's formal input, per call
		{fnScope, m.GetFunctions()[0].GetOutput()[0]},  // a function's output, per call
	}
	for _, opts := range [][]Option{nil, {WithFunctionBodies()}, {WithThreads(1)}} {
		s, err := NewSession(m, opts...)
		if err != nil {
			t.Fatal(err)
		}
		x := graphtest.NestedInput(graphtest.Seeded(4), 5)
		feeds := map[string]*tensor.Tensor{"x": x}
		seen := make([][]*tensor.Tensor, len(values))
		if err := s.RunWatching(context.Background(), feeds, values, func(i int, t *tensor.Tensor) {
			seen[i] = append(seen[i], t.Clone())
		}); err != nil {
			t.Fatal(err)
		}
		counts := []int{}
		for _, v := range seen {
			counts = append(counts, len(v))
		}
		if want := []int{1, 3, 3, 2, 2}; !slices.Equal(counts, want) {
			t.Fatalf("%v: seen %v times, want %v", opts, counts, want)
		}
		// The values chain: each iteration's input is the previous one's output, the first call's
		// input is the loop's result and the second call's input is the first call's output.
		ref, err := s.Run(feeds, loopNode.GetOutput()[0], call1.GetOutput()[0], m.GetGraph().GetOutput()[0].GetName())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			what      string
			got, want *tensor.Tensor
		}{
			{"iteration 2's input", seen[1][1], seen[2][0]},
			{"iteration 3's input", seen[1][2], seen[2][1]},
			{"the first call's input", seen[3][0], ref[loopNode.GetOutput()[0]]},
			{"the first call's output", seen[4][0], ref[call1.GetOutput()[0]]},
			{"the second call's input", seen[3][1], ref[call1.GetOutput()[0]]},
			{"the second call's output", seen[4][1], ref[m.GetGraph().GetOutput()[0].GetName()]},
		} {
			if err := tensor.AllClose(c.got, c.want, 0, 0); err != nil {
				t.Errorf("%v: %s: %v", opts, c.what, err)
			}
		}
	}

	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	err = s.RunWatching(context.Background(), map[string]*tensor.Tensor{"x": graphtest.NestedInput(graphtest.Seeded(4), 2)},
		[]ScopedValue{{loopScope, "no_such_value"}}, func(int, *tensor.Tensor) {})
	if err == nil || !strings.Contains(err.Error(), "no_such_value") {
		t.Errorf("watching a value the model lacks: %v, want an error naming it", err)
	}
}
