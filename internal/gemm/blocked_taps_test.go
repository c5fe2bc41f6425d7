package gemm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// TestBlockedTaps checks every BlockedTaps kernel (AVX-512, AVX2, Go) against the float64 sum
// for 3×3 and 5×5 taps, strides 1 to 3, and pixel counts that leave every remainder of the
// kernels' pixel groups.
func TestBlockedTaps(t *testing.T) {
	t.Parallel()
	const cb = ChannelBlock
	r := rand.New(rand.NewPCG(61, 62))
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, k := range []int{3, 5} {
			for step := 1; step <= 3; step++ {
				for n := 0; n <= 19; n++ {
					width := step*n + k + 2
					src := make([]float32, cb*width*(k+1))
					for i := range src {
						src[i] = r.Float32()*2 - 1
					}
					var offs []int
					for ky := range k {
						for kx := range k {
							offs = append(offs, cb*(ky*width+kx))
						}
					}
					w := make([]float32, cb*len(offs))
					for i := range w {
						w[i] = r.Float32()*2 - 1
					}
					dst := make([]float32, cb*n+cb) // one pixel more: it must stay untouched
					dst[cb*n] = 42
					if err := blockedTapsOn(x, dst, src, offs, w, n, step); err != nil {
						t.Fatal(err)
					}
					for p := range n {
						for c := range cb {
							var want float64
							for ti, off := range offs {
								want += float64(w[cb*ti+c]) * float64(src[off+cb*step*p+c])
							}
							if got := dst[cb*p+c]; math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
								t.Fatalf("k %d, step %d, n %d: pixel %d channel %d = %g, want %g", k, step, n, p, c, got, want)
							}
						}
					}
					if dst[cb*n] != 42 {
						t.Fatalf("k %d, step %d, n %d: wrote past the last pixel", k, step, n)
					}
				}
			}
		}
	})
	if err := BlockedTaps(make([]float32, 16), make([]float32, 16), []int{1}, make([]float32, 16), 1, 1); err == nil {
		t.Error("a tap reading past src: no error")
	}
}

// TestInterleaveSplit16 checks Interleave16 and Split16 (assembly and Go) against their
// definitions for pixel counts around the 8-pixel groups, and that they invert each other.
func TestInterleaveSplit16(t *testing.T) {
	t.Parallel()
	const cb = ChannelBlock
	r := rand.New(rand.NewPCG(63, 64))
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, n := range []int{1, 7, 8, 9, 16, 23, 56} {
			lds := n + 3
			src := make([]float32, (cb-1)*lds+n)
			for i := range src {
				src[i] = r.Float32()
			}
			inter := make([]float32, cb*n)
			if err := interleave16On(x, inter, src, lds, n); err != nil {
				t.Fatal(err)
			}
			for p := range n {
				for c := range cb {
					if inter[cb*p+c] != src[c*lds+p] {
						t.Fatalf("n %d: interleaved pixel %d channel %d = %g, want %g", n, p, c, inter[cb*p+c], src[c*lds+p])
					}
				}
			}
			bias := make([]float32, cb)
			for c := range bias {
				bias[c] = float32(c)
			}
			back := make([]float32, len(src))
			if err := split16On(x, back, lds, inter, n, bias); err != nil {
				t.Fatal(err)
			}
			for c := range cb {
				for p := range n {
					if want := src[c*lds+p] + bias[c]; back[c*lds+p] != want {
						t.Fatalf("n %d: split channel %d pixel %d = %g, want %g", n, c, p, back[c*lds+p], want)
					}
				}
			}
		}
	})
}

// TestBlockedTapsRows checks a band of rows against one BlockedTaps call per row, with rows
// that do not overlap in dst and rows whose excess pixels the next row overwrites.
func TestBlockedTapsRows(t *testing.T) {
	t.Parallel()
	const cb = ChannelBlock
	r := rand.New(rand.NewPCG(65, 66))
	const rows, n, step, width = 5, 11, 2, 26
	src := make([]float32, cb*width*(2*rows+3))
	for i := range src {
		src[i] = r.Float32()
	}
	var offs []int
	for ky := range 3 {
		for kx := range 3 {
			offs = append(offs, cb*(ky*width+kx))
		}
	}
	w := make([]float32, cb*len(offs))
	for i := range w {
		w[i] = r.Float32()
	}
	for _, extra := range []int{0, 5} { // pixels computed past each row's n
		got, want := make([]float32, cb*(rows*n+extra)), make([]float32, cb*rows*n)
		if err := BlockedTapsRows(got, src, offs, w, rows, n+extra, step, n, step*width); err != nil {
			t.Fatal(err)
		}
		for row := range rows {
			if err := BlockedTaps(want[cb*row*n:], src[cb*row*step*width:], offs, w, n, step); err != nil {
				t.Fatal(err)
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("extra %d: value %d: %g, want %g", extra, i, got[i], want[i])
			}
		}
	}
	if err := BlockedTapsRows(make([]float32, cb*(rows+2)*n), src, offs, w, rows+2, n, step, n, step*width); err == nil {
		t.Error("rows reading past src: no error")
	}
}

