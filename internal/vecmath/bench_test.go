package vecmath

import (
	"fmt"
	"math"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// BenchmarkKernels reports throughput (bytes read, via SetBytes) of each kernel on a 64 KiB
// buffer that stays in L2, next to a plain copy for scale; the /go variants run the pure-Go
// kernels, the /avx2 ones the AVX2 kernels where the CPU would run AVX-512 ones.
func BenchmarkKernels(b *testing.B) {
	const n = 16384
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(math.Sin(float64(i))) * 6
	}
	dst := make([]float32, n)
	other := make([]float32, n) // the second operand of Arith
	for i := range other {
		other[i] = float32(math.Cos(float64(i))) + 2
	}
	kernels := []struct {
		name string
		f    func(tier simd.Level, dst, src []float32)
	}{
		{"copy", func(_ simd.Level, dst, src []float32) { copy(dst, src) }},
		{"Exp", expOn}, {"Sigmoid", sigmoidOn}, {"SiLU", siluOn}, {"Tanh", tanhOn}, {"Erf", erfOn}, {"GELU", geluOn}, {"GELUTanh", geluTanhOn}, {"HardSwish", hardSwishOn},
		{"ExpSumShifted", func(tier simd.Level, dst, src []float32) { expSumShiftedToOn(tier, dst, src, 3) }},
		{"Max", func(tier simd.Level, dst, src []float32) { dst[0] = maxOn(tier, src) }},
		{"Scale", func(tier simd.Level, dst, src []float32) { scaleOn(tier, dst, 0.5) }},
		{"MaxInto", maxIntoOn}, {"Relu", reluOn},
		{"Clamp", func(tier simd.Level, dst, src []float32) { clampOn(tier, dst, src, 0, 6) }},
		{"MeanVar", func(tier simd.Level, dst, src []float32) { m, _ := meanVarOn(tier, src); dst[0] = float32(m) }},
		{"Sum", func(tier simd.Level, dst, src []float32) { dst[0] = float32(sumOn(tier, src)) }},
		{"Normalize", func(tier simd.Level, dst, src []float32) { normalizeOn(tier, dst, src, 0.5, 2, src, src) }},
		{"Add", func(tier simd.Level, dst, src []float32) { arithOn(tier, OpAdd, dst, src, other) }},
		{"Mul", func(tier simd.Level, dst, src []float32) { arithOn(tier, OpMul, dst, src, other) }},
		{"Div", func(tier simd.Level, dst, src []float32) { arithOn(tier, OpDiv, dst, src, other) }},
		{"MulScalar", func(tier simd.Level, dst, src []float32) { arithScalarOn(tier, OpMul, dst, src, 0.125) }},
		{"ScalarDiv", func(tier simd.Level, dst, src []float32) { scalarArithOn(tier, OpDiv, dst, 1, other) }},
	}
	// Only the kernels with an AVX-512 version run again on AVX2 ("/avx2").
	wide := map[string]bool{"ExpSumShifted": true, "Max": true, "Scale": true, "Exp": true, "Sigmoid": true, "SiLU": true,
		"Tanh": true, "Erf": true, "GELU": true, "GELUTanh": true, "HardSwish": true, "Sum": true}
	withKernels(func(tier simd.Level) {
		set := tier.String()
		for _, k := range kernels {
			name := k.name
			switch {
			case set == "avx2" && !wide[k.name], set != "avx512" && k.name == "copy":
				continue
			case set != "avx512":
				name += "/" + set
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(4 * n)
				for b.Loop() {
					k.f(tier, dst, src)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/elem")
			})
		}
	})
}

// BenchmarkSoftmaxRows normalises vit_tiny's attention scores (3 heads × 197 rows of 197) the
// way the Softmax kernel does, row by row: Max, ExpSumShiftedTo, Scale by 1/sum.
func BenchmarkSoftmaxRows(b *testing.B) {
	const n, rows = 197, 3 * 197
	src := make([]float32, n*rows)
	for i := range src {
		src[i] = float32(math.Sin(float64(i))) * 6
	}
	dst := make([]float32, n*rows)
	withKernels(func(tier simd.Level) {
		set := tier.String()
		b.Run(set, func(b *testing.B) {
			b.SetBytes(4 * n * rows)
			for b.Loop() {
				for r := range rows {
					x, y := src[r*n:(r+1)*n], dst[r*n:(r+1)*n]
					scaleOn(tier, y, 1/expSumShiftedToOn(tier, y, x, maxOn(tier, x)))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	})
}

// BenchmarkShortRows runs GELU and Sigmoid on rows as short as GEMM epilogues hand them (a tile's
// width, a head's row, an odd remainder), where the per-call setup and the masked tail cost as
// much as the loop.
func BenchmarkShortRows(b *testing.B) {
	src := make([]float32, 256)
	for i := range src {
		src[i] = float32(math.Sin(float64(i))) * 6
	}
	dst := make([]float32, len(src))
	withKernels(func(tier simd.Level) {
		set := tier.String()
		for _, k := range []struct {
			name string
			f    func(tier simd.Level, dst, src []float32)
		}{{"GELU", geluOn}, {"Sigmoid", sigmoidOn}} {
			for _, n := range []int{7, 24, 64, 197} {
				b.Run(fmt.Sprintf("%s/%d/%s", k.name, n, set), func(b *testing.B) {
					for b.Loop() {
						k.f(tier, dst[:n], src[:n])
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/elem")
				})
			}
		}
	})
}
