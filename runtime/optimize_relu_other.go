//go:build !amd64

package runtime

// reluInPlace is Relu as a GEMM epilogue: max(x, 0) in place, NaN kept.
func reluInPlace(dst []float32) {
	for i, v := range dst {
		dst[i] = max(v, 0)
	}
}
