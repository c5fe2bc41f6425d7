package gemm

import (
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/testutil"
	"math/rand/v2"
	"sync"
	"testing"
)

func benchSgemm(b *testing.B, m, n, k, threads int) { benchSgemmOn(b, simd.Host(), m, n, k, threads) }

// benchSgemmOn is benchSgemm with the kernels of level x.
func benchSgemmOn(b *testing.B, x simd.Level, m, n, k, threads int) {
	r := rand.New(rand.NewPCG(1, 2))
	av, bv, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	peak := sharedPeak().GFLOPs
	b.ResetTimer()
	start := testutil.ProcessCPU()
	for b.Loop() {
		if err := sgemmOn(x, false, false, m, n, k, 1, av, k, bv, n, 0, c, n, threads); err != nil {
			b.Fatal(err)
		}
	}
	flops := 2 * float64(m*n*k)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	testutil.ReportCPU(b, start, flops)
	// CPU time per core against the FMA loop's CPU-time peak: other tenants of a shared machine
	// slow the wall clock, not the CPU time a run consumes.
	if cpu := testutil.ProcessCPU() - start; peak > 0 && cpu > 0 && threads == 1 {
		b.ReportMetric(100*flops*float64(b.N)/cpu.Seconds()/1e9/peak, "%FMA-peak")
	}
}

// sharedPeak is measured once per test binary: every benchmark's share is of the same peak.
var sharedPeak = sync.OnceValue(MeasurePeak)

// BenchmarkSgemm512 is the headline single-thread number; compare it with BenchmarkFMAPeak.
func BenchmarkSgemm512(b *testing.B)         { benchSgemm(b, 512, 512, 512, 1) }
func BenchmarkSgemm512Threads2(b *testing.B) { benchSgemm(b, 512, 512, 512, 2) }

// BenchmarkSgemmConv3x3 is the shape of a ResNet-18 stage-1 3×3 convolution as im2col GEMM.
func BenchmarkSgemmConv3x3(b *testing.B) { benchSgemm(b, 64, 3136, 576, 1) }

func BenchmarkSgemmGo512(b *testing.B) {
	benchSgemmOn(b, simd.Go, 512, 512, 512, 1)
}
