package runtime

import "golang.org/x/sys/cpu"

var reluHasAVX2 = cpu.X86.HasAVX2

//go:noescape
func reluAVX2(dst []float32)

// reluInPlace is Relu as a GEMM epilogue: max(x, 0) in place, NaN kept.
func reluInPlace(dst []float32) {
	if reluHasAVX2 {
		reluAVX2(dst) // the whole slice, short tails included
		return
	}
	for i := range dst {
		dst[i] = max(dst[i], 0)
	}
}
