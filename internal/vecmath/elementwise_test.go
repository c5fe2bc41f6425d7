package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// sameFloat reports whether got is want bit for bit, or both are NaN (the payload is free).
func sameFloat(got, want float32) bool {
	if want != want {
		return got != got
	}
	return math.Float32bits(got) == math.Float32bits(want)
}

// TestMaxInto compares MaxInto with math.Max in float64 (+0 beats −0), NaN when either side is
// NaN (math.Max(+Inf, NaN) is +Inf, Go's max is NaN), at every length up to 40 and a long row, NaN, ±Inf and signed zeros on either side, and
// checks that nothing past len(src) is written.
func TestMaxInto(t *testing.T) {
	t.Parallel()
	inf := float32(math.Inf(1))
	special := []float32{float32(math.NaN()), inf, -inf, 0, float32(math.Copysign(0, -1)), math.MaxFloat32,
		-math.MaxFloat32, math.Float32frombits(1)}
	withGo(t, func(t *testing.T, tier simd.Level) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, n := range append(rangeTo(40), 1000) {
			dst, src := make([]float32, n+8), make([]float32, n)
			for i := range src {
				dst[i], src[i] = r.Float32()*4-2, r.Float32()*4-2
				switch r.IntN(6) {
				case 0:
					dst[i] = special[r.IntN(len(special))]
				case 1:
					src[i] = special[r.IntN(len(special))]
				case 2:
					dst[i], src[i] = special[r.IntN(len(special))], special[r.IntN(len(special))]
				}
			}
			const sentinel = float32(-12345)
			for i := n; i < len(dst); i++ {
				dst[i] = sentinel
			}
			before := append([]float32(nil), dst...)
			maxIntoOn(tier, dst[:n], src)
			for i, s := range src {
				want := float32(math.Max(float64(before[i]), float64(s)))
				if before[i] != before[i] || s != s {
					want = float32(math.NaN())
				}
				if !sameFloat(dst[i], want) {
					t.Fatalf("n=%d: max(%g, %g) = %g, want %g", n, before[i], s, dst[i], want)
				}
			}
			for i := n; i < len(dst); i++ {
				if dst[i] != sentinel {
					t.Fatalf("n=%d: wrote past the end at %d", n, i)
				}
			}
		}
	})
}

// TestRelu compares Relu with math.Max(x, 0) in float64 over the whole float32 line (NaN stays
// NaN, −0 becomes +0), out of place and in place.
func TestRelu(t *testing.T) {
	t.Parallel()
	xs := testInputs()
	withGo(t, func(t *testing.T, tier simd.Level) {
		got := make([]float32, len(xs))
		reluOn(tier, got, xs)
		inPlace := append([]float32(nil), xs...)
		reluOn(tier, inPlace, inPlace)
		for i, x := range xs {
			want := float32(math.Max(float64(x), 0))
			if !sameFloat(got[i], want) || !sameFloat(inPlace[i], want) {
				t.Fatalf("Relu(%g) = %g (in place %g), want %g", x, got[i], inPlace[i], want)
			}
		}
		// Every short length in place: the assembly redoes the last block overlapping the loop's.
		for n := 0; n <= 40; n++ {
			row := append([]float32(nil), xs[len(xs)-n:]...)
			reluOn(tier, row, row)
			for i, x := range xs[len(xs)-n:] {
				if want := float32(math.Max(float64(x), 0)); !sameFloat(row[i], want) {
					t.Fatalf("n=%d in place: reluOn(tier, %g) = %g, want %g", n, x, row[i], want)
				}
			}
		}
	})
}

func rangeTo(n int) []int {
	out := make([]int, n+1)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestMaxPool2x2 compares MaxPool2x2 with the 2×2 windows' maxima in float64 (NaN if any tap
// is NaN, +0 over −0), at widths in and off whole 8-value blocks, one row pair to many, with
// NaN, ±Inf and signed zeros among the taps, and checks that nothing past dst is written.
func TestMaxPool2x2(t *testing.T) {
	t.Parallel()
	inf := float32(math.Inf(1))
	special := []float32{float32(math.NaN()), inf, -inf, 0, float32(math.Copysign(0, -1)), -math.MaxFloat32}
	withGo(t, func(t *testing.T, tier simd.Level) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, width := range []int{2, 6, 8, 16, 24, 56} {
			for _, pairs := range []int{1, 3, 64} {
				src := make([]float32, 2*pairs*width)
				for i := range src {
					src[i] = r.Float32()*4 - 2
					if r.IntN(8) == 0 {
						src[i] = special[r.IntN(len(special))]
					}
				}
				n := pairs * width / 2
				dst := make([]float32, n+8)
				const sentinel = float32(-12345)
				for i := range dst {
					dst[i] = sentinel
				}
				maxPool2x2On(tier, dst[:n], src, width)
				for p := 0; p < pairs; p++ {
					for j := 0; j < width/2; j++ {
						at := 2 * p * width
						taps := []float32{src[at+2*j], src[at+2*j+1], src[at+width+2*j], src[at+width+2*j+1]}
						want, nan := math.Inf(-1), false
						for _, v := range taps {
							want = math.Max(want, float64(v))
							nan = nan || v != v
						}
						w := float32(want)
						if nan {
							w = float32(math.NaN())
						}
						if got := dst[p*width/2+j]; !sameFloat(got, w) {
							t.Fatalf("width %d, pair %d, window %d: max%v = %g, want %g", width, p, j, taps, got, w)
						}
					}
				}
				for i := n; i < len(dst); i++ {
					if dst[i] != sentinel {
						t.Fatalf("width %d, %d pairs: wrote past the end at %d", width, pairs, i)
					}
				}
			}
		}
	})
}
