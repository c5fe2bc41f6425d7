package gemm

import (
	"fmt"
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/testutil"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmGather checks the gathered-A product against a float64 product of the explicitly
// gathered matrix: edge tiles in both directions, several k blocks, one and two threads, an
// ldc wider than n, and offsets that overlap (as a convolution's windows do).
func TestSgemmGather(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, tc := range []struct{ m, n, k int }{
			{1, 1, 1}, {7, 64, 9}, {6, 63, 10}, {8, 65, 3}, {49, 128, 4608 / 8}, {50, 130, 1100}, {22, 256, 17},
			{7, 32, 27}, {30, 96, 600}, {12, 160, 9}, // the 7×32 tile: multiples of 32, not of 64
			{10, 16, 27}, {23, 48, 27}, {100, 80, 75}, {9, 16, 600}, // the 10×16 tile: odd multiples of 16
		} {
			r := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.k)))
			data := randSlice(r, 3*tc.m+2*tc.k+5)
			rows, cols := make([]int, tc.m), make([]int, tc.k)
			for i := range rows {
				rows[i] = r.IntN(3*tc.m + 1)
			}
			for p := range cols {
				cols[p] = r.IntN(2*tc.k + 1)
			}
			a := make([]float32, tc.m*tc.k)
			for i := range rows {
				for p := range cols {
					a[i*tc.k+p] = data[rows[i]+cols[p]]
				}
			}
			w := randSlice(r, tc.n*tc.k) // n×k: B = wᵀ
			ldc := tc.n + 3
			want := refGemm(false, true, tc.m, tc.n, tc.k, 1, a, tc.k, w, tc.k, 0, make([]float32, tc.m*ldc), ldc)
			pb, err := packBTransposedOn(x, tc.n, tc.k, w, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			for _, threads := range []int{1, 2} {
				c := randSlice(r, tc.m*ldc) // overwritten, except the gaps past n
				gap := c[tc.n]
				if err := SgemmGather(GatherA{Data: data, Rows: rows, Cols: cols}, pb, c, ldc, threads); err != nil {
					t.Fatalf("%v: %v", tc, err)
				}
				for i := 0; i < tc.m; i++ {
					for j := 0; j < tc.n; j++ {
						got, w := float64(c[i*ldc+j]), want[i*ldc+j]
						if math.Abs(got-w) > 1e-5*float64(tc.k+1)*(1+math.Abs(w)) || math.IsNaN(got) {
							t.Fatalf("%v threads=%d: C[%d,%d] = %g, want %g", tc, threads, i, j, got, w)
						}
					}
				}
				if c[tc.n] != gap {
					t.Fatalf("%v threads=%d: C past column n was written", tc, threads)
				}
			}
		}
	})
}

func TestSgemmGatherRejectsBadOperands(t *testing.T) {
	t.Parallel()
	pb, err := PackBTransposed(2, 3, make([]float32, 6), 3)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]float32, 10)
	for _, tc := range []struct {
		name string
		a    GatherA
		c    []float32
	}{
		{"offsets past the data", GatherA{Data: data, Rows: []int{0, 8}, Cols: []int{0, 1, 2}}, make([]float32, 4)},
		{"negative offset", GatherA{Data: data, Rows: []int{0, 1}, Cols: []int{-2, 1, 0}}, make([]float32, 4)},
		{"wrong k", GatherA{Data: data, Rows: []int{0, 1}, Cols: []int{0, 1}}, make([]float32, 4)},
		{"short C", GatherA{Data: data, Rows: []int{0, 1}, Cols: []int{0, 1, 2}}, make([]float32, 3)},
	} {
		if err := SgemmGather(tc.a, pb, tc.c, 2, 1); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := PackBTransposed(2, 3, make([]float32, 5), 3); err == nil {
		t.Error("short W: no error")
	}
}

