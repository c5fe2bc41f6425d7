package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

// mvBench runs one kernel repeatedly and reports output bytes per second, the limit that matters
// for data movement.
func mvBench(b *testing.B, op string, version int, attrs mvAttrs, inputs ...*tensor.Tensor) {
	f, ok := Lookup(DefaultDomain, op, version)
	if !ok {
		b.Fatalf("%s-%d not registered", op, version)
	}
	k, err := f(mvNode(op, version, attrs, inputs, 1))
	if err != nil {
		b.Fatal(err)
	}
	ctx := NewContext(1)
	outs, err := k.Run(ctx, inputs)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(outs[0].Len() * max(outs[0].DType.Size(), 1)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Run(ctx, inputs); err != nil {
			b.Fatal(err)
		}
	}
}

// Exporter graphs run hundreds of these on shape vectors; they should cost well under a microsecond.
func BenchmarkSmallShape(b *testing.B) {
	x := mvIota(1, 197, 768)
	shape := mvI64([]int{3}, 1, 197, 768)
	b.Run("Shape", func(b *testing.B) { mvBench(b, "Shape", 15, nil, x) })
	b.Run("Gather", func(b *testing.B) { mvBench(b, "Gather", 13, nil, shape, tensor.Scalar(int64(1))) })
	b.Run("Unsqueeze", func(b *testing.B) { mvBench(b, "Unsqueeze", 13, nil, tensor.Scalar(int64(1)), mvI64([]int{1}, 0)) })
	b.Run("Concat", func(b *testing.B) {
		mvBench(b, "Concat", 13, mvAttrs{"axis": 0}, mvI64([]int{1}, 1), mvI64([]int{1}, 197), mvI64([]int{1}, 12), mvI64([]int{1}, 64))
	})
	b.Run("Slice", func(b *testing.B) {
		mvBench(b, "Slice", 13, nil, shape, mvI64([]int{1}, 0), mvI64([]int{1}, 2), mvI64([]int{1}, 0))
	})
	b.Run("Reshape", func(b *testing.B) { mvBench(b, "Reshape", 14, nil, x, mvI64([]int{4}, 1, 197, 12, 64)) })
	b.Run("Transpose0213", func(b *testing.B) {
		mvBench(b, "Transpose", 13, mvAttrs{"perm": []int64{0, 2, 1, 3}}, mvIota(1, 197, 12, 64))
	})
}

// Activation-sized moves from CNNs (64×80×80) and ViTs (197 tokens, 12 heads).
func BenchmarkBigMoves(b *testing.B) {
	img := mvIota(1, 64, 80, 80)
	b.Run("ResizeNearest2x", func(b *testing.B) {
		mvBench(b, "Resize", 13, mvAttrs{"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, img, nil, mvF32([]int{4}, 1, 1, 2, 2))
	})
	b.Run("ResizeLinear2x", func(b *testing.B) {
		mvBench(b, "Resize", 13, mvAttrs{"mode": "linear"}, img, nil, mvF32([]int{4}, 1, 1, 2, 2))
	})
	b.Run("Concat", func(b *testing.B) { mvBench(b, "Concat", 13, mvAttrs{"axis": 1}, img, img) })
	b.Run("Slice", func(b *testing.B) {
		mvBench(b, "Slice", 13, nil, img, mvI64([]int{1}, 1), mvI64([]int{1}, 79), mvI64([]int{1}, 3))
	})
	b.Run("PadConst", func(b *testing.B) { mvBench(b, "Pad", 13, nil, img, mvI64([]int{8}, 0, 0, 1, 1, 0, 0, 1, 1)) })
	b.Run("PadReflect", func(b *testing.B) {
		mvBench(b, "Pad", 13, mvAttrs{"mode": "reflect"}, img, mvI64([]int{8}, 0, 0, 1, 1, 0, 0, 1, 1))
	})
	qkv := mvIota(1, 197, 3, 12, 64)
	b.Run("TransposeQKV", func(b *testing.B) { mvBench(b, "Transpose", 13, mvAttrs{"perm": []int64{2, 0, 3, 1, 4}}, qkv) })
	b.Run("Copy", func(b *testing.B) { mvBench(b, "Identity", 13, nil, img) })
}
