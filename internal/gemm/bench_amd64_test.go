package gemm

import (
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// BenchmarkFMAPeak measures one core's float32 FMA peak: 12 independent 8-wide FMA chains.
func BenchmarkFMAPeak(b *testing.B) {
	if !useAsm {
		b.Skip("no AVX2/FMA")
	}
	const iters = 1 << 20
	start := testutil.ProcessCPU()
	for b.Loop() {
		fmaPeak(iters)
	}
	testutil.ReportCPU(b, start, 192*iters)
}
