package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// refGemm is the float64 triple loop every path is checked against.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, len(c))
	for i := range c {
		out[i] = float64(c[i])
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				ai, bi := i*lda+p, p*ldb+j
				if transA {
					ai = p*lda + i
				}
				if transB {
					bi = j*ldb + p
				}
				av, bv := a[ai], b[bi]
				s += float64(av) * float64(bv)
			}
			prev := float64(c[i*ldc+j])
			if beta == 0 {
				prev = 0
			}
			out[i*ldc+j] = float64(alpha)*s + float64(beta)*prev
		}
	}
	return out
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra leading-dimension slack
}

func (c gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,%dx%dx%d,alpha=%g,beta=%g,pad=%d", c.transA, c.transB, c.m, c.n, c.k, c.alpha, c.beta, c.pad)
}

func gemmCases() []gemmCase {
	var cases []gemmCase
	sizes := []int{1, 2, 5, 6, 7, 15, 16, 17, 31, 33, 67}
	i := 0
	for _, m := range sizes {
		for _, n := range sizes {
			k := sizes[(i*7)%len(sizes)]
			cases = append(cases, gemmCase{i%2 == 1, i%3 == 1, m, n, k, 1, 0, i % 3})
			i++
		}
	}
	cases = append(cases,
		gemmCase{false, false, 13, 29, 0, 1, 0.5, 0},
		gemmCase{false, false, 150, 40, 300, 0.5, 2, 3},  // crosses mc and kc
		gemmCase{true, true, 70, 2100, 20, -1, 1, 1},     // crosses nc
		gemmCase{false, true, 37, 53, 531, 1.5, -0.5, 2}, // three k-blocks
		gemmCase{true, false, 200, 300, 70, 1, 1, 0},     // enough work to split across threads
		// Column counts in whole 32-wide tiles, where the wide kernel reads A in place.
		gemmCase{false, false, 29, 64, 45, 1, 0, 1},
		gemmCase{false, true, 197, 96, 331, 1, 0.5, 2}, // crosses mc and kc, with a row tail
		gemmCase{false, false, 24, 800, 20, 1, 0, 0},   // crosses nc and ncPacked
		gemmCase{false, false, 36, 64, 7, 2, 1, 3},     // alpha ≠ 1: packed
		gemmCase{false, false, 30, 50, 400, 1, 0, 1},   // a last partial panel over two k-blocks
		gemmCase{false, false, 1, 820, 531, 1, 0.5, 1}, // one row: four panels at a time, across ncPacked and k-blocks
		gemmCase{false, true, 2, 100, 9, 1, 0, 0},      // two rows, four panels and a partial one
	)
	return cases
}

func checkGemm(t *testing.T, tc gemmCase, threads int, run func(a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.n*1000+tc.k)))
	aRows, aCols := tc.m, tc.k
	if tc.transA {
		aRows, aCols = tc.k, tc.m
	}
	bRows, bCols := tc.k, tc.n
	if tc.transB {
		bRows, bCols = tc.n, tc.k
	}
	lda, ldb, ldc := max(aCols, 1)+tc.pad, max(bCols, 1)+tc.pad, tc.n+tc.pad
	a := randSlice(r, aRows*lda)
	b := randSlice(r, bRows*ldb)
	c := randSlice(r, tc.m*ldc)
	if tc.beta == 0 {
		// C must not be read when beta is 0: NaNs here would leak into the result.
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	want := refGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	if err := run(a, lda, b, ldb, c, ldc); err != nil {
		t.Fatalf("%v: %v", tc, err)
	}
	tol := 1e-5 * float64(tc.k+1)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			got, w := float64(c[i*ldc+j]), want[i*ldc+j]
			if j >= tc.n {
				if tc.beta == 0 && !math.IsNaN(got) {
					t.Fatalf("%v threads=%d: wrote outside C at (%d,%d)", tc, threads, i, j)
				}
				continue
			}
			if math.Abs(got-w) > tol*(1+math.Abs(w)) || math.IsNaN(got) {
				t.Fatalf("%v threads=%d: C[%d,%d] = %g, want %g", tc, threads, i, j, got, w)
			}
		}
	}
}

