package gemm

import (
	"math/rand/v2"
	"testing"
)

func benchSgemm(b *testing.B, m, n, k, threads int) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	b.ResetTimer()
	for b.Loop() {
		if err := Sgemm(false, false, m, n, k, 1, x, k, y, n, 0, c, n, threads); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemm512 is the headline single-thread number; compare it with BenchmarkFMAPeak.
func BenchmarkSgemm512(b *testing.B)         { benchSgemm(b, 512, 512, 512, 1) }
func BenchmarkSgemm512Threads2(b *testing.B) { benchSgemm(b, 512, 512, 512, 2) }

// BenchmarkSgemmConv3x3 is the shape of a ResNet-18 stage-1 3×3 convolution as im2col GEMM.
func BenchmarkSgemmConv3x3(b *testing.B) { benchSgemm(b, 64, 3136, 576, 1) }

func BenchmarkSgemmGo512(b *testing.B) {
	saved := useAsm
	useAsm = false
	defer func() { useAsm = saved }()
	benchSgemm(b, 512, 512, 512, 1)
}
