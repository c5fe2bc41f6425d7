package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestBroadcastShapes(t *testing.T) {
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
