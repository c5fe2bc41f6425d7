package vecmath

import (
	"math"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// testInputs covers the whole float32 line: a stride through all 2^32 bit patterns (both signs,
// denormals, huge magnitudes, NaN payloads), a dense linear sweep of the interesting range, and
// special values. The count is not a multiple of 8, so the Go tail runs too.
func testInputs() []float32 {
	var xs []float32
	for b := uint64(0); b < 1<<32; b += 4093 {
		xs = append(xs, math.Float32frombits(uint32(b)))
	}
	for i := -400000; i <= 400000; i++ {
		xs = append(xs, float32(i)*5e-5) // [−20, 20]
	}
	inf := float32(math.Inf(1))
	xs = append(xs, float32(math.NaN()), inf, -inf, 0, float32(math.Copysign(0, -1)),
		math.Float32frombits(1), -math.Float32frombits(1), math.MaxFloat32, -math.MaxFloat32,
		88.72283, 88.72284, 88.7229, -87.33654, -103.9, -103.98, -104, -150, 15, -15, 20, -20,
		0.625, -0.625, 0.5, -0.5, 1e-30, -1e-30, 3.92, -3.92, 13.2, -13.2, 5.5, -5.5, 1)
	return xs
}

type accuracyCase struct {
	name  string
	f     func(x simd.Level, dst, src []float32) // the kernels of level x
	ref   func(x float64) float64
	bound float64 // max relative error for normal results
	// scale, when set, widens the bound for an input whose reference is ill-conditioned in
	// float32 (the error is bound·scale(x)).
	scale func(x float64) float64
}

func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func geluTanhZ(x float64) float64 { return geluTanhC * (x + geluTanhK*x*x*x) }

// gelu64 is x·Φ(x), with its limit 0 at −Inf (where ½x·erfc(−x/√2) is −Inf·0).
func gelu64(x float64) float64 {
	if math.IsInf(x, -1) {
		return 0
	}
	return 0.5 * x * math.Erfc(-x/math.Sqrt2)
}

var accuracyCases = []accuracyCase{
	{name: "Exp", f: expOn, ref: math.Exp, bound: 1.5e-7},
	{name: "Sigmoid", f: sigmoidOn, ref: sigmoid64, bound: 3e-7},
	// x·σ(x), as Mul(x, sigmoid(x)) computes it: NaN at −Inf, where that product is −Inf·0. Where
	// σ(x) is subnormal its few units of 2^−149 of error are multiplied by |x|, so the bound widens
	// by that much relative to the result.
	{name: "SiLU", f: siluOn, ref: func(x float64) float64 { return x * sigmoid64(x) }, bound: 4e-7,
		scale: func(x float64) float64 {
			if s := sigmoid64(x); s > 0 {
				return 1 + 4*0x1p-149/(4e-7*s)
			}
			return 1 // σ(x) is 0 in float64 too: the result is exactly −0
		}},
	{name: "Tanh", f: tanhOn, ref: math.Tanh, bound: 3e-7},
	{name: "Erf", f: erfOn, ref: math.Erf, bound: 4e-7},
	{name: "GELU", f: geluOn, ref: gelu64, bound: 6e-7},
	// Computed in float32, z = √(2/π)(x + 0.044715x³) carries a few ulp of rounding, which e^(2z)
	// multiplies by 2|z| in the negative tail.
	{name: "GELUTanh", f: geluTanhOn, bound: 4e-7,
		ref: func(x float64) float64 {
			if math.IsInf(x, -1) {
				return 0 // the limit; x·σ(2z) is −Inf·0 there
			}
			return x * sigmoid64(2*geluTanhZ(x))
		},
		scale: func(x float64) float64 { return max(1, 2*math.Abs(geluTanhZ(x))) }},
}

// TestHardSwish: x·clip(x/6 + ½, 0, 1) against float64. The clip argument is rounded in float32
// (as in the ONNX reference), which near x = −3 is large relative to the result: the bound is
// relative to the result plus a few ulp of x/6 times |x|.
func TestHardSwish(t *testing.T) {
	t.Parallel()
	xs := testInputs()
	withGo(t, func(t *testing.T, tier simd.Level) {
		got := make([]float32, len(xs))
		hardSwishOn(tier, got, xs)
		for i, x := range xs {
			xd := float64(x)
			want := xd * math.Max(0, math.Min(1, xd/6+0.5))
			g := float64(got[i])
			if math.IsNaN(want) { // NaN, and −Inf·0 at −Inf as in the ONNX reference
				if !math.IsNaN(g) {
					t.Fatalf("HardSwish(%g) = %g, want NaN", x, g)
				}
				continue
			}
			if math.IsInf(xd, 0) || math.IsInf(want, 0) {
				if g != float64(float32(want)) {
					t.Fatalf("HardSwish(%g) = %g, want %g", x, g, want)
				}
				continue
			}
			if d := math.Abs(g - want); d > 2.5e-7*math.Abs(want)+2e-7*math.Abs(xd)*math.Min(1, math.Abs(xd/6))+0x1p-149 {
				t.Fatalf("HardSwish(%g) = %g, want %g", x, g, want)
			}
		}
	})
}

// withKernels runs f once with each kernel level this CPU can run, widest first: AVX-512 where a
// kernel has it, AVX2, pure Go.
func withKernels(f func(tier simd.Level)) {
	for tier := simd.Host(); ; tier-- {
		f(tier)
		if tier == simd.Go {
			return
		}
	}
}

// withGo runs f as a parallel subtest once with each kernel level this CPU can run: the AVX-512
// and AVX2 assembly where it has them, and the pure-Go kernels.
func withGo(t *testing.T, f func(t *testing.T, tier simd.Level)) {
	withKernels(func(tier simd.Level) {
		t.Run(tier.String(), func(t *testing.T) {
			t.Parallel()
			f(t, tier)
		})
	})
}

const minNormal = 0x1p-126

func TestAccuracy(t *testing.T) {
	t.Parallel()
	xs := testInputs()
	for _, c := range accuracyCases {
		t.Run(c.name, func(t *testing.T) {
			withGo(t, func(t *testing.T, tier simd.Level) {
				got := make([]float32, len(xs))
				c.f(tier, got, xs)
				inPlace := append([]float32(nil), xs...)
				c.f(tier, inPlace, inPlace)
				worst, worstX := 0.0, float32(0)
				fails := 0
				for i, x := range xs {
					if math.Float32bits(got[i]) != math.Float32bits(inPlace[i]) {
						t.Fatalf("%s(%g): %g, but %g in place", c.name, x, got[i], inPlace[i])
					}
					want := c.ref(float64(x))
					g := float64(got[i])
					var ok bool
					switch {
					case math.IsNaN(want):
						ok = math.IsNaN(g)
					case math.IsInf(float64(float32(want)), 0):
						ok = g == float64(float32(want))
					case math.Abs(want) < minNormal:
						tol := 4 * 0x1p-149
						if c.scale != nil && !math.IsInf(float64(x), 0) {
							// GELUTanh rounds e^(2z) into the denormals before multiplying by x.
							tol += c.bound*c.scale(float64(x))*math.Abs(want) + math.Abs(float64(x))*0x1p-149
						}
						ok = math.Abs(g-want) <= tol
					default:
						rel := math.Abs(g-want) / math.Abs(want)
						if c.scale != nil {
							rel /= c.scale(float64(x))
						}
						if rel > worst {
							worst, worstX = rel, x
						}
						ok = rel <= c.bound
					}
					if !ok {
						if fails++; fails <= 5 {
							t.Errorf("%s(%g) = %g, want %g", c.name, x, got[i], want)
						}
					}
				}
				t.Logf("%s: max relative error %.3g at x = %g over %d inputs", c.name, worst, worstX, len(xs))
			})
		})
	}
}

func TestSoftmaxHelpers(t *testing.T) {
	t.Parallel()
	withGo(t, func(t *testing.T, tier simd.Level) {
		for _, n := range []int{0, 1, 7, 8, 9, 16, 33, 197, 1000} {
			row := make([]float32, n)
			for i := range row {
				row[i] = float32(math.Sin(float64(i)*1.7)*20 - 3)
			}
			wantMax := math.Inf(-1)
			for _, v := range row {
				wantMax = math.Max(wantMax, float64(v))
			}
			if got := maxOn(tier, row); float64(got) != wantMax {
				t.Fatalf("n=%d: Max = %g, want %g", n, got, wantMax)
			}
			if n == 0 {
				continue
			}
			for _, at := range []int{0, n / 2, n - 1} {
				withNaN := append([]float32(nil), row...)
				withNaN[at] = float32(math.NaN())
				if got := maxOn(tier, withNaN); !math.IsNaN(float64(got)) {
					t.Fatalf("n=%d: Max with NaN at %d = %g, want NaN", n, at, got)
				}
			}
			shift := float32(wantMax)
			out := make([]float32, n)
			sum := expSumShiftedToOn(tier, out, row, shift)
			inPlace := append([]float32(nil), row...)
			if s2 := expSumShiftedOn(tier, inPlace, shift); s2 != sum {
				t.Fatalf("n=%d: in-place sum %g, want %g", n, s2, sum)
			}
			wantSum := 0.0
			for i, v := range row {
				e := math.Exp(float64(v - shift)) // the kernel subtracts in float32
				wantSum += e
				if d := math.Abs(float64(out[i]) - e); d > 3e-7*e || inPlace[i] != out[i] {
					t.Fatalf("n=%d: exp[%d] = %g (in place %g), want %g", n, i, out[i], inPlace[i], e)
				}
			}
			if d := math.Abs(float64(sum) - wantSum); d > 1e-6*wantSum {
				t.Fatalf("n=%d: sum %g, want %g", n, sum, wantSum)
			}
			scaleOn(tier, out, 1/sum)
			for i := range out {
				want := float64(inPlace[i]) * float64(1/sum)
				if d := math.Abs(float64(out[i]) - want); d > 1e-7*want {
					t.Fatalf("n=%d: scaled[%d] = %g, want %g", n, i, out[i], want)
				}
			}
		}
	})
}

// elementwiseKernels are the public elementwise kernels with the scalar functions they follow.
var elementwiseKernels = []struct {
	name   string
	f      func(tier simd.Level, dst, src []float32)
	scalar func(float32) float32
}{
	{"Exp", expOn, expScalar}, {"Sigmoid", sigmoidOn, sigmoidScalar}, {"SiLU", siluOn, siluScalar}, {"Tanh", tanhOn, tanhScalar},
	{"Erf", erfOn, erfScalar}, {"GELU", geluOn, geluScalar}, {"GELUTanh", geluTanhOn, geluTanhScalar},
	{"HardSwish", hardSwishOn, hardSwishScalar}, {"Relu", reluOn, func(x float32) float32 { return max(x, 0) }},
}

// TestShortSlices checks every length up to 70 (GEMM epilogues call the kernels on short rows:
// the assembly's loops, masked tails and their seams) with every kernel set against the scalar
// kernels, special values included, and that nothing past len(src) is written.
func TestShortSlices(t *testing.T) {
	t.Parallel()
	inf := float32(math.Inf(1))
	specials := []float32{float32(math.NaN()), inf, -inf, 0, float32(math.Copysign(0, -1)),
		math.Float32frombits(1), -math.Float32frombits(0x7fffff), 1e-30, -13.5, 90, -110}
	const sentinel = float32(-12345)
	withGo(t, func(t *testing.T, tier simd.Level) {
		for _, k := range elementwiseKernels {
			for n := 0; n <= 70; n++ {
				src := make([]float32, n, n+16)
				for i := range src {
					src[i] = float32(i%7)*0.9 - 2.7
					if i%5 == 3 {
						src[i] = specials[(i+n)%len(specials)]
					}
				}
				buf := make([]float32, n+16)
				for i := range buf {
					buf[i] = sentinel
				}
				k.f(tier, buf[:n], src)
				for i, x := range src {
					got, want := buf[i], k.scalar(x)
					switch {
					case want != want:
						if got == got {
							t.Fatalf("%s n=%d: [%d] = %g (x = %g), want NaN", k.name, n, i, got, x)
						}
					case math.IsInf(float64(want), 0):
						if got != want {
							t.Fatalf("%s n=%d: [%d] = %g (x = %g), want %g", k.name, n, i, got, x, want)
						}
					default:
						if d := math.Abs(float64(got - want)); !(d <= 5e-7*math.Abs(float64(want))+1e-38) {
							t.Fatalf("%s n=%d: [%d] = %g (x = %g), want %g", k.name, n, i, got, x, want)
						}
					}
				}
				for i := n; i < len(buf); i++ {
					if buf[i] != sentinel {
						t.Fatalf("%s n=%d: wrote past the end at %d", k.name, n, i)
					}
				}
			}
		}
	})
}

// TestAVX512MatchesAVX2: the AVX-512 elementwise kernels compute what the AVX2 ones do, operation
// for operation, so their results must be the same bits (any NaN for a NaN) over the whole float32
// line and on every short row, at every offset into a block.
func TestAVX512MatchesAVX2(t *testing.T) {
	t.Parallel()
	if !simd.Host().Wide() {
		t.Skip("this CPU runs no AVX-512 kernels")
	}
	xs := testInputs()
	for _, k := range elementwiseKernels {
		wide, narrow := make([]float32, len(xs)), make([]float32, len(xs))
		k.f(simd.AVX512, wide, xs)
		k.f(simd.AVX2, narrow, xs)
		rows := 0
		for n := 0; n <= 70; n++ {
			for at := 0; at+n <= len(xs) && at < 1000*n; at += 997 { // rows cut from everywhere
				k.f(simd.AVX512, wide[at:at+n], xs[at:at+n])
				rows++
			}
		}
		for i, x := range xs {
			w, v := wide[i], narrow[i]
			if math.Float32bits(w) != math.Float32bits(v) && !(w != w && v != v) {
				t.Fatalf("%s(%g) [%d]: AVX-512 %g (%#x), AVX2 %g (%#x) (%d short rows)", k.name, x, i, w, math.Float32bits(w), v, math.Float32bits(v), rows)
			}
		}
	}
}
