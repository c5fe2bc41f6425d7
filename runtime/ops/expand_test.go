package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestExpandTile(t *testing.T) {
	t.Parallel()
	x := mvF32([]int{2, 1}, 1, 2)
	mvCheck(t, "expand", "Expand", 13, nil, mvF32([]int{2, 3}, 1, 1, 1, 2, 2, 2), x, mvI64([]int{2}, 1, 3))
	mvCheck(t, "expand adds rank", "Expand", 13, nil, mvF32([]int{2, 2, 2}, 1, 1, 2, 2, 1, 1, 2, 2), x, mvI64([]int{3}, 2, 1, 2))
	mvCheck(t, "expand smaller shape", "Expand", 13, nil, x, x, mvI64([]int{1}, 1))
	if _, err := mvRun("Expand", 13, nil, 1, x, mvI64([]int{2}, 3, 3)); err == nil {
		t.Errorf("incompatible expand: want an error")
	}
	y := mvF32([]int{2, 2}, 1, 2, 3, 4)
	mvCheck(t, "tile", "Tile", 13, nil, mvF32([]int{4, 4}, 1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4), y, mvI64([]int{2}, 2, 2))
	mvCheck(t, "tile one axis", "Tile", 13, nil, mvF32([]int{2, 6}, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4), y, mvI64([]int{2}, 1, 3))
	mvCheck(t, "tile zero", "Tile", 13, nil, tensor.Zeros(tensor.Float32, []int{0, 2}), y, mvI64([]int{2}, 0, 1))
}