// forEachKernel runs fn, in parallel subtests, with each kernel level this machine has: the
// 12×32 AVX-512 tile with the 6×16 assembly, the 6×16 assembly alone, and the pure-Go kernel.
func forEachKernel(t *testing.T, fn func(t *testing.T, x simd.Level)) {
	for x := simd.Go; x <= simd.Host(); x++ {
		t.Run(x.String(), func(t *testing.T) {
			t.Parallel()
			fn(t, x)
		})
	}
}

// sgemmOn is Sgemm with the kernels of level x.
func sgemmOn(x simd.Level, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) error {
	return sgemmFusedOn(x, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads, nil)
}

func TestSgemm(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, tc := range gemmCases() {
			for _, threads := range []int{1, 3} {
				checkGemm(t, tc, threads, func(a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
					return sgemmOn(x, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc, threads)
				})
			}
		}
	})
}

func TestSgemmPacked(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, tc := range gemmCases() {
			for _, threads := range []int{1, 2} {
				checkGemm(t, tc, threads, func(a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
					pb, err := packBOn(x, tc.transB, tc.k, tc.n, b, ldb)
					if err != nil {
						return err
					}
					return SgemmPackedB(tc.transA, tc.m, tc.alpha, a, lda, pb, tc.beta, c, ldc, threads, nil)
				})
				checkGemm(t, tc, threads, func(a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
					pa, err := packAOn(x, tc.transA, tc.m, tc.k, a, lda)
					if err != nil {
						return err
					}
					return SgemmPackedA(pa, tc.transB, tc.n, tc.alpha, b, ldb, tc.beta, c, ldc, threads, nil)
				})
			}
		}
	})
}

func TestEpilogue(t *testing.T) {
	t.Parallel()
	const m, n, k = 20, 37, 9
	r := rand.New(rand.NewPCG(1, 2))
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	rowBias, colBias := randSlice(r, m), randSlice(r, n)
	residual := randSlice(r, m*(n+2)) // row stride n+2
	const sentinel = -5               // in C's padding columns (ldc > n): the epilogue must leave it
	for _, perRow := range []bool{false, true} {
		for _, withResidual := range []bool{false, true} {
			for _, ldc := range []int{n, n + 3} {
				for _, threads := range []int{1, 2} {
					bias := colBias
					if perRow {
						bias = rowBias
					}
					ep := &Epilogue{Bias: bias, BiasPerRow: perRow, Elementwise: reluForTest}
					if withResidual {
						ep.Residual, ep.ResidualLd = residual, n+2
					}
					c := make([]float32, m*ldc)
					for i := range c {
						c[i] = sentinel
					}
					if err := SgemmFused(false, false, m, n, k, 1, a, k, b, n, 0, c, ldc, threads, ep); err != nil {
						t.Fatal(err)
					}
					want := refGemm(false, false, m, n, k, 1, a, k, b, n, 0, make([]float32, m*n), n)
					name := fmt.Sprintf("perRow=%v residual=%v ldc=%d threads=%d", perRow, withResidual, ldc, threads)
					for i := 0; i < m; i++ {
						for j := 0; j < ldc; j++ {
							w := float64(sentinel)
							if j < n {
								var bv float32
								if perRow {
									bv = bias[i]
								} else {
									bv = bias[j]
								}
								var rv float32
								if withResidual {
									rv = residual[i*(n+2)+j]
								}
								w = math.Max(want[i*n+j]+float64(bv)+float64(rv), 0)
							}
							if math.Abs(float64(c[i*ldc+j])-w) > 1e-4 {
								t.Fatalf("%s: C[%d,%d] = %g, want %g", name, i, j, c[i*ldc+j], w)
							}
						}
					}
				}
			}
		}
	}
}

func TestSgemmRejectsBadShapes(t *testing.T) {
	t.Parallel()
	a, b, c := make([]float32, 6), make([]float32, 6), make([]float32, 4)
	tests := []struct {
		name string
		err  error
	}{
		{"short A", Sgemm(false, false, 2, 2, 4, 1, a, 4, b, 2, 0, c, 2, 1)},
		{"small lda", Sgemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2, 1)},
		{"short C", Sgemm(false, false, 2, 3, 3, 1, a, 3, b, 3, 0, c, 3, 1)},
		{"bias length", SgemmFused(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2, 1, &Epilogue{Bias: []float32{1}})},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

// TestSgemmPackedAWith feeds B through a BPacker that packs an ordinary matrix, so the result
// must equal the plain product.
func TestSgemmPackedAWith(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, tc := range gemmCases() {
			if tc.transB || tc.alpha != 1 {
				continue
			}
			checkGemm(t, tc, 2, func(a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
				pa, err := packAOn(x, tc.transA, tc.m, tc.k, a, lda)
				if err != nil {
					return err
				}
				packer := func(dst []float32, p0, kcb, j0, ncb int) {
					packB(simd.Host(), dst, b, ldb, false, p0, kcb, j0, ncb, 1)
				}
				return SgemmPackedAWith(pa, tc.n, packer, tc.beta, c, ldc, 2, nil)
			})
		}
	})
}

