package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// TestWideRowTiles checks the AVX-512 tiles of the 1 to 11 rows that a product of packed weights
// leaves below its 12-row tiles (16 output channels are 12 + 4, 80 are 72 + 8), read from one
// panel or from two, with B packed and read in place through offsets: against the float64
// reference, nothing written past C's columns, bit for bit against the AVX2 6×16 tiles, whose
// sums run in the same order (within one k-block), and on three threads (a split by rows starts
// tiles at odd panels) bit for bit as on one. The column counts give whole pairs of panels, a
// pair whose second panel is partly past C (through the edge tile), and a last single panel.
func TestWideRowTiles(t *testing.T) {
	t.Parallel()
	if !simd.Host().Wide() {
		t.Skip("no AVX-512")
	}
	for m := 1; m <= 5*mr; m++ {
		for i, n := range []int{32, 50, 80} {
			// 1000: four k-blocks, and enough work for three threads (by rows where m > 12, n = 32).
			k := []int{1, 70, 1000}[(m+i)%3]
			for _, beta := range []float32{0, 1} {
				for _, indirect := range []bool{false, true} {
					name := fmt.Sprintf("m=%d,n=%d,k=%d,beta=%g,indirect=%v", m, n, k, beta, indirect)
					r := rand.New(rand.NewPCG(uint64(m), uint64(n*100+k)))
					a := randSlice(r, m*k)
					const ldc = 83 // C's rows are wider than n: columns past n must stay as they are
					c0 := randSlice(r, m*ldc)
					b, data, offs := wideRowsB(r, k, n)
					want := refGemm(false, false, m, n, k, 1, a, k, b, n, beta, c0, ldc)
					var outs [3][]float32
					for q, run := range []struct {
						x       simd.Level
						threads int
					}{{simd.Host(), 1}, {simd.AVX2, 1}, {simd.Host(), 3}} {
						x := run.x
						pa, err := packAOn(x, false, m, k, a, k)
						if err != nil {
							t.Fatal(err)
						}
						c := append([]float32(nil), c0...)
						if indirect {
							err = SgemmPackedAIndirect(pa, n, IndirectB{Data: data, Offsets: offs}, beta, c, ldc, run.threads, nil)
						} else {
							err = SgemmPackedA(pa, false, n, 1, b, n, beta, c, ldc, run.threads, nil)
						}
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						outs[q] = c
					}
					for e, got := range outs[0] {
						i, j := e/ldc, e%ldc
						if j >= n {
							if got != c0[e] {
								t.Fatalf("%s: C[%d,%d], past the product's columns, = %g, was %g", name, i, j, got, c0[e])
							}
							continue
						}
						if w := want[e]; math.Abs(float64(got)-w) > 1e-5*float64(k+1)*(1+math.Abs(w)) {
							t.Fatalf("%s: C[%d,%d] = %g, want %g", name, i, j, got, w)
						}
						if k <= kc && math.Float32bits(got) != math.Float32bits(outs[1][e]) { // AVX2's k-blocks are longer
							t.Fatalf("%s: C[%d,%d] = %g with AVX-512, %g with AVX2", name, i, j, got, outs[1][e])
						}
						if math.Float32bits(got) != math.Float32bits(outs[2][e]) {
							t.Fatalf("%s: C[%d,%d] = %g on one thread, %g on three", name, i, j, got, outs[2][e])
						}
					}
				}
			}
		}
	}
}

// wideRowsB returns a k×n B as a matrix and the same rows at shuffled places in one buffer, with
// their offsets, as an indirect B.
func wideRowsB(r *rand.Rand, k, n int) (b, data []float32, offs []int) {
	b = randSlice(r, k*n)
	ld := ceilDiv(n, nr)*nr + 3
	data = randSlice(r, k*ld)
	offs = make([]int, k)
	for p, at := range r.Perm(k) {
		offs[p] = at * ld
		copy(data[at*ld:], b[p*n:(p+1)*n])
	}
	return b, data, offs
}
