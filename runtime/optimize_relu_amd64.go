package runtime

import "golang.org/x/sys/cpu"

var reluHasAVX2 = cpu.X86.HasAVX2

//go:noescape
func reluAVX2(dst []float32)

// reluInPlace is Relu as a GEMM epilogue: max(x, 0) in place, NaN kept.
func reluInPlace(dst []float32) {
	i := 0
	if reluHasAVX2 && len(dst) >= 8 {
		i = len(dst) &^ 7
		reluAVX2(dst[:i])
	}
	for ; i < len(dst); i++ {
		dst[i] = max(dst[i], 0)
	}
}
