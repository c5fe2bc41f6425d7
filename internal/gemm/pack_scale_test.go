package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// TestScaleColumnsInto: A's columns scaled in the packed form are, the packing of the scaled
// matrix (each value w·s[j] in float32; a padding row's 0 may be −0), over several k-blocks and a partial last
// panel of rows, reusing a destination packed for another shape; and the product with the
// scaled weights matches the float64 A·diag(s)·B.
func TestScaleColumnsInto(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		r := rand.New(rand.NewPCG(5, 6))
		var dst PackedA
		var wide []float32
		for _, sh := range []struct{ m, k, n int }{{16, 32, 64}, {112, 672, 40}, {13, 700, 33}, {7, 5, 9}, {40, 1500, 17}} {
			t.Run(fmt.Sprintf("%dx%dx%d", sh.m, sh.k, sh.n), func(t *testing.T) {
				a, s, b := randSlice(r, sh.m*sh.k), randSlice(r, sh.k), randSlice(r, sh.k*sh.n)
				pa, err := packAOn(x, false, sh.m, sh.k, a, sh.k)
				if err != nil {
					t.Fatal(err)
				}
				if err := pa.ScaleColumnsInto(&dst, s, &wide); err != nil {
					t.Fatal(err)
				}
				scaled := make([]float32, len(a))
				for i := range scaled {
					scaled[i] = a[i] * s[i%sh.k]
				}
				want, err := packAOn(x, false, sh.m, sh.k, scaled, sh.k)
				if err != nil {
					t.Fatal(err)
				}
				if dst.m != want.m || dst.k != want.k || dst.panels != want.panels || dst.kb != want.kb || dst.level != want.level || len(dst.data) != len(want.data) {
					t.Fatalf("scaled packing %d×%d (%d panels, k-block %d, %d values), want %d×%d (%d, %d, %d)",
						dst.m, dst.k, dst.panels, dst.kb, len(dst.data), want.m, want.k, want.panels, want.kb, len(want.data))
				}
				for i := range want.data { // == : the zero rows that pad the last panel may turn −0
					if dst.data[i] != want.data[i] {
						t.Fatalf("packed value %d = %g, want %g", i, dst.data[i], want.data[i])
					}
				}
				c := make([]float32, sh.m*sh.n)
				if err := SgemmPackedA(&dst, false, sh.n, 1, b, sh.n, 0, c, sh.n, 2, nil); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < sh.m; i++ {
					for j := 0; j < sh.n; j++ {
						var sum, mag float64
						for p := 0; p < sh.k; p++ {
							v := float64(a[i*sh.k+p]) * float64(s[p]) * float64(b[p*sh.n+j])
							sum += v
							mag += math.Abs(v)
						}
						if d := math.Abs(float64(c[i*sh.n+j]) - sum); d > 1e-5*mag+1e-6 {
							t.Fatalf("C[%d,%d] = %g, want %g", i, j, c[i*sh.n+j], sum)
						}
					}
				}
			})
		}
		if err := (&PackedA{k: 3}).ScaleColumnsInto(&dst, make([]float32, 2), &wide); err == nil {
			t.Fatal("3 columns scaled by 2 values: no error")
		}
	})
}
