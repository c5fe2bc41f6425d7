package gemm

import "testing"

// BenchmarkFMAPeak measures one core's float32 FMA peak: 12 independent 8-wide FMA chains.
func BenchmarkFMAPeak(b *testing.B) {
	if !useAsm {
		b.Skip("no AVX2/FMA")
	}
	const iters = 1 << 20
	start := processCPU()
	for b.Loop() {
		fmaPeak(iters)
	}
	reportCPU(b, start, 192*iters)
}
