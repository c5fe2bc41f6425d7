package gemm

import (
	"fmt"
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/testutil"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// benchPackedB times C = A·B with B packed ahead, the path of MatMul/Gemm against weights.
func benchPackedB(b *testing.B, m, n, k int) { benchPackedBOn(b, m, n, k, 1) }

// benchPackedBOn is benchPackedB on up to threads goroutines.
func benchPackedBOn(b *testing.B, m, n, k, threads int) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	pb, err := PackB(false, k, n, y, n)
	if err != nil {
		b.Fatal(err)
	}
	start := testutil.ProcessCPU()
	for b.Loop() {
		if err := SgemmPackedB(false, m, 1, x, k, pb, 0, c, n, threads, nil); err != nil {
			b.Fatal(err)
		}
	}
	testutil.ReportCPU(b, start, 2*float64(m*n*k))
}

// ViT-Tiny's Linear layers over 197 tokens (width 192, MLP 768).
func BenchmarkViTQKV(b *testing.B)  { benchPackedB(b, 197, 576, 192) }
func BenchmarkViTProj(b *testing.B) { benchPackedB(b, 197, 192, 192) }
func BenchmarkViTFC1(b *testing.B)  { benchPackedB(b, 197, 768, 192) }
func BenchmarkViTFC2(b *testing.B)  { benchPackedB(b, 197, 192, 768) }

// BenchmarkViTScores is one head's Q·Kᵀ: both operands are activations, B transposed.
func BenchmarkViTScores(b *testing.B) {
	const m, n, k = 197, 197, 64
	r := rand.New(rand.NewPCG(1, 2))
	x, y, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
	start := testutil.ProcessCPU()
	for b.Loop() {
		if err := Sgemm(false, true, m, n, k, 0.125, x, k, y, k, 0, c, n, 1); err != nil {
			b.Fatal(err)
		}
	}
	testutil.ReportCPU(b, start, 2*float64(m*n*k))
}

// BenchmarkKernel6x16 is the micro-kernel alone on L1-resident panels (k = 192).
func BenchmarkKernel6x16(b *testing.B) {
	const k = 192
	r := rand.New(rand.NewPCG(1, 2))
	a, bp, c := randSlice(r, k*mr), randSlice(r, k*nr), make([]float32, mr*nr)
	start := testutil.ProcessCPU()
	for b.Loop() {
		microKernel(simd.Host(), k, a, bp, c, nr, false)
	}
	testutil.ReportCPU(b, start, 2*float64(mr*nr*k))
}

// BenchmarkKernel6x16Indirect is the indirect micro-kernel alone, B rows 3 floats apart in L1.
func BenchmarkKernel6x16Indirect(b *testing.B) {
	const k = 192
	r := rand.New(rand.NewPCG(1, 2))
	a, data, c := randSlice(r, k*mr), randSlice(r, 3*k+nr), make([]float32, mr*nr)
	offs := make([]int, k)
	for p := range offs {
		offs[p] = 3 * p
	}
	start := testutil.ProcessCPU()
	for b.Loop() {
		indirectKernel(simd.Host(), k, a, data, offs, c, nr, false)
	}
	testutil.ReportCPU(b, start, 2*float64(mr*nr*k))
}

// BenchmarkKernel12x32 is the AVX-512 wide tile alone on L1-resident panels (k = 192).
func BenchmarkKernel12x32(b *testing.B) {
	if !simd.Host().Wide() {
		b.Skip("no AVX-512")
	}
	const k = 192
	r := rand.New(rand.NewPCG(1, 2))
	a, bp, c := randSlice(r, 2*k*mr), randSlice(r, 2*k*nr), make([]float32, 4*mr*nr)
	start := testutil.ProcessCPU()
	for b.Loop() {
		wideKernel(simd.Host(), 2*mr, k, a, bp, c, 2*nr, false)
	}
	testutil.ReportCPU(b, start, 2*float64(4*mr*nr*k))
}

// The classifier of MobileNetV2/EfficientNet (1280 → 1000) and ResNet-18 (512 → 1000) on one
// image: a matrix-vector product, bound by streaming the weights.
func BenchmarkClassifier1280(b *testing.B) { benchPackedB(b, 1, 1000, 1280) }
func BenchmarkClassifier512(b *testing.B)  { benchPackedB(b, 1, 1000, 512) }

// The classifiers on two threads: MobileNetV3's 1024→1000 and ResNet-18's 512→1000.
func BenchmarkClassifier1024Threads2(b *testing.B) { benchPackedBOn(b, 1, 1000, 1024, 2) }
func BenchmarkClassifier512Threads2(b *testing.B)  { benchPackedBOn(b, 1, 1000, 512, 2) }

// BenchmarkKernelGather is the 64-wide AVX-512 gather tiles alone, 5, 6 and 7 rows, on cached data
// (k = 512: B in L2).
func BenchmarkKernelGather(b *testing.B) {
	if !simd.Host().Wide() {
		b.Skip("no AVX-512")
	}
	const k = 512
	r := rand.New(rand.NewPCG(1, 2))
	data, bp, c := randSlice(r, 4*k+64), randSlice(r, k*64), make([]float32, 7*64)
	cols := make([]int, k)
	for p := range cols {
		cols[p] = 4 * p
	}
	for _, n := range []int{5, 6, 7} {
		b.Run(fmt.Sprintf("rows%d", n), func(b *testing.B) {
			rows := []int{0, 1, 2, 3, 4, 5, 6}[:n]
			crows := []int{0, 64, 128, 192, 256, 320, 384}[:n]
			start := testutil.ProcessCPU()
			for b.Loop() {
				gatherKernel(simd.Host(), k, data, rows, cols, bp, 64, c, crows, false, uintptr(unsafe.Pointer(&bp[0])))
			}
			testutil.ReportCPU(b, start, 2*float64(n*64*k))
		})
	}
}

// digits_mlp_gelu's Gemm layers on a batch of 16 images (64 → 128 → 128 → 10): few rows, so
// the row tile's fit to 16 decides the speed.
func BenchmarkDigitsMLP1(b *testing.B) { benchPackedB(b, 16, 128, 64) }
func BenchmarkDigitsMLP2(b *testing.B) { benchPackedB(b, 16, 128, 128) }
func BenchmarkDigitsMLP3(b *testing.B) { benchPackedB(b, 16, 10, 128) }

// BenchmarkClassifierCold is MobileNetV3's classifier (1×1024 · 1024×1000) with 12 different
// weight matrices round robin, 48 MB in all, so that each product streams its 4 MB of weights
// from memory as in a model's run, where BenchmarkClassifier1280 finds them in cache.
func BenchmarkClassifierCold(b *testing.B) {
	const m, n, k, copies = 1, 1000, 1024, 12
	r := rand.New(rand.NewPCG(1, 2))
	x, c := randSlice(r, m*k), make([]float32, m*n)
	pbs := make([]*PackedB, copies)
	for i := range pbs {
		pb, err := PackB(false, k, n, randSlice(r, k*n), n)
		if err != nil {
			b.Fatal(err)
		}
		pbs[i] = pb
	}
	start := testutil.ProcessCPU()
	i := 0
	for b.Loop() {
		if err := SgemmPackedB(false, m, 1, x, k, pbs[i%copies], 0, c, n, 1, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
	testutil.ReportCPU(b, start, 2*float64(m*n*k))
}
