package vecmath

import (
	"math"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// TestSoftmaxHelpersAVX512 checks that the AVX-512 softmax helpers compute what the AVX2 ones
// do: the same exponentials bit for bit over the whole float32 line (denormal results, the
// clamped ends, NaN), the same maximum and scaled values, at every length up to 70 (all tails of
// 8 and of 16 lanes) and a long row, writing nothing past the end.
func TestSoftmaxHelpersAVX512(t *testing.T) {
	t.Parallel()
	if !simd.Host().Wide() {
		t.Skip("the CPU has no AVX-512")
	}
	const sentinel = float32(-12345)
	// run returns the exponentials of src − shift, their sum, the maximum and the scaled row,
	// computed with the AVX-512 kernels or the AVX2 ones, the output rows with 16 sentinels after.
	run := func(wide bool, src []float32, shift float32) (exps []float32, sum, peak float32, scaled []float32) {
		tier := simd.AVX2
		if wide {
			tier = simd.AVX512
		}
		exps = make([]float32, len(src)+16)
		for i := range exps {
			exps[i] = sentinel
		}
		sum = expSumShiftedToOn(tier, exps[:len(src)], src, shift)
		peak = maxOn(tier, src)
		scaled = append([]float32(nil), exps...)
		scaleOn(tier, scaled[:len(src)], 0.3)
		return exps, sum, peak, scaled
	}
	xs := testInputs()
	wide, _, _, _ := run(true, xs, 0)
	narrow, _, _, _ := run(false, xs, 0)
	for i, x := range xs {
		if !sameFloat(wide[i], narrow[i]) {
			t.Fatalf("e^%g: %g with AVX-512, %g with AVX2", x, wide[i], narrow[i])
		}
	}
	for _, n := range append(rangeTo(70), 1000) {
		row := make([]float32, n)
		for i := range row {
			row[i] = float32(math.Sin(float64(i)*1.3)*30 - 5)
		}
		for _, nanAt := range []int{-1, n - 1} {
			if nanAt >= 0 {
				row[nanAt] = float32(math.NaN())
			}
			e1, s1, m1, sc1 := run(true, row, 4)
			e2, s2, m2, sc2 := run(false, row, 4)
			if !sameFloat(m1, m2) {
				t.Fatalf("n=%d: Max %g with AVX-512, %g with AVX2", n, m1, m2)
			}
			if d := math.Abs(float64(s1 - s2)); !(d <= 1e-6*float64(s2)) && !(s1 != s1 && s2 != s2) {
				t.Fatalf("n=%d: sum %g with AVX-512, %g with AVX2", n, s1, s2)
			}
			for i := n; i < len(e1); i++ {
				if e1[i] != sentinel || sc1[i] != sentinel {
					t.Fatalf("n=%d: AVX-512 wrote past the end at %d", n, i)
				}
			}
			for i := range n {
				if !sameFloat(e1[i], e2[i]) || !sameFloat(sc1[i], sc2[i]) {
					t.Fatalf("n=%d: [%d] exp %g, scaled %g with AVX-512; %g, %g with AVX2", n, i, e1[i], sc1[i], e2[i], sc2[i])
				}
			}
		}
	}
}