// shuffledRows returns an indirect B of k random rows of n values, each padded to whole panels
// and pad values more, stored in a shuffled order (data, and each row's offset in it), and the
// same rows in order (k×n).
func shuffledRows(r *rand.Rand, k, n, pad int) (data []float32, offs []int, gathered []float32) {
	ld := ceilDiv(n, nr)*nr + pad
	data = randSlice(r, k*ld)
	offs = make([]int, k)
	gathered = make([]float32, k*n)
	for p, src := range r.Perm(k) {
		offs[p] = src * ld
		copy(gathered[p*n:(p+1)*n], data[src*ld:src*ld+n])
	}
	return data, offs, gathered
}

// TestSgemmPackedAIndirect reads B rows through a shuffled offset table from one buffer and
// compares with the product of the gathered matrix.
func TestSgemmPackedAIndirect(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, tc := range gemmCases() {
			if tc.transA || tc.alpha != 1 || tc.k == 0 {
				continue
			}
			r := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.n)))
			data, offs, gathered := shuffledRows(r, tc.k, tc.n, tc.pad)
			a := randSlice(r, tc.m*tc.k)
			c := make([]float32, tc.m*tc.n)
			want := refGemm(false, false, tc.m, tc.n, tc.k, 1, a, tc.k, gathered, tc.n, 0, c, tc.n)
			pa, err := packAOn(x, false, tc.m, tc.k, a, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			if err := SgemmPackedAIndirect(pa, tc.n, IndirectB{Data: data, Offsets: offs}, 0, c, tc.n, 2, nil); err != nil {
				t.Fatalf("%v: %v", tc, err)
			}
			for i, w := range want {
				if math.Abs(float64(c[i])-w) > 1e-5*float64(tc.k+1)*(1+math.Abs(w)) {
					t.Fatalf("%v: C[%d] = %g, want %g", tc, i, c[i], w)
				}
			}
		}
	})
	pa, _ := PackA(false, 2, 2, []float32{1, 2, 3, 4}, 2)
	if err := SgemmPackedAIndirect(pa, 3, IndirectB{Data: make([]float32, 20), Offsets: []int{0, 10}}, 0, make([]float32, 6), 3, 1, nil); err == nil {
		t.Error("short indirect B: no error")
	}
}

