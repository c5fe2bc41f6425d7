package ops

import (
	"sync/atomic"

	"github.com/actswap/actswap/internal/vecmath"
)

// ElementwiseFloat32 is implemented by elementwise activation kernels (the ai.actswap ops) that
// can transform float32 values in place. The runtime's fusion pass uses it to apply such an
// activation in the epilogue of the Conv, Gemm or MatMul that feeds it (see ActivationFuser).
type ElementwiseFloat32 interface {
	// ElementwiseFloat32 returns the in-place transform, or nil when the kernel cannot offer one
	// (per-channel or non-constant parameters). The function is called concurrently on disjoint
	// slices and must not keep them.
	ElementwiseFloat32() func(dst []float32)
}

// fastGELU is the exact (erf) GELU over float32 slices registered by a package with a faster
// kernel than the runtime's own (onnxops registers its AVX2 one); nil when none is.
var fastGELU atomic.Pointer[func(dst, src []float32)]

// SetGELUFloat32 registers f as the float32 exact-GELU kernel the runtime's fused Gelu uses. f
// must accept dst == src and be safe for concurrent calls on disjoint slices.
func SetGELUFloat32(f func(dst, src []float32)) { fastGELU.Store(&f) }

// GELUFloat32 returns the registered float32 exact-GELU kernel, or else package vecmath's
// (AVX2 where available, relative error ≤ 6e-7 including the negative tail) — the kernel the
// Gelu op itself runs.
func GELUFloat32() func(dst, src []float32) {
	if f := fastGELU.Load(); f != nil {
		return *f
	}
	return vecmath.GELU
}
