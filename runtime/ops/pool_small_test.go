package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/tensor"
)

// maxPool2x2On returns a 2×2 stride-2 MaxPool kernel and its geometry for x.
func maxPool2x2On(t testing.TB, x *tensor.Tensor) (*poolKernel, *poolShape) {
	t.Helper()
	k, err := poolFactory(poolMax, false)(convTestNode("MaxPool", map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}}, 1))
	if err != nil {
		t.Fatal(err)
	}
	s, err := k.(*poolKernel).cachedShape(x)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*poolKernel), s
}

// TestMaxPool2x2EvenPlanes checks the 2×2 stride-2 max pool of planes with even sides (one
// vecmath.MaxPool2x2 call over the batch) against each window's maximum in float64, with NaN
// taps, at widths the assembly takes (8, 16) and the Go loop takes (6, 10), on one thread and
// two; and that odd sides, which leave a row or column out, do not take it.
func TestMaxPool2x2EvenPlanes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(91, 92))
	for _, shape := range [][]int{{16, 32, 8, 8}, {2, 3, 6, 10}, {1, 4, 4, 16}, {3, 2, 7, 8}, {2, 2, 8, 9}} {
		x := randTensor(r, shape...)
		xv := x.F32()
		for i := range xv {
			if r.IntN(50) == 0 {
				xv[i] = float32(math.NaN())
			}
		}
		k, s := maxPool2x2On(t, x)
		if even := shape[2]%2 == 0 && shape[3]%2 == 0; s.evenPairs2x2 != even {
			t.Errorf("%v: evenPairs2x2 = %v, want %v", shape, s.evenPairs2x2, even)
		}
		ih, iw, oh, ow := shape[2], shape[3], shape[2]/2, shape[3]/2
		for threads := 1; threads <= 2; threads++ {
			outs, err := k.Run(NewContext(threads), []*tensor.Tensor{x})
			if err != nil {
				t.Fatal(err)
			}
			got := outs[0].F32()
			for p := 0; p < shape[0]*shape[1]; p++ {
				for oy := 0; oy < oh; oy++ {
					for ox := 0; ox < ow; ox++ {
						want, nan := math.Inf(-1), false
						for dy := 0; dy < 2; dy++ {
							for dx := 0; dx < 2; dx++ {
								v := xv[p*ih*iw+(2*oy+dy)*iw+2*ox+dx]
								want, nan = math.Max(want, float64(v)), nan || v != v
							}
						}
						g := got[(p*oh+oy)*ow+ox]
						if nan && g == g || !nan && float64(g) != want {
							t.Fatalf("%v threads %d: plane %d window (%d, %d) = %g, want %g (NaN %v)", shape, threads, p, oy, ox, g, want, nan)
						}
					}
				}
			}
		}
	}
}

// BenchmarkMaxPoolDigits is digits_cnn's pool: 2×2, stride 2 over its batch of 16 × 32×8×8, in
// one MaxPool2x2 call ("pairs") or window by window in Go ("windows").
func BenchmarkMaxPoolDigits(b *testing.B) {
	for _, pairs := range []bool{true, false} {
		b.Run(map[bool]string{true: "pairs", false: "windows"}[pairs], func(b *testing.B) {
			x := randTensor(rand.New(rand.NewPCG(1, 2)), 16, 32, 8, 8)
			kern, s := maxPool2x2On(b, x)
			s.evenPairs2x2 = pairs
			ctx := &Context{Threads: 1, Allocator: reusedOutput{}}
			start := testutil.ProcessCPU()
			for b.Loop() {
				if _, err := kern.Run(ctx, []*tensor.Tensor{x}); err != nil {
					b.Fatal(err)
				}
			}
			testutil.ReportCPU(b, start, 16*32*4*4*3)
		})
	}
}