// TestSgemmPackedAIndirectRows computes ranges of rows of indirect products on their own: each
// row within the float64 product's tolerance and bit for bit the whole product's row (the
// Winograd lowering's split tails rely on it), the rows outside the range not written, and a
// range that does not start on a 12-row tile refused.
func TestSgemmPackedAIndirectRows(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		r := rand.New(rand.NewPCG(61, 62))
		for _, tc := range []struct{ m, n, k, i0, i1 int }{
			{132, 4, 128, 72, 132}, {132, 4, 128, 0, 72}, {132, 36, 128, 72, 132}, {72, 16, 64, 0, 36},
			{24, 1, 5, 12, 24}, {30, 17, 700, 12, 29}, {132, 64, 128, 24, 96}, {40, 3, 9, 12, 12},
		} {
			data, offs, gathered := shuffledRows(r, tc.k, tc.n, 3)
			a := randSlice(r, tc.m*tc.k)
			want := refGemm(false, false, tc.m, tc.n, tc.k, 1, a, tc.k, gathered, tc.n, 0, make([]float32, tc.m*tc.n), tc.n)
			pa, err := packAOn(x, false, tc.m, tc.k, a, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			b := IndirectB{Data: data, Offsets: offs}
			whole := make([]float32, tc.m*tc.n)
			if err := SgemmPackedAIndirect(pa, tc.n, b, 0, whole, tc.n, 1, nil); err != nil {
				t.Fatal(err)
			}
			c := make([]float32, tc.m*tc.n)
			for i := range c {
				c[i] = -7
			}
			if err := SgemmPackedAIndirectRows(pa, tc.i0, tc.i1, tc.n, b, c, tc.n); err != nil {
				t.Fatalf("%+v: %v", tc, err)
			}
			for i, v := range c {
				row := i / tc.n
				if row < tc.i0 || row >= tc.i1 {
					if v != -7 {
						t.Fatalf("%+v: C[%d] (row %d) written: %g", tc, i, row, v)
					}
					continue
				}
				if math.Abs(float64(v)-want[i]) > 1e-5*float64(tc.k+1)*(1+math.Abs(want[i])) {
					t.Fatalf("%+v: C[%d] = %g, want %g", tc, i, v, want[i])
				}
				if math.Float32bits(v) != math.Float32bits(whole[i]) {
					t.Fatalf("%+v: C[%d] = %g, the whole product's %g", tc, i, v, whole[i])
				}
			}
		}
	})
	pa, _ := PackA(false, 24, 2, make([]float32, 48), 2)
	b := IndirectB{Data: make([]float32, 64), Offsets: []int{0, 16}}
	if err := SgemmPackedAIndirectRows(pa, 6, 24, 3, b, make([]float32, 72), 3); err == nil {
		t.Error("rows from 6: no error")
	}
	if err := SgemmPackedAIndirectRows(pa, 12, 25, 3, b, make([]float32, 72), 3); err == nil {
		t.Error("rows past A: no error")
	}
}

// TestAddVectors checks the epilogue's bias kernels and the packing's scale kernel at every
// length through the 32-, 8- and 1-value loops; dst[n] must stay untouched.
func TestAddVectors(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		r := rand.New(rand.NewPCG(5, 6))
		for n := 0; n <= 80; n++ {
			dst, src := randSlice(r, n+1), randSlice(r, n)
			want := append([]float32(nil), dst...)
			for i := range src {
				want[i] += src[i]
			}
			addRowF32(x, dst[:n], src)
			addScalarF32(x, dst[:n], 0.25)
			scaleF32(x, dst[:n], -1.5)
			for i := range want[:n] {
				want[i] = (want[i] + 0.25) * -1.5
			}
			for i, w := range want {
				if dst[i] != w {
					t.Fatalf("n=%d: dst[%d] = %g, want %g", n, i, dst[i], w)
				}
			}
		}
	})
}

// Columns sees each piece of a row of C with the column of its first value, after the bias and
// Elementwise, in products whose columns are cut into several blocks (n past nc and ncPacked)
// and among threads.
func TestEpilogueColumns(t *testing.T) {
	t.Parallel()
	const m, k = 29, 11
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{45, 600, 1000} {
		a, b := randSlice(r, m*k), randSlice(r, k*n)
		bias, scale := randSlice(r, n), randSlice(r, n)
		ep := &Epilogue{
			Bias:        bias,
			Elementwise: reluForTest,
			Columns: func(dst []float32, col0 int) {
				for q := range dst {
					dst[q] = dst[q]*scale[col0+q] + float32(col0+q)
				}
			},
		}
		pb, err := PackB(false, k, n, b, n)
		if err != nil {
			t.Fatal(err)
		}
		want := refGemm(false, false, m, n, k, 1, a, k, b, n, 0, make([]float32, m*n), n)
		for _, threads := range []int{1, 2} {
			for _, packed := range []bool{false, true} {
				c := make([]float32, m*n)
				if packed {
					err = SgemmPackedB(false, m, 1, a, k, pb, 0, c, n, threads, ep)
				} else {
					err = SgemmFused(false, false, m, n, k, 1, a, k, b, n, 0, c, n, threads, ep)
				}
				if err != nil {
					t.Fatal(err)
				}
				for i := range m {
					for j := range n {
						w := math.Max(want[i*n+j]+float64(bias[j]), 0)*float64(scale[j]) + float64(j)
						if math.Abs(float64(c[i*n+j])-w) > 1e-4*(1+math.Abs(w)) {
							t.Fatalf("n=%d threads=%d packed=%v: C[%d,%d] = %g, want %g", n, threads, packed, i, j, c[i*n+j], w)
						}
					}
				}
			}
		}
	}
}

