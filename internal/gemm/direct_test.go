package gemm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/testutil"
)

// TestDirectConvRows checks every DirectConvRows kernel (AVX-512 strides 1, 2, 4 and the Go
// loop, also for stride 3) against the float64 sum over a padded image: row widths 1…40 (every
// remainder of the 16-pixel vectors) and 48–145 (the run kernels' runs of 3 and 2 vectors, with
// and without pixels after them; 7 rows of 7 vectors: the column kernels' groups of 3 rows and
// a row after them), 1 to 16 channels, 1 to 3 input channels of 1×1 to 4×4
// windows, with and without bias, several rows at once. The values around the ones it must
// write (the channels past channels, pixels past width, the rows' gaps) must stay untouched.
func TestDirectConvRows(t *testing.T) {
	t.Parallel()
	const cb = DirectBlock
	r := rand.New(rand.NewPCG(71, 72))
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for step := 1; step <= 4; step++ {
			widths := []int{}
			for width := 1; width <= 40; width++ {
				widths = append(widths, width)
			}
			// Rows of whole runs of 48 pixels and runs with pixels after them, a block of 16
			// channels (the run kernels) or one fewer.
			widths = append(widths, 48, 63, 80, 96, 112, 120, 145)
			for _, width := range widths {
				cin, k := 1+width%3, 1+width%4
				channels := 1 + (width*7+step)%cb
				if width > 40 && width != 63 || width == 32 || width == 37 {
					channels = cb // runs of 3 and of 2 vectors (directRuns), some pixels after them
				}
				rows := 1 + width%3
				if width == 112 || width == 120 {
					rows = 7 // two groups of 3 rows on the column kernels, one row after them
				}
				srcRow := step*width + k + 3      // padded row length, past what a row reads
				srcPlane := srcRow * (rows*2 + k) // rows go srcRow apart, windows k rows deep
				src := make([]float32, cin*srcPlane+DirectSlack(step))
				for i := range src {
					src[i] = r.Float32()*2 - 1
				}
				var offs []int
				for c := range cin {
					for ky := range k {
						for kx := range k {
							offs = append(offs, c*srcPlane+ky*srcRow+kx)
						}
					}
				}
				w := make([]float32, cb*len(offs))
				for i := range w {
					w[i] = r.Float32()*2 - 1
				}
				var bias []float32
				if width%2 == 0 {
					bias = make([]float32, cb)
					for i := range bias {
						bias[i] = r.Float32()*2 - 1
					}
				}
				dstRow := width + 3 // a gap after each row that must stay untouched
				plane := rows*dstRow + 5
				dst := make([]float32, cb*plane)
				for i := range dst {
					dst[i] = 42
				}
				if err := directConvRowsOn(x, dst, plane, dstRow, src, srcRow, offs, w, bias, channels, width, rows, step); err != nil {
					t.Fatal(err)
				}
				for j := range cb {
					for i := range plane {
						got := dst[j*plane+i]
						row, px := i/dstRow, i%dstRow
						if j >= channels || row >= rows || px >= width {
							if got != 42 {
								t.Fatalf("step %d width %d: channel %d value %d written (%g), outside the output", step, width, j, i, got)
							}
							continue
						}
						var want float64
						if bias != nil {
							want = float64(bias[j])
						}
						for tap, off := range offs {
							want += float64(w[cb*tap+j]) * float64(src[row*srcRow+off+step*px])
						}
						if math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) || math.IsNaN(float64(got)) {
							t.Fatalf("step %d width %d channels %d taps %d: channel %d row %d pixel %d = %g, want %g",
								step, width, channels, len(offs), j, row, px, got, want)
						}
					}
				}
			}
		}
	})
}

// TestDirectConvRowsPairs checks the kernel that packs two 8-pixel rows stored back to back
// into one vector (digits_cnn's 8×8 images) against the Go loop's definition, for 1 to 5 rows
// (an odd one left over), 1 to 16 channels, with and without bias, and that it writes nothing
// past the last row.
func TestDirectConvRowsPairs(t *testing.T) {
	t.Parallel()
	const cb = DirectBlock
	r := rand.New(rand.NewPCG(73, 74))
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for rows := 1; rows <= 5; rows++ {
			for _, channels := range []int{1, 7, 16} {
				const width, srcRow = 8, 10 // a padded 8×8 image
				src := make([]float32, 2*srcRow*(rows+2)+DirectSlack(1))
				for i := range src {
					src[i] = r.Float32()*2 - 1
				}
				var offs []int
				for c := range 2 {
					for ky := range 3 {
						for kx := range 3 {
							offs = append(offs, c*srcRow*(rows+2)+ky*srcRow+kx)
						}
					}
				}
				w := make([]float32, cb*len(offs))
				for i := range w {
					w[i] = r.Float32()*2 - 1
				}
				var bias []float32
				if channels != 7 {
					bias = make([]float32, cb)
					for i := range bias {
						bias[i] = r.Float32()*2 - 1
					}
				}
				plane := rows*width + 3
				dst := make([]float32, cb*plane)
				for i := range dst {
					dst[i] = 42
				}
				if err := directConvRowsOn(x, dst, plane, width, src, srcRow, offs, w, bias, channels, width, rows, 1); err != nil {
					t.Fatal(err)
				}
				for j := range cb {
					for i := range plane {
						got := dst[j*plane+i]
						if j >= channels || i >= rows*width {
							if got != 42 {
								t.Fatalf("%d rows, %d channels: channel %d value %d written", rows, channels, j, i)
							}
							continue
						}
						var want float64
						if bias != nil {
							want = float64(bias[j])
						}
						for tap, off := range offs {
							want += float64(w[cb*tap+j]) * float64(src[i/width*srcRow+off+i%width])
						}
						if !(math.Abs(float64(got)-want) <= 1e-5*(1+math.Abs(want))) {
							t.Fatalf("%d rows, %d channels: channel %d value %d = %g, want %g", rows, channels, j, i, got, want)
						}
					}
				}
			}
		}
	})
}

