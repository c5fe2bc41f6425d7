package ops

import (
	"math"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestSlice(t *testing.T) {
	t.Parallel()
	x := mvIota(3, 4) // rows 0..3, 4..7, 8..11
	i64 := func(v ...int64) *tensor.Tensor { return mvI64([]int{len(v)}, v...) }
	cases := []struct {
		name   string
		inputs []*tensor.Tensor
		want   *tensor.Tensor
	}{
		{"basic", []*tensor.Tensor{x, i64(0, 1), i64(2, 3)}, mvF32([]int{2, 2}, 1, 2, 5, 6)},
		{"axes", []*tensor.Tensor{x, i64(1), i64(3), i64(1)}, mvF32([]int{3, 2}, 1, 2, 5, 6, 9, 10)},
		{"negative axes and starts", []*tensor.Tensor{x, i64(-2), i64(math.MaxInt64), i64(-1)}, mvF32([]int{3, 2}, 2, 3, 6, 7, 10, 11)},
		{"step 2", []*tensor.Tensor{x, i64(0), i64(4), i64(1), i64(2)}, mvF32([]int{3, 2}, 0, 2, 4, 6, 8, 10)},
		{"reverse", []*tensor.Tensor{x, i64(-1), i64(math.MinInt64), i64(0), i64(-1)}, mvF32([]int{3, 4}, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3)},
		{"reverse step -2", []*tensor.Tensor{x, i64(10), i64(-10), i64(1), i64(-2)}, mvF32([]int{3, 2}, 3, 1, 7, 5, 11, 9)},
		{"empty", []*tensor.Tensor{x, i64(2), i64(1), i64(0)}, tensor.Zeros(tensor.Float32, []int{0, 4})},
		{"clamped start", []*tensor.Tensor{x, i64(-100), i64(1), i64(0)}, mvF32([]int{1, 4}, 0, 1, 2, 3)},
		{"huge step", []*tensor.Tensor{x, i64(1), i64(4), i64(1), i64(math.MaxInt64)}, mvF32([]int{3, 1}, 1, 5, 9)},
		{"int32 indices", []*tensor.Tensor{x, tensor.New([]int{1}, []int32{1}), tensor.New([]int{1}, []int32{2})}, mvF32([]int{1, 4}, 4, 5, 6, 7)},
	}
	for _, c := range cases {
		mvCheck(t, c.name, "Slice", 13, nil, c.want, c.inputs...)
	}
	mvCheck(t, "opset 1 attributes", "Slice", 1, mvAttrs{"starts": []int64{1}, "ends": []int64{100}, "axes": []int64{1}},
		mvF32([]int{3, 3}, 1, 2, 3, 5, 6, 7, 9, 10, 11), x)
	if _, err := mvRun("Slice", 13, nil, 1, x, i64(0), i64(1), i64(0), i64(0)); err == nil {
		t.Errorf("step 0: want an error")
	}
}
