package runtime

import (
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// TestViewsDoNotLeak checks the contract of Reshape/Squeeze/Unsqueeze/Flatten returning views:
// a graph output that is a view of the caller's input or of a constant is copied, and a buffer
// stays out of reuse while a view of it is alive (the Relu output below is read again through
// its view after its last direct reader has run, while the run allocates more buffers).
func TestViewsDoNotLeak(t *testing.T) {
	b := graphtest.New("views", 18)
	x := b.Input("x", tensor.Float32, 2, 6)
	c := b.Init("c", tensor.New([]int{12}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}))
	b.Output(b.Op("Reshape", []string{x, b.ConstI64(3, 4)}), tensor.Float32, 3, 4) // view of the input
	b.Output(b.Op("Reshape", []string{c, b.ConstI64(2, 6)}), tensor.Float32, 2, 6) // view of a constant
	r := b.Op("Relu", []string{x})                                                 // run-owned buffer
	v := b.Op("Unsqueeze", []string{b.Op("Flatten", []string{r}), b.ConstI64(0)})  // view of it
	n1 := b.Op("Neg", []string{x})                                                 // allocations while the view lives
	n2 := b.Op("Neg", []string{n1})
	sum := b.Op("Add", []string{b.Op("Reshape", []string{v, b.ConstI64(2, 6)}), n2}) // relu(x) + x
	b.Output(sum, tensor.Float32, 2, 6)
	halves := b.Node("", "Split", []string{x}, 2, graphtest.A("axis", int64(0)), graphtest.A("num_outputs", int64(2)))
	b.Output(halves[1], tensor.Float32, 1, 6) // a view into the input's second row
	m := b.Model()
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	in := tensor.New([]int{2, 6}, []float32{-1, 2, -3, 4, -5, 6, -7, 8, -9, 10, -11, 12})
	for run := 0; run < 3; run++ { // later runs reuse the first run's buffers
		outs, err := s.Run(map[string]*tensor.Tensor{"x": in})
		if err != nil {
			t.Fatal(err)
		}
		names := s.Outputs()
		fromInput, fromConst, got := outs[names[0].Name], outs[names[1].Name], outs[names[2].Name]
		for i, v := range in.F32() {
			if want := max(v, 0) + v; got.F32()[i] != want {
				t.Fatalf("run %d: relu(x)+x [%d] = %g, want %g", run, i, got.F32()[i], want)
			}
		}
		split := outs[names[3].Name]
		if split.F32()[0] != -7 {
			t.Fatalf("run %d: second half of x starts with %g, want -7", run, split.F32()[0])
		}
		fromInput.F32()[0] = 100
		fromConst.F32()[0] = 100
		split.F32()[0] = 100
		if in.F32()[0] != -1 || in.F32()[6] != -7 {
			t.Fatal("an output that reshapes or splits the input shares the caller's buffer")
		}
	}
	outs, err := s.Run(map[string]*tensor.Tensor{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	if v := outs[s.Outputs()[1].Name].F32()[0]; v != 1 {
		t.Fatalf("the constant changed under a returned view: %g", v)
	}
}

// TestOutputsSurviveLaterRuns keeps one run's outputs while the session runs again on inputs of
// another shape (same element count, so every buffer is recycled): the arena reuses its view
// headers and the shapes it gives recycled tensors, so outputs that are views, or recycled
// tensors, must reach the caller with a header and shape of their own. The Split outputs are
// views into a run buffer that Split keeps boxed between runs (subViews).
func TestOutputsSurviveLaterRuns(t *testing.T) {
	b := graphtest.New("outputs_survive", 18)
	x := b.Input("x", tensor.Float32, "a", "b", "c")
	r := b.Op("Relu", []string{x})
	b.Output(b.Op("Flatten", []string{r}), tensor.Float32, nil, nil)                // a view of a run buffer
	chain := b.Op("Abs", []string{b.Op("Neg", []string{b.Op("Neg", []string{x})})}) // Abs recycles the first Neg's buffer
	b.Output(chain, tensor.Float32, "a", "b", "c")
	halves := b.Node("", "Split", []string{b.Op("Neg", []string{r})}, 2, graphtest.A("axis", int64(0)))
	b.Output(halves[0], tensor.Float32, nil, "b", "c")
	b.Output(halves[1], tensor.Float32, nil, "b", "c")
	s, err := NewSession(b.Model(), WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	names := s.Outputs()
	run := func(shape []int, seed float32) map[string]*tensor.Tensor {
		vals := make([]float32, tensor.NumElements(shape))
		for i := range vals {
			vals[i] = seed + float32(i)
		}
		outs, err := s.Run(map[string]*tensor.Tensor{"x": tensor.New(shape, vals)})
		if err != nil {
			t.Fatal(err)
		}
		return outs
	}
	// A snapshot of what the caller was given: shapes and values, deep-copied.
	snapshot := func(outs map[string]*tensor.Tensor) map[string]*tensor.Tensor {
		c := map[string]*tensor.Tensor{}
		for k, v := range outs {
			c[k] = v.Clone()
		}
		return c
	}
	first := run([]int{2, 3, 2}, 1)
	want := snapshot(first)
	if got := first[names[0].Name].Shape; !tensor.SameShape(got, []int{2, 6}) {
		t.Fatalf("Flatten output shape %v, want [2 6]", got)
	}
	if got := first[names[2].Name].F32(); got[0] != -1 || got[5] != -6 {
		t.Fatalf("first Split half %v, want -1…-6", got)
	}
	for i, shape := range [][]int{{4, 3, 1}, {2, 2, 3}, {2, 3, 2}} {
		later := run(shape, float32(100*(i+1)))
		if got := later[names[3].Name].F32()[0]; got != -float32(100*(i+1))-float32(tensor.NumElements(shape)/2) {
			t.Fatalf("run %d: second Split half starts with %g", i+2, got)
		}
		for k, w := range want {
			if err := graphtest.Diff(first[k], w, 0, 0); err != nil || !tensor.SameShape(first[k].Shape, w.Shape) {
				t.Fatalf("after run %d, the first run's output %q changed: shape %v (want %v), %v",
					i+2, k, first[k].Shape, w.Shape, err)
			}
		}
	}
}
