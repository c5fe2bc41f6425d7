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
