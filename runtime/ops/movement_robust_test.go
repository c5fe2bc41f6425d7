package ops

import (
	"math/rand"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// TestMovementKernelsNeverPanic feeds every shape and data-movement kernel random combinations
// of valid, malformed and extreme inputs (wrong types, ranks, out-of-range indices, huge
// dimensions, missing inputs). Errors are expected; panics and runaway allocations are not.
func TestMovementKernelsNeverPanic(t *testing.T) {
	t.Parallel()
	pool := []*tensor.Tensor{
		mvIota(2, 3), mvI64([]int{2}, 5, -7), tensor.Scalar(int64(100)), tensor.Zeros(tensor.Float32, []int{0, 3}),
		tensor.New([]int{2}, []bool{true, false}), tensor.Scalar(float32(2)), mvI64([]int{2, 2}, 0, 1, 1, 9),
		nil, mvI64([]int{1}, -1), mvI64([]int{4}, 1, 1, 1, 1), mvIota(1, 4, 2, 2), tensor.Scalar(int64(-1)),
		mvI64([]int{0}), mvF32([]int{4}, 1, 1, 2, 2), tensor.New([]int{2}, []string{"a", "b"}),
		tensor.New([]int{2}, []int32{1, -2}), mvI64([]int{1}, 1<<40), mvI64([]int{3}, 2, 0, 3), mvIota(2, 2, 2),
		tensor.New([]int{2}, []tensor.Float16Bits{1, 2}), mvI64([]int{2}, -1<<62, 1<<62), mvF32([]int{2}, -1e30, 1e30),
		mvF32([]int{}, 1e-30), mvI64([]int{3, 1}, 0, 1, 2), mvIota(3, 1), mvI64([]int{2, 1}, 0, 3), mvIota(2, 2, 3),
	}
	ops := []struct {
		op      string
		version int
		nIn     int
		attrs   []mvAttrs
	}{
		{"Shape", 15, 1, []mvAttrs{nil, {"start": -9, "end": 9}}},
		{"Reshape", 14, 2, []mvAttrs{nil, {"allowzero": 1}}},
		{"Flatten", 13, 1, []mvAttrs{nil, {"axis": 7}, {"axis": -7}}},
		{"Squeeze", 13, 2, []mvAttrs{nil}},
		{"Unsqueeze", 13, 2, []mvAttrs{nil}},
		{"Transpose", 13, 1, []mvAttrs{nil, {"perm": []int64{1, 0}}, {"perm": []int64{5, 0}}}},
		{"Concat", 13, 3, []mvAttrs{{"axis": 0}, {"axis": 5}}},
		{"Split", 18, 2, []mvAttrs{nil, {"num_outputs": 2}, {"axis": 9}}},
		{"Slice", 13, 5, []mvAttrs{nil}},
		{"Gather", 13, 2, []mvAttrs{nil, {"axis": 1}, {"axis": -5}}},
		{"GatherElements", 13, 2, []mvAttrs{nil, {"axis": 1}}},
		{"GatherND", 13, 2, []mvAttrs{nil, {"batch_dims": 1}, {"batch_dims": 3}}},
		{"ScatterElements", 18, 3, []mvAttrs{nil, {"reduction": "add"}}},
		{"ScatterND", 18, 3, []mvAttrs{nil, {"reduction": "max"}}},
		{"TensorScatter", 24, 3, []mvAttrs{nil, {"mode": "circular"}}},
		{"Expand", 13, 2, []mvAttrs{nil}},
		{"Tile", 13, 2, []mvAttrs{nil}},
		{"Pad", 19, 4, []mvAttrs{nil, {"mode": "reflect"}, {"mode": "wrap"}, {"mode": "edge"}}},
		{"Range", 11, 3, []mvAttrs{nil}},
		{"ConstantOfShape", 9, 1, []mvAttrs{nil}},
		{"EyeLike", 9, 1, []mvAttrs{nil, {"k": 100}}},
		{"OneHot", 11, 3, []mvAttrs{nil, {"axis": 3}}},
		{"DepthToSpace", 13, 1, []mvAttrs{{"blocksize": 2}}},
		{"SpaceToDepth", 13, 1, []mvAttrs{{"blocksize": 2}}},
		{"Trilu", 14, 2, []mvAttrs{nil, {"upper": 0}}},
		{"Resize", 19, 4, []mvAttrs{nil, {"mode": "linear"}, {"mode": "cubic", "antialias": 1}, {"coordinate_transformation_mode": "tf_crop_and_resize"}, {"axes": []int64{0}}}},
		{"Upsample", 9, 2, []mvAttrs{nil}},
		{"Einsum", 12, 2, []mvAttrs{{"equation": "ij,jk->ik"}, {"equation": "...i,...i"}, {"equation": "ii"}}},
		{"Identity", 13, 1, []mvAttrs{nil}},
		{"Dropout", 13, 3, []mvAttrs{nil}},
		{"NonZero", 13, 1, []mvAttrs{nil}},
		{"Compress", 11, 2, []mvAttrs{nil, {"axis": 1}}},
		{"Unique", 11, 1, []mvAttrs{nil, {"axis": 1}}},
		{"ReverseSequence", 10, 2, []mvAttrs{nil}},
		{"CenterCropPad", 18, 2, []mvAttrs{nil}},
		{"GridSample", 20, 2, []mvAttrs{nil, {"mode": "cubic", "padding_mode": "reflection"}}},
		{"AffineGrid", 20, 2, []mvAttrs{nil}},
		{"Col2Im", 18, 3, []mvAttrs{nil}},
	}
	rng := rand.New(rand.NewSource(1))
	ok, total := 0, 0
	defer func() { t.Logf("%d of %d runs succeeded", ok, total) }()
	for _, o := range ops {
		for _, attrs := range o.attrs {
			for range 1000 {
				in := make([]*tensor.Tensor, o.nIn)
				for i := range in {
					in[i] = pool[rng.Intn(len(pool))]
				}
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("%s %v inputs %v: panic %v", o.op, attrs, in, r)
						}
					}()
					if _, err := mvRun(o.op, o.version, attrs, 2, in...); err == nil {
						ok++
					}
					total++
				}()
			}
		}
	}
}
