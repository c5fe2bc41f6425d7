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
