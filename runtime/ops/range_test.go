package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestRangeConstantEyeOneHot(t *testing.T) {
	t.Parallel()
	mvCheck(t, "range int64", "Range", 11, nil, mvI64([]int{4}, 10, 7, 4, 1),
		tensor.Scalar(int64(10)), tensor.Scalar(int64(0)), tensor.Scalar(int64(-3)))
	mvCheck(t, "range float", "Range", 11, nil, mvF32([]int{3}, 1, 1.5, 2),
		tensor.Scalar(float32(1)), tensor.Scalar(float32(2.2)), tensor.Scalar(float32(0.5)))
	mvCheck(t, "range empty", "Range", 11, nil, tensor.Zeros(tensor.Int32, []int{0}),
		tensor.Scalar(int32(5)), tensor.Scalar(int32(1)), tensor.Scalar(int32(2)))
	if _, err := mvRun("Range", 11, nil, 1, tensor.Scalar(int64(0)), tensor.Scalar(int64(5)), tensor.Scalar(int64(0))); err == nil {
		t.Errorf("delta 0: want an error")
	}

	mvCheck(t, "constant default", "ConstantOfShape", 9, nil, mvF32([]int{2, 1}, 0, 0), mvI64([]int{2}, 2, 1))
	mvCheck(t, "constant int64", "ConstantOfShape", 9, mvAttrs{"value": mvI64([]int{1}, 3)}, mvI64([]int{3}, 3, 3, 3), mvI64([]int{1}, 3))
	mvCheck(t, "constant scalar", "ConstantOfShape", 9, mvAttrs{"value": mvF32([]int{1}, 2)}, mvF32([]int{}, 2), tensor.Zeros(tensor.Int64, []int{0}))

	in := tensor.Zeros(tensor.Int32, []int{2, 3})
	mvCheck(t, "eye k=1", "EyeLike", 9, mvAttrs{"k": 1}, tensor.New([]int{2, 3}, []int32{0, 1, 0, 0, 0, 1}), in)
	mvCheck(t, "eye dtype", "EyeLike", 9, mvAttrs{"dtype": int(tensor.Float32), "k": -1}, mvF32([]int{2, 3}, 0, 0, 0, 1, 0, 0), in)

	values := mvF32([]int{2}, -1, 5)
	mvCheck(t, "onehot last axis", "OneHot", 11, nil, mvF32([]int{3, 3}, 5, -1, -1, -1, -1, 5, -1, 5, -1),
		mvI64([]int{3}, 0, -1, 1), tensor.Scalar(int64(3)), values)
	mvCheck(t, "onehot axis 0, out of range", "OneHot", 11, mvAttrs{"axis": 0}, mvF32([]int{2, 2}, 5, -1, -1, -1),
		mvF32([]int{2}, 0, 7), tensor.Scalar(float32(2)), values)
}
