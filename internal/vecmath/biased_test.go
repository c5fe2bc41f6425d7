package vecmath

import (
	"math"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// biasedKernels are the kernels that add a bias before the activation, beside the activation.
var biasedKernels = []struct {
	name   string
	f      func(tier simd.Level, dst, src []float32, b float32)
	plain  func(tier simd.Level, dst, src []float32)
	ref    func(x float64) float64
	relTol float64
}{
	{"SiLUBias", siluBiasOn, siluOn, func(x float64) float64 { return x * sigmoid64(x) }, 4e-7},
	{"HardSwishBias", hardSwishBiasOn, hardSwishOn, func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) }, 2.5e-7},
	{"ReluBias", reluBiasOn, reluOn, func(x float64) float64 { return math.Max(x, 0) }, 0},
}

// TestBiasedKernels: f(src[i] + b) in one pass is, bit for bit, the float32 sum followed by the
// activation's own kernel (a GEMM epilogue takes either path and must give the same outputs), on
// every level, at every short length and in place, writes nothing past the end, and matches
// the formula evaluated in float64 on the sums.
func TestBiasedKernels(t *testing.T) {
	t.Parallel()
	xs := testInputs()
	biases := []float32{0, 0.75, -3.1, 2.5e-3, 1e30, float32(math.Inf(-1)), float32(math.NaN())}
	const sentinel = float32(-12345)
	withGo(t, func(t *testing.T, tier simd.Level) {
		for _, k := range biasedKernels {
			for _, b := range biases {
				sums := make([]float32, len(xs))
				for i, x := range xs {
					sums[i] = x + b
				}
				want := make([]float32, len(xs))
				k.plain(tier, want, sums)
				got := make([]float32, len(xs)+16)
				for i := range got {
					got[i] = sentinel
				}
				k.f(tier, got[:len(xs)], xs, b)
				inPlace := append([]float32(nil), xs...)
				k.f(tier, inPlace, inPlace, b)
				for i, x := range xs {
					g, w := got[i], want[i]
					same := math.Float32bits(g) == math.Float32bits(w) || g != g && w != w
					if !same || math.Float32bits(inPlace[i]) != math.Float32bits(g) && !(g != g && inPlace[i] != inPlace[i]) {
						t.Fatalf("%s(%g + %g) = %g (in place %g), the sum's activation %g", k.name, x, b, g, inPlace[i], w)
					}
					if s := float64(sums[i]); math.Abs(s) < 50 && math.Abs(s) > 1e-3 {
						if r := k.ref(s); math.Abs(float64(g)-r) > k.relTol*math.Abs(r)+2e-7*math.Abs(s)+0x1p-149 {
							t.Fatalf("%s(%g + %g) = %g, float64 %g", k.name, x, b, g, r)
						}
					}
				}
				for i := len(xs); i < len(got); i++ {
					if got[i] != sentinel {
						t.Fatalf("%s: wrote past the end at %d", k.name, i)
					}
				}
				for n := 0; n <= 70; n++ {
					row := make([]float32, n+16)
					for i := range row {
						row[i] = sentinel
					}
					at := (n * 7919) % (len(xs) - n)
					k.f(tier, row[:n], xs[at:at+n], b)
					for i := range n {
						if g, w := row[i], want[at+i]; math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
							t.Fatalf("%s n=%d: [%d] = %g, want %g", k.name, n, i, g, w)
						}
					}
					for i := n; i < len(row); i++ {
						if row[i] != sentinel {
							t.Fatalf("%s n=%d: wrote past the end at %d", k.name, n, i)
						}
					}
				}
			}
		}
	})
}
