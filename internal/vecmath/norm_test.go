package vecmath

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// exactMeanVar is the reference for MeanVar: mean and population variance of xs with 256-bit
// big.Float arithmetic, rounded to float64 at the end.
func exactMeanVar(xs []float32) (mean, variance float64) {
	const prec = 256
	n := new(big.Float).SetPrec(prec).SetInt64(int64(len(xs)))
	sum := new(big.Float).SetPrec(prec)
	for _, v := range xs {
		sum.Add(sum, big.NewFloat(float64(v)).SetPrec(prec))
	}
	m := new(big.Float).SetPrec(prec).Quo(sum, n)
	sq := new(big.Float).SetPrec(prec)
	for _, v := range xs {
		d := new(big.Float).SetPrec(prec).Sub(big.NewFloat(float64(v)), m)
		sq.Add(sq, d.Mul(d, d))
	}
	mean, _ = m.Float64()
	variance, _ = sq.Quo(sq, n).Float64()
	return mean, variance
}

// normRows are the rows the LayerNorm tests run: every length up to 20 and longer ones, around
// zero, with a mean large against the spread, constant, and with huge magnitudes.
func normRows() map[string][]float32 {
	r := rand.New(rand.NewPCG(5, 6))
	rows := map[string][]float32{}
	for _, n := range append(rangeTo(20), 31, 33, 192, 768, 4099) {
		if n == 0 {
			continue
		}
		centred, offset, constant, huge := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range centred {
			centred[i] = float32(r.NormFloat64())
			offset[i] = 1000 + float32(r.NormFloat64())*1e-3
			constant[i] = 3.7
			huge[i] = float32(r.NormFloat64() * 1e37)
		}
		rows[fmt.Sprint("centred/n=", n)] = centred
		rows[fmt.Sprint("offset/n=", n)] = offset
		rows[fmt.Sprint("constant/n=", n)] = constant
		rows[fmt.Sprint("huge/n=", n)] = huge
	}
	return rows
}

// TestMeanVar compares MeanVar with exact arithmetic: the mean within a few float64 ulps of the
// mean magnitude, the variance within 1e-13 relative (a constant row exactly 0), squares of
// huge elements included; NaN, ±Inf and an empty row give NaN.
func TestMeanVar(t *testing.T) {
	t.Parallel()
	rows := normRows()
	withGo(t, func(t *testing.T, tier simd.Level) {
		for name, xs := range rows {
			mean, variance := meanVarOn(tier, xs)
			wantMean, wantVar := exactMeanVar(xs)
			absMean := 0.0
			for _, v := range xs {
				absMean += math.Abs(float64(v)) / float64(len(xs))
			}
			if d := math.Abs(mean - wantMean); d > 1e-14*absMean {
				t.Errorf("%s: mean %.17g, want %.17g", name, mean, wantMean)
			}
			if d := math.Abs(variance - wantVar); d > 1e-13*wantVar || (wantVar == 0 && variance != 0) {
				t.Errorf("%s: variance %.17g, want %.17g", name, variance, wantVar)
			}
		}
		inf := float32(math.Inf(1))
		for _, n := range []int{1, 8, 9, 20} {
			for _, at := range []int{0, n - 1} {
				for _, c := range []struct {
					v        float32
					meanNaN  bool
					meanSign int
				}{{float32(math.NaN()), true, 0}, {inf, false, 1}, {-inf, false, -1}} {
					xs := make([]float32, n)
					xs[at] = c.v
					mean, variance := meanVarOn(tier, xs)
					if !math.IsNaN(variance) || (c.meanNaN && !math.IsNaN(mean)) || (!c.meanNaN && !math.IsInf(mean, c.meanSign)) {
						t.Errorf("n=%d, %g at %d: MeanVar = %g, %g", n, c.v, at, mean, variance)
					}
				}
			}
		}
		if mean, variance := meanVarOn(tier, nil); !math.IsNaN(mean) || !math.IsNaN(variance) {
			t.Errorf("MeanVar(nil) = %g, %g, want NaN, NaN", mean, variance)
		}
	})
}