// reluForTest is a fused ReLU for the epilogue tests.
func reluForTest(dst []float32) {
	for i, v := range dst {
		dst[i] = max(v, 0)
	}
}

// TestDirectTiles covers every height of the direct-A tiles (3–12 rows, alone and as the
// balanced pair after whole 12-row tiles) and the one- and two-row kernels, against whole and
// partial 16- and 32-column panels, on one and two k-blocks, plain and with B packed ahead,
// with and without a column bias in the epilogue.
func TestDirectTiles(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for m := 1; m <= 40; m++ {
			for i, n := range []int{10, 16, 32, 45, 128} {
				k := []int{1, 64, 7, 400, 128}[(m+i)%5]
				tc := gemmCase{m: m, n: n, k: k, alpha: 1, beta: float32(m % 2), pad: m % 3}
				checkGemm(t, tc, 1, func(a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
					return sgemmOn(x, false, false, m, n, k, 1, a, lda, b, ldb, tc.beta, c, ldc, 1)
				})
				checkGemm(t, tc, 1, func(a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
					pb, err := packBOn(x, false, k, n, b, ldb)
					if err != nil {
						return err
					}
					return SgemmPackedB(false, m, 1, a, lda, pb, tc.beta, c, ldc, 1, nil)
				})
				// A column bias, which the direct tiles add in their store (the edge tiles and
				// one- or two-row products after it), taken off again for the comparison.
				bias := make([]float32, n)
				for j := range bias {
					bias[j] = float32(j%7) - 3.5
				}
				unbias := func(c []float32, ldc int) {
					for i := 0; i < m; i++ {
						for j := range bias {
							c[i*ldc+j] -= bias[j]
						}
					}
				}
				checkGemm(t, tc, 1, func(a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
					pb, err := packBOn(x, false, k, n, b, ldb)
					if err != nil {
						return err
					}
					err = SgemmPackedB(false, m, 1, a, lda, pb, tc.beta, c, ldc, 1, &Epilogue{Bias: bias})
					unbias(c, ldc)
					return err
				})
				checkGemm(t, tc, 2, func(a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
					err := sgemmFusedOn(x, false, false, m, n, k, 1, a, lda, b, ldb, tc.beta, c, ldc, 2, &Epilogue{Bias: bias})
					unbias(c, ldc)
					return err
				})
			}
		}
	})
}

// TestFewRowsSplitOverColumns checks that a product of fewer rows than a tile with enough
// columns (a classifier on one image) runs on several threads, each on its own columns, and
// gives the one-thread result bit for bit, within the float64 reference's tolerance.
func TestFewRowsSplitOverColumns(t *testing.T) {
	for _, s := range []struct{ m, n, k, want int }{
		{1, 1000, 512, 2}, // ResNet-18's classifier
		{1, 1000, 1024, 2},
		{5, 1000, 512, 2},
		{1, 144, 576, 2}, // MobileNetV3's squeeze-and-excitation convolutions, 576 → 144 → 576
		{1, 576, 144, 2},
		{1, 64, 64, 1}, // too small to hand off
	} {
		j := &job{m: s.m, n: s.n, k: s.k}
		if got := j.threadsFor(2); got != s.want {
			t.Errorf("%d×%d×%d: %d threads of 2, want %d", s.m, s.n, s.k, got, s.want)
		}
	}
	tc := gemmCase{m: 1, n: 1000, k: 512, alpha: 1}
	r := rand.New(rand.NewPCG(3, 4))
	a, b := randSlice(r, tc.k), randSlice(r, tc.k*tc.n)
	pb, err := PackB(false, tc.k, tc.n, b, tc.n)
	if err != nil {
		t.Fatal(err)
	}
	var one []float32
	for _, threads := range []int{1, 2, 3} {
		checkGemm(t, tc, threads, func(a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
			pb, err := PackB(false, tc.k, tc.n, b, ldb)
			if err != nil {
				return err
			}
			return SgemmPackedB(false, tc.m, 1, a, lda, pb, 0, c, ldc, threads, nil)
		})
		c := make([]float32, tc.n)
		if err := SgemmPackedB(false, tc.m, 1, a, tc.k, pb, 0, c, tc.n, threads, nil); err != nil {
			t.Fatal(err)
		}
		if threads == 1 {
			one = c
			continue
		}
		for i := range c {
			if math.Float32bits(c[i]) != math.Float32bits(one[i]) {
				t.Fatalf("%d threads: C[%d] = %g, one thread gives %g", threads, i, c[i], one[i])
			}
		}
	}
}

