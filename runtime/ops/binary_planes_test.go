package ops

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/tensor"
)

// TestArithPerPlaneScalar covers binary ops whose second input is one scalar per plane (the
// squeeze-and-excitation block's Mul of [N,C,H,W] by [N,C,1,1]), float32 and float64, against
// the element-by-element definition: batches of 1 and 3, channel counts and plane sizes off
// the vector widths, one and several threads (the rows split into chunks), the same bits.
func TestArithPerPlaneScalar(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(97, 98))
	ops := map[string]func(x, y float64) float64{
		"Mul": func(x, y float64) float64 { return x * y }, "Add": func(x, y float64) float64 { return x + y },
		"Sub": func(x, y float64) float64 { return x - y }, "Div": func(x, y float64) float64 { return x / y },
	}
	for _, sh := range [][]int{{1, 576, 7, 7}, {3, 33, 5, 3}, {2, 240, 14, 14}, {1, 5, 1, 17}} {
		scaleShape := []int{sh[0], sh[1], 1, 1}
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			x, y := randTensor(r, sh...), randTensor(r, scaleShape...)
			xv, _ := tensor.Float64s(x)
			yv, _ := tensor.Float64s(y)
			if dt == tensor.Float64 {
				x, y = tensor.New(sh, xv), tensor.New(scaleShape, yv)
			}
			for name, f := range ops {
				fac, _ := Lookup(DefaultDomain, name, 14)
				k, err := fac(kernelNode(name, 14, nil, 2, 1))
				if err != nil {
					t.Fatal(err)
				}
				var first []float64
				for _, threads := range []int{1, 2, 4} {
					label := fmt.Sprintf("%s %v %v threads %d", name, sh, dt, threads)
					outs, err := k.Run(NewContext(threads), []*tensor.Tensor{x, y})
					if err != nil {
						t.Fatalf("%s: %v", label, err)
					}
					got, _ := tensor.Float64s(outs[0])
					plane := sh[2] * sh[3]
					for i, v := range got {
						want := f(xv[i], yv[i/plane])
						if dt == tensor.Float32 {
							want = float64(float32(want))
						}
						if v != want {
							t.Fatalf("%s: y[%d] = %g, want %g", label, i, v, want)
						}
					}
					if first == nil {
						first = got
					} else if !slices.Equal(first, got) {
						t.Fatalf("%s: differs from one thread's output", label)
					}
				}
			}
		}
	}
}

// BenchmarkMulChannelScale is the squeeze-and-excitation block's Mul: planes [1,C,H,W] times a
// per-channel scale [1,C,1,1], at MobileNetV3-Small's shapes; CPU time per run.
func BenchmarkMulChannelScale(b *testing.B) {
	for _, sh := range []struct{ c, hw int }{{16, 56}, {240, 14}, {120, 14}, {576, 7}} {
		b.Run(fmt.Sprintf("c%d_hw%d", sh.c, sh.hw), func(b *testing.B) {
			x, s := benchInput([]int{1, sh.c, sh.hw, sh.hw}), benchInput([]int{1, sh.c, 1, 1})
			f, _ := Lookup(DefaultDomain, "Mul", 14)
			k, err := f(kernelNode("Mul", 14, nil, 2, 1))
			if err != nil {
				b.Fatal(err)
			}
			ctx := &Context{Threads: 1, Allocator: reusedOutput{}}
			start := testutil.ProcessCPU()
			for b.Loop() {
				if _, err := k.Run(ctx, []*tensor.Tensor{x, s}); err != nil {
					b.Fatal(err)
				}
			}
			testutil.ReportCPU(b, start, float64(x.Len()))
		})
	}
}