// TestBlockedWindow checks BlockedTapsRows on undilated windows, which take the AVX-512 window
// kernels (blockedWindow: each input vector loaded once per window row) for each row's whole
// groups of 8 pixels: against the float64 sum, and bit for bit against one BlockedTaps call per
// row (the per-tap kernels), for window widths with and without a kernel (3, 5, 7; 2 has none),
// heights 1 to 5, strides 1 to 3 and rows of 8, 16 and 24 pixels and of lengths between them.
func TestBlockedWindow(t *testing.T) {
	t.Parallel()
	const cb = ChannelBlock
	r := rand.New(rand.NewPCG(67, 68))
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, kw := range []int{2, 3, 5, 7} {
			for _, kh := range []int{1, 3, 5} {
				for step := 1; step <= 3; step++ {
					for _, n := range []int{7, 8, 13, 16, 21, 24, 40} {
						const rows = 3
						width := step*n + kw + 1
						src := randSlice(r, cb*width*(step*(rows-1)+kh))
						offs := windowOffsets(kh, kw, cb*width, 1)
						w := randSlice(r, cb*len(offs))
						got := make([]float32, cb*rows*n+cb)
						got[cb*rows*n] = 42
						if err := blockedTapsRowsOn(x, got, src, offs, w, rows, n, step, n, step*width); err != nil {
							t.Fatal(err)
						}
						if got[cb*rows*n] != 42 {
							t.Fatalf("%d×%d, step %d, n %d: wrote past the last row", kh, kw, step, n)
						}
						for row := range rows {
							want := make([]float32, cb*n)
							if err := blockedTapsOn(x, want, src[cb*row*step*width:], offs, w, n, step); err != nil {
								t.Fatal(err)
							}
							for p := range n {
								for c := range cb {
									var sum float64
									for ti, off := range offs {
										sum += float64(w[cb*ti+c]) * float64(src[cb*row*step*width+off+cb*step*p+c])
									}
									g := got[cb*(row*n+p)+c]
									if math.Abs(float64(g)-sum) > 1e-5*(1+math.Abs(sum)) {
										t.Fatalf("%d×%d, step %d, n %d: row %d pixel %d channel %d = %g, want %g", kh, kw, step, n, row, p, c, g, sum)
									}
									if g != want[cb*p+c] {
										t.Fatalf("%d×%d, step %d, n %d: row %d pixel %d channel %d = %g, the per-tap kernel's %g", kh, kw, step, n, row, p, c, g, want[cb*p+c])
									}
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestWindowOf checks which tap layouts count as an undilated window.
func TestWindowOf(t *testing.T) {
	t.Parallel()
	const cb = ChannelBlock
	for _, tc := range []struct {
		offs              []int
		kh, kw, rowStride int
	}{
		{windowOffsets(3, 3, cb*30, 1), 3, 3, cb * 30},
		{windowOffsets(5, 5, cb*18, 1), 5, 5, cb * 18},
		{windowOffsets(1, 7, cb*10, 1), 1, 7, 0},
		{windowOffsets(3, 5, cb*9, 1), 3, 5, cb * 9},
		{windowOffsets(3, 3, cb*30, 2), 0, 0, 0}, // dilated
		{windowOffsets(3, 1, cb*30, 1), 0, 0, 0}, // one tap a row
		{windowOffsets(3, 3, cb*2, 1), 0, 0, 0},  // rows closer than the window is wide
		{[]int{0, cb, 2 * cb, 100, 100 + cb, 100 + 2*cb, 200, 200 + cb, 999}, 0, 0, 0},
		{[]int{cb, 2 * cb, 3 * cb}, 0, 0, 0}, // not starting at 0
	} {
		kh, kw, rowStride := windowOf(tc.offs)
		if kh != tc.kh || kh != 0 && (kw != tc.kw || rowStride != tc.rowStride) {
			t.Errorf("windowOf(%v) = %d, %d, %d, want %d, %d, %d", tc.offs, kh, kw, rowStride, tc.kh, tc.kw, tc.rowStride)
		}
	}
}

// windowOffsets returns the tap offsets of a kh×kw window in a 16-channel-interleaved image
// whose rows are rowStride floats apart, its columns dilation pixels apart.
func windowOffsets(kh, kw, rowStride, dilation int) []int {
	var offs []int
	for ky := range kh {
		for kx := range kw {
			offs = append(offs, ky*rowStride+ChannelBlock*kx*dilation)
		}
	}
	return offs
}
