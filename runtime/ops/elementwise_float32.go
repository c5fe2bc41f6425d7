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

// BiasedElementwiseFloat32 is implemented by activation kernels whose in-place float32 transform
// also has a form that first adds a bias to every value, in the same pass: a Conv adds its
// per-channel bias and applies the fused activation in one pass over each output row
// (gemm.Epilogue.BiasedElementwise) instead of two.
type BiasedElementwiseFloat32 interface {
	// BiasedElementwiseFloat32 returns f with f(dst, b) giving exactly the bits of adding b to
	// each value (in float32) and then applying ElementwiseFloat32's transform, or nil.
	BiasedElementwiseFloat32() func(dst []float32, bias float32)
}

// ChannelsLastFloat32 is implemented by activation kernels with per-channel parameters (the
// ai.actswap ops) that can transform, in place, a run of consecutive channels of a tensor whose
// channel axis is the last one. The fusion pass uses it to apply such an activation in the
// epilogue of a MatMul whose columns are the channels (a transformer's Linear layer feeding it).
type ChannelsLastFloat32 interface {
	// ChannelsLastFloat32 returns C, the transform (dst[i] is channel ch0+i) and the rank the
	// input must have for the channel axis to be its last: 0 when any rank will do (axis −1),
	// axis+1 for a non-negative axis. f is nil when the kernel cannot offer one (parameters not
	// known at session creation, or an axis that is never the last). f is called concurrently on
	// disjoint pieces and must not keep them.
	ChannelsLastFloat32() (channels, rank int, f func(dst []float32, ch0 int))
}