// TestSmallProductsSplit checks that products of a few tens of microseconds, MobileNetV3's 1×1
// convolutions on 14×14 and 28×28 images, are shared by two threads, and tiny ones are not.
func TestSmallProductsSplit(t *testing.T) {
	for _, s := range []struct{ m, n, k, want int }{
		{196, 40, 240, 2}, // 14×14 pixels, 240 → 40 channels
		{784, 24, 72, 2},  // 28×28 pixels, 72 → 24 channels
		{16, 32, 64, 1},
	} {
		if got := threadsForWork(s.m*s.n*s.k, 2); got != s.want {
			t.Errorf("%d×%d×%d: %d threads of 2, want %d", s.m, s.n, s.k, got, s.want)
		}
		if got := (&job{m: s.m, n: s.n, k: s.k}).threadsFor(2); got != s.want {
			t.Errorf("%d×%d×%d packed: %d threads of 2, want %d", s.m, s.n, s.k, got, s.want)
		}
	}
}

// TestEpilogueBiasedElementwise: with BiasedElementwise beside a per-row bias, the epilogue adds
// each row's own bias and applies the activation in one call per row piece — the same bits as
// the bias pass followed by Elementwise, and the float64 product's values — and with a residual
// (which must come between the bias and the activation) it keeps the separate passes.
func TestEpilogueBiasedElementwise(t *testing.T) {
	t.Parallel()
	const m, k = 29, 16
	r := rand.New(rand.NewPCG(5, 6))
	square := func(x float32) float32 { return float32(x*x) - float32(0.5*x) } // conversions: never fused
	act := func(dst []float32) {
		for q, v := range dst {
			dst[q] = square(v)
		}
	}
	for _, n := range []int{7, 49, 600, 1344} {
		a, b := randSlice(r, m*k), randSlice(r, k*n)
		bias, residual := randSlice(r, m), randSlice(r, m*n)
		pa, err := PackA(false, m, k, a, k)
		if err != nil {
			t.Fatal(err)
		}
		want := refGemm(false, false, m, n, k, 1, a, k, b, n, 0, make([]float32, m*n), n)
		for _, withResidual := range []bool{false, true} {
			for _, threads := range []int{1, 2} {
				var calls atomic.Int64
				biased := func(dst []float32, bv float32) {
					calls.Add(1)
					for q, v := range dst {
						dst[q] = square(v + bv)
					}
				}
				ep := Epilogue{Bias: bias, BiasPerRow: true, Elementwise: act}
				if withResidual {
					ep.Residual, ep.ResidualLd = residual, n
				}
				plain, fused := make([]float32, m*n), make([]float32, m*n)
				if err := SgemmPackedA(pa, false, n, 1, b, n, 0, plain, n, threads, &ep); err != nil {
					t.Fatal(err)
				}
				ep.BiasedElementwise = biased
				if err := SgemmPackedA(pa, false, n, 1, b, n, 0, fused, n, threads, &ep); err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("n=%d residual=%v threads=%d", n, withResidual, threads)
				if got := calls.Load(); withResidual && got != 0 || !withResidual && got < m {
					t.Fatalf("%s: BiasedElementwise called %d times", name, got)
				}
				for i := range m {
					for j := range n {
						x := want[i*n+j] + float64(bias[i])
						if withResidual {
							x += float64(residual[i*n+j])
						}
						w := x*x - 0.5*x
						got := fused[i*n+j]
						if math.Float32bits(got) != math.Float32bits(plain[i*n+j]) || math.Abs(float64(got)-w) > 1e-4*(1+math.Abs(w)) {
							t.Fatalf("%s: C[%d,%d] = %g, %g in two passes, want %g", name, i, j, got, plain[i*n+j], w)
						}
					}
				}
			}
		}
	}
}

