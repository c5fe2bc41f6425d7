package ops

import (
	"math"
	"testing"
)

// TestSoftmaxPlanesF32 compares the float32 middle-axis path (vecmath exponentials, lane sums)
// with the float64 lane loop on the same values, for several outer/cnt/inner splits, with ±Inf
// and NaN lanes.
func TestSoftmaxPlanesF32(t *testing.T) {
	t.Parallel()
	for _, sh := range [][3]int{{1, 3, 5}, {2, 4, 9}, {3, 1, 7}, {1, 17, 33}, {2, 5, 1000}} {
		outer, cnt, inner := sh[0], sh[1], sh[2]
		n := outer * cnt * inner
		src := make([]float32, n)
		src64 := make([]float64, n)
		for i := range src {
			src[i] = float32(math.Sin(float64(i)*0.77) * 30)
			if i%97 == 5 {
				src[i] = float32(math.Inf(-1))
			}
			if i%211 == 7 {
				src[i] = float32(math.NaN())
			}
			src64[i] = float64(src[i])
		}
		for _, logOut := range []bool{false, true} {
			kind := softmaxPlain
			if logOut {
				kind = softmaxLog
			}
			got := make([]float32, n)
			want := make([]float64, n)
			ctx := NewContext(2)
			softmaxPlanesF32(ctx, logOut, src, got, outer, cnt, inner)
			softmaxLanes(ctx, kind, src64, want, outer, cnt, inner)
			abs := 1e-37
			if logOut {
				abs = 1e-6 // log of a float32 sum near 1
			}
			for i := range got {
				g, w := float64(got[i]), want[i]
				switch {
				case math.IsNaN(w) || math.IsInf(w, 0):
					if !(math.IsNaN(w) && math.IsNaN(g)) && g != w {
						t.Fatalf("%v log=%v [%d] = %g, want %g", sh, logOut, i, g, w)
					}
				// x − max is rounded to float32 first (as onnxruntime does): e^(x−max) then
				// carries up to |x−max|·2^−24 relative error.
				case math.Abs(g-w) > (1e-6+6e-8*math.Abs(math.Log(math.Abs(w))))*math.Abs(w)+abs:
					t.Fatalf("%v log=%v [%d] = %g, want %g", sh, logOut, i, g, w)
				}
			}
		}
	}
}
