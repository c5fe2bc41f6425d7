package vecmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// clampRef is Clip's meaning evaluated in float64 with package math: NaN in gives NaN, a NaN
// bound is no bound, lo > hi gives hi (the ONNX spec), and a value already within [lo, hi] is
// returned as it is (so −0 stays −0 against a zero bound, where math.Max would give +0).
func clampRef(x, lo, hi float64) float64 {
	switch {
	case math.IsNaN(x):
		return x
	case lo > hi:
		return hi
	}
	y := x
	if !math.IsNaN(lo) {
		y = math.Max(y, lo)
	}
	if !math.IsNaN(hi) {
		y = math.Min(y, hi)
	}
	if y == x {
		return x
	}
	return y
}

var clampBounds = func() [][2]float32 {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	return [][2]float32{
		{0, 6}, {-1, 1}, {-inf, 6}, {0, inf}, {-inf, inf}, {2, 1}, {6, 0}, {0, 0}, {negZero, negZero},
		{negZero, 0}, {inf, -inf}, {nan, 6}, {0, nan}, {nan, nan}, {-3.5, -3.5}, {1e-30, 1e30},
	}
}()

// TestClamp compares Clamp with clampRef at every length up to 70 and two long rows, for each
// pair of bounds (infinite, NaN, signed zeros, lo > hi), out of place and in place, with NaN,
// ±Inf, ±0 and denormals among the inputs, and checks nothing past len(src) is written.
func TestClamp(t *testing.T) {
	t.Parallel()
	inf := float32(math.Inf(1))
	special := []float32{float32(math.NaN()), inf, -inf, 0, float32(math.Copysign(0, -1)), 6, -1, 1, 2,
		math.MaxFloat32, -math.MaxFloat32, math.Float32frombits(1), -math.Float32frombits(1)}
	withGo(t, func(t *testing.T, tier simd.Level) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, b := range clampBounds {
			lo, hi := b[0], b[1]
			for _, n := range append(rangeTo(70), 1000, 4099) {
				src := make([]float32, n)
				for i := range src {
					src[i] = r.Float32()*20 - 10
					if r.IntN(4) == 0 {
						src[i] = special[r.IntN(len(special))]
					}
				}
				const sentinel = float32(-12345)
				dst := make([]float32, n+8)
				for i := range dst {
					dst[i] = sentinel
				}
				clampOn(tier, dst[:n], src, lo, hi)
				inPlace := append([]float32(nil), src...)
				clampOn(tier, inPlace, inPlace, lo, hi)
				for i, x := range src {
					want := float32(clampRef(float64(x), float64(lo), float64(hi)))
					if !sameFloat(dst[i], want) || !sameFloat(inPlace[i], want) {
						t.Fatalf("n=%d: clampOn(tier, %g, %g, %g) = %g (in place %g), want %g",
							n, x, lo, hi, dst[i], inPlace[i], want)
					}
				}
				for i := n; i < len(dst); i++ {
					if dst[i] != sentinel {
						t.Fatalf("n=%d, bounds %g, %g: wrote past the end at %d", n, lo, hi, i)
					}
				}
			}
		}
	})
}

// TestClampWholeLine runs Clamp over the whole float32 line (testInputs) for Relu6's bounds and
// an unbounded side.
func TestClampWholeLine(t *testing.T) {
	t.Parallel()
	xs := testInputs()
	withGo(t, func(t *testing.T, tier simd.Level) {
		got := make([]float32, len(xs))
		for _, b := range [][2]float32{{0, 6}, {float32(math.Inf(-1)), -3}} {
			t.Run(fmt.Sprintf("%g,%g", b[0], b[1]), func(t *testing.T) {
				clampOn(tier, got, xs, b[0], b[1])
				for i, x := range xs {
					if want := float32(clampRef(float64(x), float64(b[0]), float64(b[1]))); !sameFloat(got[i], want) {
						t.Fatalf("Clamp(%g, %g, %g) = %g, want %g", x, b[0], b[1], got[i], want)
					}
				}
			})
		}
	})
}
