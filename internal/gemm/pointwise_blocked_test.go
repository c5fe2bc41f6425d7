package gemm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// TestPointwiseBlocked checks every PointwiseBlocked kernel (AVX-512 and Go) against the float64
// sum, with and without a bias, for pixel counts that leave every remainder of the kernel's
// 16- and 8-pixel groups and depths from one input plane to more than a register's worth; a
// pixel's result must not depend on the group it falls in, and nothing past the last pixel may
// be written.
func TestPointwiseBlocked(t *testing.T) {
	t.Parallel()
	const cb = ChannelBlock
	r := rand.New(rand.NewPCG(71, 72))
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, k := range []int{1, 3, 16, 24, 41} {
			for _, withBias := range []bool{false, true} {
				for n := 0; n <= 43; n++ {
					lds := n + 5
					xs := make([]float32, k*lds)
					for i := range xs {
						xs[i] = r.Float32()*2 - 1
					}
					w := make([]float32, cb*k)
					for i := range w {
						w[i] = r.Float32()*2 - 1
					}
					var bias []float32
					if withBias {
						bias = make([]float32, cb)
						for i := range bias {
							bias[i] = r.Float32()*4 - 2
						}
					}
					dst := make([]float32, cb*n+cb)
					dst[cb*n] = 42
					if err := pointwiseBlockedOn(x, dst, xs, lds, n, k, w, bias); err != nil {
						t.Fatal(err)
					}
					for p := range n {
						for c := range cb {
							var want float64
							if bias != nil {
								want = float64(bias[c])
							}
							for q := range k {
								want += float64(xs[q*lds+p]) * float64(w[q*cb+c])
							}
							if got := dst[cb*p+c]; math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
								t.Fatalf("k %d, n %d, bias %v: pixel %d channel %d = %g, want %g", k, n, withBias, p, c, got, want)
							}
						}
					}
					if dst[cb*n] != 42 {
						t.Fatalf("k %d, n %d: wrote past the last pixel", k, n)
					}
					// The last pixel alone, from its own offset: the same bits as in the row.
					if n > 0 {
						one := make([]float32, cb)
						if err := pointwiseBlockedOn(x, one, xs[n-1:], lds, 1, k, w, bias); err != nil {
							t.Fatal(err)
						}
						for c := range cb {
							if one[c] != dst[cb*(n-1)+c] {
								t.Fatalf("k %d, n %d: the last pixel alone gives %g in channel %d, in its row %g", k, n, one[c], c, dst[cb*(n-1)+c])
							}
						}
					}
				}
			}
		}
	})
	if err := PointwiseBlocked(make([]float32, 16), make([]float32, 4), 4, 2, 1, make([]float32, 16), nil); err == nil {
		t.Fatal("a destination of one pixel for two was accepted")
	}
}
