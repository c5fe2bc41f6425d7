package ops

// ElementwiseFloat32 is implemented by elementwise activation kernels (the ai.actswap ops, Clip
// with bounds known at session creation) that can transform float32 values in place. The runtime's fusion pass uses it to apply such an
// activation in the epilogue of the Conv, Gemm or MatMul that feeds it (see ActivationFuser).
type ElementwiseFloat32 interface {
	// ElementwiseFloat32 returns the in-place transform, or nil when the kernel cannot offer one
	// (per-channel or non-constant parameters). The function is called concurrently on disjoint
	// slices and must not keep them.
	ElementwiseFloat32() func(dst []float32)
}
