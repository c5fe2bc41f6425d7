//go:build amd64 && !noasm

package gemm

import (
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// BenchmarkFMAPeak measures one core's float32 FMA peak with the probe MeasurePeak uses.
func BenchmarkFMAPeak(b *testing.B) {
	probe, bits, flops := peakProbe()
	if probe == nil {
		b.Skip("no AVX2/FMA")
	}
	const iters = 1 << 20
	start := testutil.ProcessCPU()
	for b.Loop() {
		probe(iters)
	}
	testutil.ReportCPU(b, start, float64(flops*iters))
	b.ReportMetric(float64(bits), "vector-bits")
}
