package ops

import (
	"math"
	"testing"
)

// TestExpShiftSum checks the vector exponentials against float64 math.Exp, for every length up
// to 40 (whole blocks and tails) and for the edge values a softmax row can hold.
func TestExpShiftSum(t *testing.T) {
	t.Parallel()
	special := []float32{0, -1e-30, -0.5, -87, -88, -100, -1e30, float32(math.Inf(-1)), float32(math.NaN()), 3, 60}
	for n := 0; n <= 40; n++ {
		src := make([]float32, n)
		for i := range src {
			src[i] = -20*float32(i%13)/12 + float32(i%3)*0.37
			if i%7 == 3 {
				src[i] = special[(i/7+n)%len(special)]
			}
		}
		const shift = 2.5
		dst := make([]float32, n)
		sum := expShiftSum(dst, src, shift)
		want := 0.0
		for i, v := range src {
			e := math.Exp(float64(v - shift)) // the difference rounds to float32 first, as in softmax
			got := float64(dst[i])
			if math.IsNaN(e) {
				if !math.IsNaN(got) {
					t.Fatalf("n=%d: exp(%v-%v) = %v, want NaN", n, v, shift, got)
				}
				continue
			}
			want += e
			if e < 1e-37 { // below the clamp: anything this small and non-negative
				if got < 0 || got > 2e-38 {
					t.Fatalf("n=%d: exp(%v-%v) = %v, want ≈ 0", n, v, shift, got)
				}
				continue
			}
			if math.Abs(got-e) > 3e-7*e {
				t.Fatalf("n=%d: exp(%v-%v) = %v, want %v", n, v, shift, got, e)
			}
		}
		if !math.IsNaN(sum) && math.Abs(sum-want) > 1e-6*max(want, 1e-30) {
			t.Fatalf("n=%d: sum %v, want %v", n, sum, want)
		}
	}
}

func TestRowMaxAndScale(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 40; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32((i*7)%n) - float32(n)/2
		}
		want := x[0]
		for _, v := range x {
			want = max(want, v)
		}
		if got := rowMax(x); got != want {
			t.Fatalf("n=%d: rowMax = %v, want %v", n, got, want)
		}
		y := append([]float32(nil), x...)
		scaleRow(y, 0.25)
		for i := range y {
			if y[i] != x[i]*0.25 {
				t.Fatalf("n=%d: scaleRow: y[%d] = %v, want %v", n, i, y[i], x[i]*0.25)
			}
		}
	}
	if got := rowMax([]float32{1, 2, 3, 4, 5, 6, 7, 8, float32(math.Inf(1))}); !math.IsInf(float64(got), 1) {
		t.Errorf("rowMax with +Inf = %v", got)
	}
}
