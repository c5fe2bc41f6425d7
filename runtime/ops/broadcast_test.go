package ops

import (
	"slices"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestBroadcastShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   [][]int
		want []int
		err  bool
	}{
		{[][]int{{2, 3}, {3}}, []int{2, 3}, false},
		{[][]int{{2, 1, 4}, {3, 1}}, []int{2, 3, 4}, false},
		{[][]int{{}, {5}}, []int{5}, false},
		{[][]int{{0, 3}, {1, 3}}, []int{0, 3}, false},
		{[][]int{{2, 3}, {4}}, nil, true},
		{[][]int{{1}, {2, 1}, {1, 7}}, []int{2, 7}, false},
	}
	for _, c := range cases {
		got, err := broadcastShapes(c.in...)
		if (err != nil) != c.err {
			t.Errorf("%v: err %v", c.in, err)
			continue
		}
		if !c.err && !tensor.SameShape(got, c.want) {
			t.Errorf("%v: got %v want %v", c.in, got, c.want)
		}
	}
}

// TestBroadcastPlanIndices checks the merged-row walk against per-element index arithmetic.
func TestBroadcastPlanIndices(t *testing.T) {
	t.Parallel()
	cases := [][][]int{
		{{2, 3, 4}, {2, 3, 4}},
		{{2, 3, 4}, {4}},
		{{2, 3, 4}, {3, 1}},
		{{2, 1, 4}, {1, 3, 1}},
		{{1, 1}, {}},
		{{5, 1, 3, 1}, {1, 4, 1, 2}, {3, 2}},
		{{0, 3}, {3}},
	}
	for _, shapes := range cases {
		p, err := newBroadcastPlan(shapes...)
		if err != nil {
			t.Fatal(err)
		}
		got := p.Indices()
		outStrides := tensor.Strides(p.Out)
		for k, s := range shapes {
			st := broadcastStrides(s, p.Out)
			for o := 0; o < p.N; o++ {
				want, rem := 0, o
				for d := range p.Out {
					want += (rem / outStrides[d]) * st[d]
					rem %= outStrides[d]
				}
				if got[k][o] != want {
					t.Fatalf("%v input %d element %d: index %d, want %d", shapes, k, o, got[k][o], want)
				}
			}
		}
	}
}

// TestBroadcastPlanCache checks that a remembered plan is only reused for the very shapes it was
// made for: the same dims split differently between the inputs, or a third input, make another.
func TestBroadcastPlanCache(t *testing.T) {
	t.Parallel()
	cases := [][][]int{
		{{2, 3}, {1}}, {{2}, {3, 1}}, {{2, 3, 1}, {}}, {{2, 3}, {1}, {3}}, {{6}, {6}}, {{1, 6}, {6}},
	}
	for round := range 2 { // the second round is served from the cache
		for _, shapes := range cases {
			var p *broadcastPlan
			var err error
			if len(shapes) == 3 {
				p, err = broadcastPlanOf3(shapes[0], shapes[1], shapes[2])
			} else {
				p, err = broadcastPlanOf(shapes[0], shapes[1])
			}
			if err != nil {
				t.Fatalf("round %d, %v: %v", round, shapes, err)
			}
			want, err := newBroadcastPlan(shapes...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Out, want.Out) || !slices.Equal(p.dims, want.dims) ||
				!slices.Equal(p.InnerStride, want.InnerStride) || len(p.steps) != len(want.steps) {
				t.Fatalf("round %d, %v: cached plan out %v dims %v, want out %v dims %v",
					round, shapes, p.Out, p.dims, want.Out, want.dims)
			}
		}
	}
	if _, err := broadcastPlanOf([]int{2, 3}, []int{4}); err == nil {
		t.Error("[2,3] with [4]: no error")
	}
}
