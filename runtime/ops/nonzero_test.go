package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestNonZeroCompressUnique(t *testing.T) {
	t.Parallel()
	mvCheck(t, "nonzero", "NonZero", 13, nil, mvI64([]int{2, 3}, 0, 1, 1, 1, 0, 2),
		mvF32([]int{2, 3}, 0, 3, 0, -1, 0, 2))
	h := tensor.New([]int{2}, []tensor.Float16Bits{0x8000, tensor.Float16FromFloat32(1)})
	mvCheck(t, "nonzero float16 negative zero", "NonZero", 13, nil, mvI64([]int{1, 1}, 1), h)

	x := mvIota(2, 3)
	cond := tensor.New([]int{2}, []bool{false, true})
	mvCheck(t, "compress axis 1 short condition", "Compress", 11, mvAttrs{"axis": 1}, mvF32([]int{2, 1}, 1, 4), x, cond)
	mvCheck(t, "compress flattened", "Compress", 11, nil, mvF32([]int{1}, 1), x, cond)

	outs, err := mvRun("Unique", 11, nil, 4, mvF32([]int{6}, 2, 1, 1, 3, 4, 3))
	if err != nil {
		t.Fatal(err)
	}
	mvSame(t, "unique values", outs[0], mvF32([]int{4}, 1, 2, 3, 4))
	mvSame(t, "unique indices", outs[1], mvI64([]int{4}, 1, 0, 3, 4))
	mvSame(t, "unique inverse", outs[2], mvI64([]int{6}, 1, 0, 0, 2, 3, 2))
	mvSame(t, "unique counts", outs[3], mvI64([]int{4}, 2, 1, 2, 1))

	outs, err = mvRun("Unique", 11, mvAttrs{"sorted": 0, "axis": 0}, 4, mvF32([]int{3, 2}, 5, 1, 0, 2, 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	mvSame(t, "unique rows first-seen", outs[0], mvF32([]int{2, 2}, 5, 1, 0, 2))
	mvSame(t, "unique rows inverse", outs[2], mvI64([]int{3}, 0, 1, 0))
}