// BenchmarkSgemmGather runs ResNet-18's late 3×3 convolutions as gathered products (one
// thread): 14×14 and 7×7 outputs, where a padded-width grid wastes 14% and 31% of its tiles.
func BenchmarkSgemmGather(b *testing.B) {
	for _, sh := range []struct{ c, hw, m int }{{64, 56, 64}, {128, 28, 128}, {256, 14, 256}, {512, 7, 512}} {
		b.Run(fmt.Sprintf("c%d_hw%d_m%d", sh.c, sh.hw, sh.m), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			pw := sh.hw + 2
			data := randSlice(r, sh.c*pw*pw)
			rows := make([]int, 0, sh.hw*sh.hw)
			for y := 0; y < sh.hw; y++ {
				for x := 0; x < sh.hw; x++ {
					rows = append(rows, y*pw+x)
				}
			}
			cols := make([]int, 0, sh.c*9)
			for c := 0; c < sh.c; c++ {
				for ky := 0; ky < 3; ky++ {
					for kx := 0; kx < 3; kx++ {
						cols = append(cols, c*pw*pw+ky*pw+kx)
					}
				}
			}
			pb, err := PackBTransposed(sh.m, len(cols), randSlice(r, sh.m*len(cols)), len(cols))
			if err != nil {
				b.Fatal(err)
			}
			out := make([]float32, len(rows)*sh.m)
			flops := 2 * float64(len(rows)*sh.m*len(cols))
			start := testutil.ProcessCPU()
			for b.Loop() {
				if err := SgemmGather(GatherA{Data: data, Rows: rows, Cols: cols}, pb, out, sh.m, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			testutil.ReportCPU(b, start, flops)
		})
	}
}

// TestTapSum checks the depthwise tap sum against float64 sums for lengths around its block.
func TestTapSum(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, n := range []int{1, 31, 32, 33, 100, 224} {
			for _, taps := range []int{0, 1, 9, 25} {
				offs := make([]int, taps)
				for i := range offs {
					offs[i] = r.IntN(50)
				}
				w := randSlice(r, taps)
				src := randSlice(r, 50+ceilDiv(n, TapBlock)*TapBlock)
				dst := randSlice(r, ceilDiv(n, TapBlock)*TapBlock)
				bias := float32(r.NormFloat64())
				if err := tapSumOn(x, dst, src, offs, w, bias, n); err != nil {
					t.Fatal(err)
				}
				for j := 0; j < n; j++ {
					want := float64(bias)
					for k, off := range offs {
						want += float64(w[k]) * float64(src[off+j])
					}
					if math.Abs(float64(dst[j])-want) > 1e-5*(1+math.Abs(want)) {
						t.Fatalf("n %d taps %d: dst[%d] = %g, want %g", n, taps, j, dst[j], want)
					}
				}
			}
		}
		if err := tapSumOn(x, make([]float32, 32), make([]float32, 40), []int{9}, []float32{1}, 0, 32); err == nil {
			t.Error("taps past src: no error")
		}
		if err := tapSumOn(x, make([]float32, 31), make([]float32, 64), []int{0}, []float32{1}, 0, 31); err == nil {
			t.Error("short dst: no error")
		}
	})
}

