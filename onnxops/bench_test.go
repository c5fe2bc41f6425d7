package onnxops

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The benchmarks run one goroutine over a float32 slice and count 8 bytes per element (one read,
// one write), so the GB/s columns compare directly with a plain copy, the memory-bound limit.
// Run: go test -run NONE -bench . ./onnxops

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
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f(dst, src)
			}
		})
	}
}

func BenchmarkCopy(b *testing.B) { runBench(b, func(dst, src []float32) { copy(dst, src) }) }

func BenchmarkGELUErf(b *testing.B) { runBench(b, GELUFloat32) }

func benchTable(b testing.TB, c kernelCase) table {
	k := &activationKernel{fam: c.fam, gate: c.gate}
	ts, err := ParamTensors(c.fam, c.chans)
	if err != nil {
		b.Fatal(err)
	}
	_, tab, err := k.build(ts)
	if err != nil {
		b.Fatal(err)
	}
	return tab
}

func BenchmarkKernels(b *testing.B) {
	cases := []kernelCase{
		{name: "PWLU-N16", fam: FamilyPWLU, chans: []Params{reluPWLU(-3, 3, 16)}},
		{name: "PWLU-N64", fam: FamilyPWLU, chans: []Params{reluPWLU(-3, 3, 64)}},
		{name: "Zorro", fam: FamilyZorro, chans: []Params{SymmetricZorro(1.2, 1)}},
		{name: "ZorroGate", fam: FamilyZorro, chans: []Params{gated(SigmoidZorro(2.8, 14.3, 0.685))}, gate: true},
		{name: "CRReLU", fam: FamilyCRReLU, chans: []Params{CRReLUParams{0.01}}},
	}
	for _, c := range cases {
		tab := benchTable(b, c)
		for _, asm := range []bool{true, false} {
			if asm && !asmAvailable {
				continue
			}
			path := "go"
			if asm {
				path = "asm"
			}
			b.Run(fmt.Sprintf("%s/%s", c.name, path), func(b *testing.B) {
				saved := useAsm
				useAsm = asm
				defer func() { useAsm = saved }()
				runBench(b, func(dst, src []float32) { tab.apply(dst, src, 0, len(src) >= streamMinElems) })
			})
		}
	}
}
