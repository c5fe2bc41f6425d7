package onnxops

// ElementwiseFloat32 implements ops.ElementwiseFloat32 so that the runtime can apply the operator
// in the epilogue of the Conv, Gemm or MatMul that feeds it. Only per-tensor parameters known at
// session creation qualify: per-channel ones need the channel of each element, which an epilogue
// does not see.
func (k *activationKernel) ElementwiseFloat32() func(dst []float32) {
	tab := k.tab
	if tab == nil || tab.channels() != 1 {
		return nil
	}
	return func(dst []float32) { tab.apply(dst, dst, 0, false) }
}
