package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestRangeConstantEyeOneHot(t *testing.T) {
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

func TestTriluAndDepthSpace(t *testing.T) {
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

func TestIdentityDropout(t *testing.T) {
	x := mvF32([]int{2}, 1, 2)
	mvCheck(t, "identity", "Identity", 13, nil, x, x)
	outs, err := mvRun("Dropout", 13, nil, 2, x, mvF32([]int{}, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	mvSame(t, "dropout output", outs[0], x)
	mvSame(t, "dropout mask", outs[1], tensor.New([]int{2}, []bool{true, true}))
	outs, err = mvRun("Dropout", 7, mvAttrs{"ratio": float32(0.2)}, 2, x)
	if err != nil {
		t.Fatal(err)
	}
	mvSame(t, "dropout-7 mask has the input type", outs[1], mvF32([]int{2}, 1, 1))
	if _, err := mvRun("Dropout", 13, nil, 1, x, mvF32([]int{}, 0.5), tensor.Scalar(true)); err == nil {
		t.Errorf("training with ratio 0.5: want an error")
	}
	if _, err := mvRun("Dropout", 13, nil, 1, x, mvF32([]int{}, 0), tensor.Scalar(true)); err != nil {
		t.Errorf("training with ratio 0 is the identity: %v", err)
	}
}

func TestNonZeroCompressUnique(t *testing.T) {
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

func TestReverseSequence(t *testing.T) {
	// time-major [time=3, batch=2]: batch 0 reverses 3 steps, batch 1 only 2.
	x := mvF32([]int{3, 2}, 0, 10, 1, 11, 2, 12)
	mvCheck(t, "time major", "ReverseSequence", 10, nil, mvF32([]int{3, 2}, 2, 11, 1, 10, 0, 12), x, mvI64([]int{2}, 3, 2))
	y := mvF32([]int{2, 3}, 0, 1, 2, 10, 11, 12)
	mvCheck(t, "batch major", "ReverseSequence", 10, mvAttrs{"batch_axis": 0, "time_axis": 1},
		mvF32([]int{2, 3}, 0, 1, 2, 11, 10, 12), y, mvI64([]int{2}, 1, 2))
}
