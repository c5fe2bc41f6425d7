package ops

import "testing"

// BenchmarkSoftmaxDigitsAttention is digits_vit's attention softmax at its batch of 16: rows of
// 17 scores, 16 × 4 × 17 of them.
func BenchmarkSoftmaxDigitsAttention(b *testing.B) {
	x := benchInput([]int{16, 4, 17, 17})
	benchKernel(b, "Softmax", 13, nil, 2*4*x.Len(), x)
}
