package actkernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/onnxops"
)

// The benchmarks run one goroutine over a float32 slice and count 8 bytes per element (one read,
// one write), so the GB/s columns compare directly with a plain copy, the memory-bound limit.
// Besides the wall-clock MB/s they report cpu-GB/s, over the thread's CPU time, which stays
// meaningful on a loaded machine. Run: go test -run NONE -bench . ./internal/actkernel

var benchSizes = []struct {
	name string
	n    int
}{{"1Mi", 1 << 20}, {"64Mi", 64 << 20}}

func benchInputs(n int) (src, dst []float32) {
	rng := rand.New(rand.NewPCG(9, 10))
	src = make([]float32, n)
	for i := range src {
		src[i] = float32(rng.NormFloat64() * 2)
	}
	return src, make([]float32, n)
}

func runBench(b *testing.B, f func(dst, src []float32)) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			if testing.Short() && size.n > 1<<20 {
				b.Skip("large size skipped in -short mode")
			}
			src, dst := benchInputs(size.n)
			b.SetBytes(int64(8 * size.n))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0, ok := threadCPUTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f(dst, src)
			}
			b.StopTimer()
			// CPU-time GB/s, when the thread clock has advanced enough to be meaningful.
			if cpu1, ok1 := threadCPUTime(); ok && ok1 && cpu1-cpu0 >= 50*time.Millisecond {
				b.ReportMetric(float64(8*size.n)*float64(b.N)/(cpu1-cpu0).Seconds()/1e9, "cpu-GB/s")
			}
		})
	}
}

func BenchmarkCopy(b *testing.B) { runBench(b, func(dst, src []float32) { copy(dst, src) }) }

// BenchmarkGELUErf is the runtime's own erf-GELU kernel, the cost a rewrite removes.
func BenchmarkGELUErf(b *testing.B) { runBench(b, vecmath.GELU) }

// benchKernelOn builds the kernel of case c with the loops of level x.
func benchKernelOn(b testing.TB, x simd.Level, c acttest.KernelCase) *Kernel {
	ts, err := onnxops.ParamTensors(c.Fam, c.Chans)
	if err != nil {
		b.Fatal(err)
	}
	k, err := newOn(x, c.Fam, c.Gate, ts)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkKernels(b *testing.B) {
	cases := []acttest.KernelCase{
		{Name: "PWLU-N16", Fam: onnxops.FamilyPWLU, Chans: []onnxops.Params{acttest.ReluPWLU(-3, 3, 16)}},
		{Name: "PWLU-N64", Fam: onnxops.FamilyPWLU, Chans: []onnxops.Params{acttest.ReluPWLU(-3, 3, 64)}},
		{Name: "Zorro", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{onnxops.SymmetricZorro(1.2, 1)}},
		{Name: "ZorroGate", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{acttest.Gated(onnxops.SigmoidZorro(2.8, 14.3, 0.685))}, Gate: true},
		{Name: "ZorroGateGELUDefault", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{acttest.GELUZorro}, Gate: true},
		{Name: "CRReLU", Fam: onnxops.FamilyCRReLU, Chans: []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.01}}},
	}
	for _, c := range cases {
		for x := simd.Go; x <= simd.Host(); x++ {
			if x.Wide() && c.Fam == onnxops.FamilyCRReLU {
				continue // CRReLU has no AVX-512 kernel
			}
			tab := benchKernelOn(b, x, c).tab
			b.Run(fmt.Sprintf("%s/%s", c.Name, x), func(b *testing.B) {
				runBench(b, func(dst, src []float32) { tab.apply(dst, src, 0, len(src) >= streamMinElems) })
			})
		}
	}
}

// BenchmarkChannelsLast runs per-channel parameters along the last axis, where channels change
// every element, beside the same family per tensor on the same data: C = 64 channels with
// differing parameters (the "rows" kernels, or element by element in Go), and C = 768 channels
// that are shifted copies of one set (a per-tensor set that absorbed a MatMul's bias, as in
// vit_tiny's MLP), which must run as fast as per tensor.
func BenchmarkChannelsLast(b *testing.B) {
	shifted := func(p onnxops.Params) []onnxops.Params {
		return acttest.ManyChannels(768, func(i int) onnxops.Params { return acttest.Shifted(p, 0.01*float64(i%97)-0.5) })
	}
	cases := []acttest.KernelCase{
		{Name: "PWLU-N16/per-tensor", Fam: onnxops.FamilyPWLU, Chans: []onnxops.Params{acttest.ReluPWLU(-3, 3, 16)}},
		{Name: "PWLU-N16/C64", Fam: onnxops.FamilyPWLU, Chans: acttest.ManyChannels(64, func(i int) onnxops.Params { return acttest.ReluPWLU(-3-0.01*float64(i), 3, 16) })},
		{Name: "PWLU-N16/C768-shifted", Fam: onnxops.FamilyPWLU, Chans: shifted(acttest.ReluPWLU(-3, 3, 16))},
		{Name: "Zorro/per-tensor", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{onnxops.SigmoidZorro(4, 2, 0.5)}},
		{Name: "Zorro/C64", Fam: onnxops.FamilyZorro, Chans: acttest.ManyChannels(64, func(i int) onnxops.Params { return onnxops.SymmetricZorro(1.2+0.01*float64(i), 1) })},
		{Name: "Zorro/C768-shifted", Fam: onnxops.FamilyZorro, Chans: shifted(onnxops.SigmoidZorro(4, 2, 0.5))},
		{Name: "CRReLU/per-tensor", Fam: onnxops.FamilyCRReLU, Chans: []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.01}}},
		{Name: "CRReLU/C64", Fam: onnxops.FamilyCRReLU, Chans: acttest.ManyChannels(64, func(i int) onnxops.Params { return onnxops.CRReLUParams{Epsilon: 0.01 * float64(i)} })},
	}
	for _, kc := range cases {
		for x := simd.Go; x <= simd.Host(); x++ {
			k := benchKernelOn(b, x, kc)
			b.Run(kc.Name+"/"+x.String(), func(b *testing.B) {
				n := 768 << 10 // 3 MiB of float32: in cache, as a transformer's activations mostly are
				src, dst := benchInputs(n)
				c := k.Channels()
				b.SetBytes(int64(8 * n))
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				cpu0, ok := threadCPUTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					k.Apply(dst, src, n/c, 1, Serial)
				}
				b.StopTimer()
				if cpu1, ok1 := threadCPUTime(); ok && ok1 && cpu1-cpu0 >= 50*time.Millisecond {
					b.ReportMetric(float64(8*n)*float64(b.N)/(cpu1-cpu0).Seconds()/1e9, "cpu-GB/s")
				}
			})
		}
	}
}
