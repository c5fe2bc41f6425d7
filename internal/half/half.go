// Package half converts slices of 16-bit floats (IEEE float16 and bfloat16) to and from float32,
// for the kernels that run 16-bit tensors through their float32 loops (internal/actkernel). The
// element conversion is tensor's (Float16Bits.Float32 and tensor.Float16FromFloat32, and their
// bfloat16 twins: exact one way, round to nearest even the other, NaN stays NaN, ±Inf stays ±Inf,
// overflow rounds to ±Inf); this package applies it to whole slices, float16 with
// VCVTPH2PS/VCVTPS2PH, 16 lanes on AVX-512 and 8 with F16C on AVX2 (asm/gen.go →
// convert_amd64.s), with the same bits at every level, NaN payloads included. bfloat16 runs the
// scalar code at every level (a shift each way; nothing here needs it fast).
//
// Throughput, 4096 elements in L1 (BenchmarkConvert, shared 2-core Zen 5, loaded): float16 →
// float32 85 ns on AVX-512, 100 on AVX2, 25 µs in Go; float32 → float16 160 ns, 360 ns, 39 µs.
package half

import (
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/tensor"
)

// Bits is a 16-bit float format.
type Bits interface {
	tensor.Float16Bits | tensor.BFloat16Bits
}

// ToFloat32 sets dst[i] to src[i] as float32 (exact) for every element of src, with the kernels
// of level x; len(dst) ≥ len(src).
func ToFloat32[T Bits](x simd.Level, dst []float32, src []T) {
	dst = dst[:len(src)]
	switch s := any(src).(type) {
	case []tensor.Float16Bits:
		n := toFloat32Asm(x, dst, s)
		for i, h := range s[n:] {
			dst[n+i] = h.Float32()
		}
	case []tensor.BFloat16Bits:
		for i, h := range s {
			dst[i] = h.Float32()
		}
	}
}

// FromFloat32 sets dst[i] to src[i] rounded to T (to nearest even) for every element of src,
// with the kernels of level x; len(dst) ≥ len(src).
func FromFloat32[T Bits](x simd.Level, dst []T, src []float32) {
	dst = dst[:len(src)]
	switch d := any(dst).(type) {
	case []tensor.Float16Bits:
		n := fromFloat32Asm(x, d, src)
		for i, f := range src[n:] {
			d[n+i] = tensor.Float16FromFloat32(f)
		}
	case []tensor.BFloat16Bits:
		for i, f := range src {
			d[i] = tensor.BFloat16FromFloat32(f)
		}
	}
}
