package ops

import (
	"fmt"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestConcatSplit(t *testing.T) {
	t.Parallel()
	a := mvF32([]int{2, 2}, 1, 2, 3, 4)
	b := mvF32([]int{2, 1}, 5, 6)
	mvCheck(t, "concat axis 1", "Concat", 13, mvAttrs{"axis": 1}, mvF32([]int{2, 3}, 1, 2, 5, 3, 4, 6), a, b)
	mvCheck(t, "concat axis -2", "Concat", 13, mvAttrs{"axis": -2}, mvF32([]int{4, 2}, 1, 2, 3, 4, 1, 2, 3, 4), a, a)
	mvCheck(t, "concat with empty", "Concat", 13, mvAttrs{"axis": 0}, mvI64([]int{3}, 1, 2, 3),
		mvI64([]int{2}, 1, 2), tensor.Zeros(tensor.Int64, []int{0}), mvI64([]int{1}, 3))
	if _, err := mvRun("Concat", 13, mvAttrs{"axis": 0}, 1, a, b); err == nil {
		t.Errorf("mismatched shapes: want an error")
	}

	x := mvIota(2, 5)
	cases := []struct {
		name    string
		version int
		attrs   mvAttrs
		inputs  []*tensor.Tensor
		want    []*tensor.Tensor
	}{
		{"split input", 13, mvAttrs{"axis": 1}, []*tensor.Tensor{x, mvI64([]int{2}, 2, 3)},
			[]*tensor.Tensor{mvF32([]int{2, 2}, 0, 1, 5, 6), mvF32([]int{2, 3}, 2, 3, 4, 7, 8, 9)}},
		{"split attribute", 11, mvAttrs{"axis": -1, "split": []int64{4, 1}}, []*tensor.Tensor{x},
			[]*tensor.Tensor{mvF32([]int{2, 4}, 0, 1, 2, 3, 5, 6, 7, 8), mvF32([]int{2, 1}, 4, 9)}},
		{"even", 13, nil, []*tensor.Tensor{x},
			[]*tensor.Tensor{mvF32([]int{1, 5}, 0, 1, 2, 3, 4), mvF32([]int{1, 5}, 5, 6, 7, 8, 9)}},
		{"num_outputs uneven", 18, mvAttrs{"axis": 1, "num_outputs": 3}, []*tensor.Tensor{x},
			[]*tensor.Tensor{mvF32([]int{2, 2}, 0, 1, 5, 6), mvF32([]int{2, 2}, 2, 3, 7, 8), mvF32([]int{2, 1}, 4, 9)}},
	}
	for _, c := range cases {
		outs, err := mvRun("Split", c.version, c.attrs, len(c.want), c.inputs...)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for i, w := range c.want {
			mvSame(t, c.name, outs[i], w)
		}
	}
	if _, err := mvRun("Split", 13, mvAttrs{"axis": 1}, 2, x); err == nil {
		t.Errorf("uneven default split: want an error")
	}
}

// TestSplitViewsFollowTheirInput runs one Split kernel on alternating input buffers and ranges:
// the views it keeps boxed from the last run (subViews) must only serve the same buffer and range.
func TestSplitViewsFollowTheirInput(t *testing.T) {
	t.Parallel()
	f, _ := Lookup(DefaultDomain, "Split", 18)
	x1, x2 := mvIota(4, 3), mvF32([]int{4, 3}, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, -1, -2)
	x3 := tensor.New([]int{2, 3}, x1.F32()[:6]) // x1's array, shorter
	k, err := f(mvNode("Split", 18, mvAttrs{"axis": 0, "num_outputs": 2}, []*tensor.Tensor{x1}, 2))
	if err != nil {
		t.Fatal(err)
	}
	for round, x := range []*tensor.Tensor{x1, x2, x1, x3, x1} {
		outs, err := k.Run(NewContext(1), []*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		half := x.Len() / 2
		for i, o := range outs {
			want := x.F32()[i*half : (i+1)*half]
			if fmt.Sprint(o.F32()) != fmt.Sprint(want) {
				t.Fatalf("round %d, output %d: %v, want %v", round, i, o.F32(), want)
			}
		}
	}
}
