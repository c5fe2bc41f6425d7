package ops

import "testing"

func TestCenterCropPad(t *testing.T) {
	t.Parallel()
	x := mvIota(3, 4)
	mvCheck(t, "crop and pad", "CenterCropPad", 18, nil, mvF32([]int{2, 6}, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 7, 0), x, mvI64([]int{2}, 2, 6))
	mvCheck(t, "axes", "CenterCropPad", 18, mvAttrs{"axes": []int64{-1}}, mvF32([]int{3, 1}, 1, 5, 9), x, mvI64([]int{1}, 1))
}
