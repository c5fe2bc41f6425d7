package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestPad(t *testing.T) {
	t.Parallel()
	x := mvF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	pads := func(v ...int64) *tensor.Tensor { return mvI64([]int{len(v)}, v...) }
	cases := []struct {
		name    string
		version int
		attrs   mvAttrs
		inputs  []*tensor.Tensor
		want    *tensor.Tensor
	}{
		{"constant value", 13, nil, []*tensor.Tensor{x, pads(0, 1, 1, 0), mvF32([]int{}, 9)},
			mvF32([]int{3, 4}, 9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9)},
		{"constant default zero", 13, nil, []*tensor.Tensor{x, pads(1, 0, 0, 0)},
			mvF32([]int{3, 3}, 0, 0, 0, 1, 2, 3, 4, 5, 6)},
		{"negative crops", 13, nil, []*tensor.Tensor{x, pads(0, -1, 0, 1)},
			mvF32([]int{2, 3}, 2, 3, 0, 5, 6, 0)},
		{"reflect", 13, mvAttrs{"mode": "reflect"}, []*tensor.Tensor{x, pads(0, 2, 0, 2)},
			mvF32([]int{2, 7}, 3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4)},
		{"edge", 13, mvAttrs{"mode": "edge"}, []*tensor.Tensor{x, pads(1, 1, 0, 0)},
			mvF32([]int{3, 4}, 1, 1, 2, 3, 1, 1, 2, 3, 4, 4, 5, 6)},
		{"wrap", 19, mvAttrs{"mode": "wrap"}, []*tensor.Tensor{x, pads(0, 1, 0, 4)},
			mvF32([]int{2, 8}, 3, 1, 2, 3, 1, 2, 3, 1, 6, 4, 5, 6, 4, 5, 6, 4)},
		{"axes input", 18, nil, []*tensor.Tensor{x, pads(1, 0), nil, mvI64([]int{1}, -1)},
			mvF32([]int{2, 4}, 0, 1, 2, 3, 0, 4, 5, 6)},
		{"opset 2 attributes", 2, mvAttrs{"pads": []int64{0, 0, 1, 0}, "value": float32(-1)}, []*tensor.Tensor{x},
			mvF32([]int{3, 3}, 1, 2, 3, 4, 5, 6, -1, -1, -1)},
		{"opset 1 paddings", 1, mvAttrs{"paddings": []int64{0, 1, 0, 0}, "mode": "edge"}, []*tensor.Tensor{x},
			mvF32([]int{2, 4}, 1, 1, 2, 3, 4, 4, 5, 6)},
	}
	for _, c := range cases {
		mvCheck(t, c.name, "Pad", c.version, c.attrs, c.want, c.inputs...)
	}
	mvCheck(t, "int64 constant", "Pad", 13, nil, mvI64([]int{3}, 7, 1, 7), mvI64([]int{1}, 1), pads(1, 1), tensor.Scalar(int64(7)))
	if _, err := mvRun("Pad", 13, nil, 1, x, pads(0, -4, 0, 0)); err == nil {
		t.Errorf("cropping more than the axis: want an error")
	}
	if _, err := mvRun("Pad", 13, nil, 1, x, pads(1, 1)); err == nil {
		t.Errorf("short pads: want an error")
	}
}

func TestPadSourceReflectsRepeatedly(t *testing.T) {
	t.Parallel()
	// Axis [a b c]: reflect without repeating the edge gives … c b a b c b a b c …
	want := map[int]int{-5: 1, -4: 0, -3: 1, -2: 2, -1: 1, 0: 0, 2: 2, 3: 1, 4: 0, 5: 1, 6: 2}
	for i, w := range want {
		if got := padSource(i, 3, padReflect); got != w {
			t.Errorf("reflect(%d) = %d, want %d", i, got, w)
		}
	}
	if got := padSource(-7, 3, padWrap); got != 2 {
		t.Errorf("wrap(-7) = %d, want 2", got)
	}
}
