package ops

import (
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/tensor"
)

// BenchmarkMatMulDigitsAttention is digits_vit's attention products at its batch of 16: 4 heads
// of 17 tokens × 16 dims, Q·Kᵀ (B transposed, fused) and P·V.
func BenchmarkMatMulDigitsAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		k    Kernel
		a, b *tensor.Tensor
	}{
		{"QKt", NewMatMulTransposedB(), randTensor(r, 16, 4, 17, 16), randTensor(r, 16, 4, 17, 16)},
		{"PV", &matMulKernel{}, randTensor(r, 16, 4, 17, 17), randTensor(r, 16, 4, 17, 16)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := &Context{Threads: 1, Allocator: reusedOutput{}}
			start := testutil.ProcessCPU()
			for b.Loop() {
				if _, err := tc.k.Run(ctx, []*tensor.Tensor{tc.a, tc.b}); err != nil {
					b.Fatal(err)
				}
			}
			testutil.ReportCPU(b, start, 2*64*17*17*16)
		})
	}
}