// TestTransposeEpilogue checks the transposition into planes for shapes around its 8×8 squares
// and AVX-512's 16×16 ones (their rows and columns left over for the 8×8 squares and Go),
// with and without each part of its epilogue (bias, residual, ReLU), against the values computed
// one by one in float32 in the same order — bias, then residual, then Go's max(v, 0): NaN kept,
// −0 turned into +0, as vecmath.Relu. The sources hold NaN, ±0 and values whose sum with the
// bias is −0.
func TestTransposeEpilogue(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, sh := range [][2]int{{1, 1}, {8, 8}, {9, 17}, {64, 16}, {49, 64}, {23, 5}, {16, 24}, {40, 40}, {33, 20}} {
			rows, cols := sh[0], sh[1]
			lds, ldd := cols+3, rows+2
			src, bias, res := randSlice(r, rows*lds), randSlice(r, cols), randSlice(r, cols*ldd)
			bias[0] = float32(math.Copysign(0, -1)) // −0 + −0 reaches ReLU as −0
			for i := range src {
				switch i % 11 {
				case 3:
					src[i] = float32(math.NaN())
				case 5:
					src[i] = float32(math.Copysign(0, -1))
				case 7:
					src[i] = -bias[i%lds%cols] // + bias is +0; with a residual, anything
				}
			}
			for variant := range 8 {
				withBias, withRes, relu := variant&1 != 0, variant&2 != 0, variant&4 != 0
				e := PlaneEpilogue{Relu: relu}
				if withBias {
					e.Bias = bias
				}
				if withRes {
					e.Residual = res
				}
				dst := randSlice(r, cols*ldd)
				if err := transposeEpilogueOn(x, dst, ldd, src, lds, rows, cols, e); err != nil {
					t.Fatal(err)
				}
				for c := 0; c < cols; c++ {
					for i := 0; i < rows; i++ {
						want := src[i*lds+c] + 0 // no bias adds +0: −0 comes out +0
						if withBias {
							want = src[i*lds+c] + bias[c]
						}
						if withRes {
							want += res[c*ldd+i]
						}
						if relu {
							want = max(want, 0)
						}
						if got := dst[c*ldd+i]; math.Float32bits(got) != math.Float32bits(want) && !(want != want && got != got) {
							t.Fatalf("%v bias %v residual %v relu %v: dst[%d][%d] = %g, want %g", sh, withBias, withRes, relu, c, i, got, want)
						}
					}
				}
			}
		}
		if err := transposeEpilogueOn(x, make([]float32, 10), 4, make([]float32, 16), 4, 4, 4, PlaneEpilogue{}); err == nil {
			t.Error("short dst: no error")
		}
		if err := transposeEpilogueOn(x, make([]float32, 16), 4, make([]float32, 16), 4, 4, 4, PlaneEpilogue{Residual: make([]float32, 15)}); err == nil {
			t.Error("short residual: no error")
		}
	})
}

// TestDeinterleave checks the column-phase split for lengths around its 16-value blocks.
func TestDeinterleave(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		r := rand.New(rand.NewPCG(9, 10))
		for n := 0; n <= 70; n++ {
			src := randSlice(r, n)
			even, odd := make([]float32, (n+1)/2), make([]float32, n/2)
			deinterleaveOn(x, even, odd, src)
			for i, v := range src {
				got := even
				if i%2 == 1 {
					got = odd
				}
				if got[i/2] != v {
					t.Fatalf("n %d: element %d (%g) landed as %g", n, i, v, got[i/2])
				}
			}
		}
	})
}

// TestPanelOf checks which row-major B PanelOf takes as the gather tile's panel in place — n
// equal to the host's tile width for n: 16 on every vector level, 32 and 64 with AVX-512 — and
// that SgemmDenseA through it computes A·B.
func TestPanelOf(t *testing.T) {
	t.Parallel()
	x := simd.Host()
	for _, n := range []int{8, 16, 17, 32, 48, 64} {
		_, nr := gatherTile(x, n)
		r := rand.New(rand.NewPCG(uint64(n), 7))
		const m, k = 17, 19
		a, b := randSlice(r, m*k), randSlice(r, k*n)
		panel, ok := PanelOf(k, n, b, n)
		if want := x.Asm() && n == nr; ok != want {
			t.Fatalf("n=%d: PanelOf ok = %v, want %v", n, ok, want)
		}
		if !ok {
			continue
		}
		want := refGemm(false, false, m, n, k, 1, a, k, b, n, 0, make([]float32, m*n), n)
		c := make([]float32, m*n)
		if err := SgemmDenseA(m, a, k, &panel, c, n, 1); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if math.Abs(float64(c[i])-w) > 1e-5*float64(k+1)*(1+math.Abs(w)) {
				t.Fatalf("n=%d: C[%d] = %g, want %g", n, i, c[i], w)
			}
		}
	}
}