// TestLayerNormRow runs MeanVar and Normalize as LayerNormalization does, with and without beta,
// against the formula in float64 from the exact mean and variance; the error allowed is a few
// float32 roundings of the scaled deviation and of beta. It also checks in-place use, a NaN
// element, and that nothing past len(src) is written.
func TestLayerNormRow(t *testing.T) {
	t.Parallel()
	rows := normRows()
	const eps = 1e-5
	withGo(t, func(t *testing.T, tier simd.Level) {
		for name, xs := range rows {
			n := len(xs)
			gamma, beta := make([]float32, n), make([]float32, n)
			for i := range gamma {
				gamma[i] = 0.5 + float32(i%7)*0.25
				beta[i] = float32(i%5) - 2
			}
			wantMean, wantVar := exactMeanVar(xs)
			wantInv := 1 / math.Sqrt(wantVar+eps)
			for _, withBeta := range []bool{true, false} {
				b := beta
				if !withBeta {
					b = nil
				}
				mean, variance := meanVarOn(tier, xs)
				inv := float32(1 / math.Sqrt(variance+eps))
				const sentinel = float32(-12345)
				dst := make([]float32, n+8)
				for i := range dst {
					dst[i] = sentinel
				}
				normalizeOn(tier, dst[:n], xs, mean, inv, gamma, b)
				inPlace := append([]float32(nil), xs...)
				normalizeOn(tier, inPlace, inPlace, mean, inv, gamma, b)
				for i, x := range xs {
					p := (float64(x) - wantMean) * wantInv * float64(gamma[i])
					want, bi := p, 0.0
					if withBeta {
						bi = float64(beta[i])
						want += bi
					}
					if d := math.Abs(float64(dst[i]) - want); d > 5e-7*(math.Abs(p)+math.Abs(bi))+1e-30 || inPlace[i] != dst[i] {
						t.Fatalf("%s beta=%v: [%d] = %g (in place %g), want %g", name, withBeta, i, dst[i], inPlace[i], want)
					}
				}
				for i := n; i < len(dst); i++ {
					if dst[i] != sentinel {
						t.Fatalf("%s: wrote past the end at %d", name, i)
					}
				}
				withNaN := append([]float32(nil), xs...)
				withNaN[n/2] = float32(math.NaN())
				normalizeOn(tier, withNaN, withNaN, mean, inv, gamma, b)
				if !math.IsNaN(float64(withNaN[n/2])) {
					t.Fatalf("%s: NaN element normalised to %g", name, withNaN[n/2])
				}
			}
		}
	})
}

// TestSum: every level's Sum against the exact sum (256-bit big.Float) within float64's
// summation bound n·2^−53·Σ|x|, on every length to 300 and on a 112×112 plane (EfficientNet's
// first global average pool), at offsets that start the kernels' blocks anywhere; on integers,
// whose float64 sums are exact, every level gives the exact sum, so a value left out or counted
// twice by any block of the AVX2 or AVX-512 loops is seen whatever its size.
func TestSum(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	xs := make([]float32, 12544+40)
	ints := make([]float32, len(xs))
	for i := range xs {
		xs[i] = float32(r.NormFloat64() * 4)
		ints[i] = float32(r.IntN(2001) - 1000)
	}
	lengths := []int{12544}
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	withGo(t, func(t *testing.T, tier simd.Level) {
		for _, n := range lengths {
			for _, at := range []int{0, 3, 17} {
				src := xs[at : at+n]
				exact := new(big.Float).SetPrec(256)
				abs := 0.0
				for _, v := range src {
					exact.Add(exact, big.NewFloat(float64(v)).SetPrec(256))
					abs += math.Abs(float64(v))
				}
				want, _ := exact.Float64()
				if got := sumOn(tier, src); math.Abs(got-want) > float64(n)*0x1p-53*abs {
					t.Fatalf("n=%d at %d: Sum = %v, want %v", n, at, got, want)
				}
				want = 0
				for _, v := range ints[at : at+n] {
					want += float64(v)
				}
				if got := sumOn(tier, ints[at:at+n]); got != want {
					t.Fatalf("n=%d at %d: Sum of integers = %v, want %v", n, at, got, want)
				}
			}
		}
	})
}