// TestDirectConvRowsChecksBounds: slices too short for what the call would read or write are
// errors, not reads past them.
func TestDirectConvRowsChecksBounds(t *testing.T) {
	const cb = DirectBlock
	offs := []int{0, 1, 2}
	w := make([]float32, cb*len(offs))
	src := make([]float32, 2+32) // the last vector, pixels 16…31, read at the last tap
	dst := make([]float32, 20)
	if err := DirectConvRows(dst, 0, 0, src, 0, offs, w, nil, 1, 20, 1, 1); err != nil {
		t.Fatalf("a call that fits: %v", err)
	}
	for name, call := range map[string]func() error{
		"short src":   func() error { return DirectConvRows(dst, 0, 0, src[:len(src)-1], 0, offs, w, nil, 1, 20, 1, 1) },
		"short dst":   func() error { return DirectConvRows(dst[:19], 0, 0, src, 0, offs, w, nil, 1, 20, 1, 1) },
		"17 channels": func() error { return DirectConvRows(dst, 0, 0, src, 0, offs, w, nil, 17, 20, 1, 1) },
		"short w":     func() error { return DirectConvRows(dst, 0, 0, src, 0, offs, w[1:], nil, 1, 20, 1, 1) },
		"short bias":  func() error { return DirectConvRows(dst, 0, 0, src, 0, offs, w, make([]float32, 3), 1, 20, 1, 1) },
		"negative":    func() error { return DirectConvRows(dst, 0, 0, src, 0, []int{-1, 0, 1}, w, nil, 1, 20, 1, 1) },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// BenchmarkDirectConvRows runs the kernel alone on MobileNetV3's stem (3→16, 3×3, stride 2,
// 226×226 padded → 112×112), ConvNeXt's patchify stem (3→48, 4×4, stride 4, 224×224 → 56×56)
// and digits_cnn's c1 (1→16, 3×3, 10×10 padded → 8×8, one image), in CPU GFLOP/s.
func BenchmarkDirectConvRows(b *testing.B) {
	const cb = DirectBlock
	for _, sh := range []struct {
		name                   string
		c, ph, pw, m, k, s, oh int
	}{{"mobilenet_stem", 3, 226, 226, 16, 3, 2, 112}, {"patchify", 3, 224, 224, 48, 4, 4, 56}, {"digits_c1", 1, 10, 10, 16, 3, 1, 8}, {"resnet_stem", 3, 230, 230, 64, 7, 2, 112}} {
		b.Run(sh.name, func(b *testing.B) {
			src := make([]float32, sh.c*sh.ph*sh.pw+DirectSlack(sh.s))
			var offs []int
			for c := range sh.c {
				for ky := range sh.k {
					for kx := range sh.k {
						offs = append(offs, c*sh.ph*sh.pw+ky*sh.pw+kx)
					}
				}
			}
			w := make([]float32, cb*len(offs))
			dst := make([]float32, sh.m*sh.oh*sh.oh)
			start := testutil.ProcessCPU()
			for b.Loop() {
				for m0 := 0; m0 < sh.m; m0 += cb {
					if err := DirectConvRows(dst[m0*sh.oh*sh.oh:], sh.oh*sh.oh, sh.oh, src, sh.s*sh.pw, offs, w, nil, cb, sh.oh, sh.oh, sh.s); err != nil {
						b.Fatal(err)
					}
				}
			}
			testutil.ReportCPU(b, start, 2*float64(len(dst)*len(offs)))
		})
	}
}

// TestDirectRuns checks that the runs of 3 and 2 vectors cover a row's vectors wherever they
// can (every count but 1), never more than it has.
func TestDirectRuns(t *testing.T) {
	for vectors := 0; vectors <= 40; vectors++ {
		threes, twos := directRuns(vectors)
		covered := 3*threes + 2*twos
		if threes < 0 || twos < 0 || covered > vectors || vectors >= 2 && covered != vectors {
			t.Errorf("directRuns(%d) = %d threes, %d twos", vectors, threes, twos)
		}
	}
}