// TestPadPlanes checks PadPlanes against the padding written out value by value, on every
// kernel level, for narrow rows (the AVX-512 kernel's, up to 16 values) and wider ones, with
// the destination filled with NaN first (every padded value must be written) and guard values
// after it (none past it may be).
func TestPadPlanes(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, pw := range []int{1, 2, 6, 10, 15, 16, 17, 30} {
			for left := 0; left <= min(2, pw); left++ {
				for _, iw := range []int{0, 1, pw - left - 1, pw - left} {
					if iw < 0 || left+iw > pw {
						continue
					}
					for _, g := range []struct{ planes, ih, top, bottom int }{{1, 1, 0, 0}, {3, 4, 1, 1}, {2, 8, 2, 0}, {2, 3, 0, 2}, {1, 0, 1, 1}} {
						ph := g.top + g.ih + g.bottom
						src := randSlice(r, g.planes*g.ih*iw)
						dst := make([]float32, g.planes*ph*pw+3)
						for i := range dst {
							dst[i] = float32(math.NaN())
						}
						guard := dst[len(dst)-3:]
						copy(guard, []float32{1, 2, 3})
						if err := padPlanesOn(x, dst, src, g.planes, g.ih, iw, g.top, g.bottom, left, pw); err != nil {
							t.Fatal(err)
						}
						for c := 0; c < g.planes; c++ {
							for y := 0; y < ph; y++ {
								for xx := 0; xx < pw; xx++ {
									want := float32(0)
									if iy, ix := y-g.top, xx-left; iy >= 0 && iy < g.ih && ix >= 0 && ix < iw {
										want = src[(c*g.ih+iy)*iw+ix]
									}
									if got := dst[(c*ph+y)*pw+xx]; got != want || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
										t.Fatalf("pw %d left %d iw %d %+v: plane %d (%d, %d) = %v, want %v", pw, left, iw, g, c, y, xx, got, want)
									}
								}
							}
						}
						if guard[0] != 1 || guard[1] != 2 || guard[2] != 3 {
							t.Fatalf("pw %d left %d iw %d %+v: wrote past the padded planes: %v", pw, left, iw, g, guard)
						}
					}
				}
			}
		}
	})
	if err := PadPlanes(make([]float32, 8), make([]float32, 4), 1, 2, 2, 1, 1, 0, 3); err == nil {
		t.Error("short destination: no error")
	}
	if err := PadPlanes(make([]float32, 100), make([]float32, 4), 1, 2, 2, 0, 0, 2, 3); err == nil {
		t.Error("row past the padded width: no error")
	}
}

// TestPadPlaneRows checks every band of rows PadPlaneRows writes against the same rows of
// PadPlanes' planes (zeros below them), from images with a gap between them, with the
// destination filled with NaN first and a guard value after the band.
func TestPadPlaneRows(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 10))
	const planes, ih, iw, top, left, pw, gap = 3, 5, 6, 1, 1, 9, 4
	ph := top + ih + 2
	src := randSlice(r, planes*(ih*iw+gap))
	packed := make([]float32, planes*ih*iw)
	for c := range planes {
		copy(packed[c*ih*iw:], src[c*(ih*iw+gap):c*(ih*iw+gap)+ih*iw])
	}
	whole := make([]float32, planes*ph*pw)
	if err := PadPlanes(whole, packed, planes, ih, iw, top, ph-top-ih, left, pw); err != nil {
		t.Fatal(err)
	}
	for y0 := 0; y0 < ph+2; y0++ {
		for rows := 0; y0+rows <= ph+2; rows++ {
			dst := make([]float32, planes*rows*pw+1)
			for i := range dst {
				dst[i] = float32(math.NaN())
			}
			dst[len(dst)-1] = 7
			if err := PadPlaneRows(dst, src, planes, ih*iw+gap, ih, iw, top, left, pw, y0, rows); err != nil {
				t.Fatal(err)
			}
			for c := range planes {
				for y := range rows {
					for x := range pw {
						want := float32(0)
						if y0+y < ph {
							want = whole[(c*ph+y0+y)*pw+x]
						}
						if got := dst[(c*rows+y)*pw+x]; got != want {
							t.Fatalf("rows [%d, %d): plane %d (%d, %d) = %v, want %v", y0, y0+rows, c, y, x, got, want)
						}
					}
				}
			}
			if dst[len(dst)-1] != 7 {
				t.Fatalf("rows [%d, %d): wrote past the band", y0, y0+rows)
			}
		}
	}
	if err := PadPlaneRows(make([]float32, 8), src, 1, ih*iw, ih, iw, top, left, pw, 0, 1); err == nil {
		t.Error("short destination: no error")
	}
	if err := PadPlaneRows(make([]float32, 100), src, 1, ih*iw, ih, iw, top, 4, pw, 0, 1); err == nil {
		t.Error("row past the padded width: no error")
	}
}
