package graphtest

import (
	"math/rand/v2"

	"github.com/actswap/actswap/tensor"
)

// RandF32 is a float32 tensor of the shape with values uniform in [-scale, scale).
func RandF32(r *rand.Rand, scale float32, shape ...int) *tensor.Tensor {
	vals := make([]float32, tensor.NumElements(shape))
	for i := range vals {
		vals[i] = (2*r.Float32() - 1) * scale
	}
	return tensor.New(shape, vals)
}

// RandF32s is RandF32's values alone, for initializers.
func RandF32s(r *rand.Rand, scale float32, n int) []float32 {
	return RandF32(r, scale, n).F32()
}

// RandI64 is an int64 tensor of the shape with values uniform in [lo, hi).
func RandI64(r *rand.Rand, lo, hi int64, shape ...int) *tensor.Tensor {
	vals := make([]int64, tensor.NumElements(shape))
	for i := range vals {
		vals[i] = lo + r.Int64N(hi-lo)
	}
	return tensor.New(shape, vals)
}

// Seeded is a deterministic generator for a test.
func Seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }
