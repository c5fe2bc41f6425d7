package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestTriluAndDepthSpace(t *testing.T) {
	t.Parallel()
	x := mvIota(3, 4)
	mvCheck(t, "triu", "Trilu", 14, nil, mvF32([]int{3, 4}, 0, 1, 2, 3, 0, 5, 6, 7, 0, 0, 10, 11), x)
	mvCheck(t, "triu k=2", "Trilu", 14, nil, mvF32([]int{3, 4}, 0, 0, 2, 3, 0, 0, 0, 7, 0, 0, 0, 0), x, tensor.Scalar(int64(2)))
	mvCheck(t, "tril k=-1", "Trilu", 14, mvAttrs{"upper": 0}, mvF32([]int{3, 4}, 0, 0, 0, 0, 4, 0, 0, 0, 8, 9, 0, 0), x, tensor.Scalar(int64(-1)))
	mvCheck(t, "tril k huge", "Trilu", 14, mvAttrs{"upper": 0}, x, x, tensor.Scalar(int64(1<<40)))
	mvCheck(t, "trilu empty", "Trilu", 14, nil, tensor.Zeros(tensor.Float32, []int{2, 0, 3}), tensor.Zeros(tensor.Float32, []int{2, 0, 3}))

	// [1, 4, 1, 2] with blocksize 2: DCR takes channel blocks first, CRD channel-major.
	y := mvIota(1, 4, 1, 2)
	mvCheck(t, "depth to space DCR", "DepthToSpace", 13, mvAttrs{"blocksize": 2}, mvF32([]int{1, 1, 2, 4}, 0, 2, 1, 3, 4, 6, 5, 7), y)
	// With two output channels the modes differ: DCR reads channel b1·4+b2·2+c, CRD c·4+b1·2+b2.
	w := mvIota(1, 8, 1, 1)
	mvCheck(t, "depth to space DCR 2 channels", "DepthToSpace", 13, mvAttrs{"blocksize": 2}, mvF32([]int{1, 2, 2, 2}, 0, 2, 4, 6, 1, 3, 5, 7), w)
	mvCheck(t, "depth to space CRD 2 channels", "DepthToSpace", 13, mvAttrs{"blocksize": 2, "mode": "CRD"}, mvF32([]int{1, 2, 2, 2}, 0, 1, 2, 3, 4, 5, 6, 7), w)
	z := mvIota(1, 1, 2, 4)
	mvCheck(t, "space to depth", "SpaceToDepth", 13, mvAttrs{"blocksize": 2}, mvF32([]int{1, 4, 1, 2}, 0, 2, 1, 3, 4, 6, 5, 7), z)
	if _, err := mvRun("DepthToSpace", 13, mvAttrs{"blocksize": 3}, 1, y); err == nil {
		t.Errorf("channels not divisible: want an error")
	}
}