// TestActivatedProductsSplitRows: a product of weights packed ahead whose epilogue goes over C
// again (an activation, over rows or columns) is shared by splitting its rows, so that each
// thread's part of C is whole rows (the epilogue's calls see whole rows from column 0); without
// such an epilogue, or where a split would end a thread's rows in a block of one or two rows
// that the whole product does not have (or the other way around), it splits columns. Every
// thread count gives the float64 product's values within tolerance on every kernel level, and
// the one-thread result bit for bit with AVX-512 (the runtime's promise) and the Go kernels.
func TestActivatedProductsSplitRows(t *testing.T) {
	t.Parallel()
	columns := func(dst []float32, col0 int) {}
	for _, s := range []struct {
		m, n, k  int
		ep       Epilogue
		packed   bool
		wantCols bool
	}{
		{197, 768, 192, Epilogue{Elementwise: reluForTest}, true, false}, // ViT-Tiny's fc1
		{197, 768, 192, Epilogue{Columns: columns}, true, false},
		{128, 512, 128, Epilogue{Elementwise: reluForTest}, true, false},
		{197, 768, 192, Epilogue{}, true, true},
		{197, 768, 192, Epilogue{Bias: make([]float32, 768)}, true, true},
		{197, 768, 192, Epilogue{Elementwise: reluForTest}, false, true}, // B not packed ahead
		{40, 768, 192, Epilogue{Elementwise: reluForTest}, true, true},   // 7 row panels
		{145, 96, 192, Epilogue{Elementwise: reluForTest}, true, true},   // the whole product ends in one row
		{296, 96, 192, Epilogue{Elementwise: reluForTest}, true, true},   // the second thread's 146 rows would
		{300, 96, 192, Epilogue{Elementwise: reluForTest}, true, false},
	} {
		j := &job{m: s.m, n: s.n, k: s.k, alpha: 1, ep: s.ep}
		if s.packed {
			j.pb = &PackedB{}
		}
		if got := j.splitsColumns(2, ceilDiv(s.m, mr), ceilDiv(s.n, nr)); got != s.wantCols {
			t.Errorf("%d×%d×%d packed=%v epilogue %+v: splits columns %v, want %v", s.m, s.n, s.k, s.packed, s.ep, got, s.wantCols)
		}
	}
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, mn := range [][2]int{{197, 768}, {145, 768}, {296, 768}, {300, 768}, {145, 96}, {296, 96}, {300, 96}} {
			m, n, k := mn[0], mn[1], 192
			r := rand.New(rand.NewPCG(uint64(m), 7))
			a, b := randSlice(r, m*k), randSlice(r, k*n)
			bias := randSlice(r, n)
			pb, err := packBOn(x, false, k, n, b, n)
			if err != nil {
				t.Fatal(err)
			}
			want := refGemm(false, false, m, n, k, 1, a, k, b, n, 0, make([]float32, m*n), n)
			var one []float32
			for _, threads := range []int{1, 2, 3} {
				var wholeRows atomic.Bool
				wholeRows.Store(true)
				ep := &Epilogue{Bias: bias, Columns: func(dst []float32, col0 int) {
					if col0 != 0 || len(dst) != n {
						wholeRows.Store(false)
					}
					for q, v := range dst {
						dst[q] = max(v, 0) * float32(1+(col0+q)%3)
					}
				}}
				c := make([]float32, m*n)
				if err := SgemmPackedB(false, m, 1, a, k, pb, 0, c, n, threads, ep); err != nil {
					t.Fatal(err)
				}
				if split := !(&job{m: m, n: n, k: k, alpha: 1, pb: pb, ep: *ep}).splitsColumns(threads, ceilDiv(m, mr), ceilDiv(n, nr)); split && !wholeRows.Load() {
					t.Errorf("%d×%d threads=%d: the epilogue saw pieces of rows where the rows were split", m, n, threads)
				}
				for i := range m {
					for j := range n {
						w := math.Max(want[i*n+j]+float64(bias[j]), 0) * float64(1+j%3)
						if math.Abs(float64(c[i*n+j])-w) > 1e-5*float64(k+1)*(1+math.Abs(w)) {
							t.Fatalf("%d×%d threads=%d: C[%d,%d] = %g, want %g", m, n, threads, i, j, c[i*n+j], w)
						}
					}
				}
				if threads == 1 {
					one = c
					continue
				}
				if x == simd.AVX2 {
					continue // one thread reads A's last one or two rows in place there, not packed
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(one[i]) {
						t.Fatalf("%d×%d threads=%d: C[%d,%d] = %g, one thread gives %g", m, n, threads, i/n, i%n, c[i], one[i])
					}
				}
			}
		}
	})
}
