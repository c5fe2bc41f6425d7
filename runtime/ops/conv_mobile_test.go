package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/tensor"
)

// mobileConvShapes are the convolutions of a MobileNetV3-Small-style network (batch 1, 224×224
// input) that were far below the others' speed: the 3-channel stem, depthwise 3×3 and 5×5 at
// strides 1 and 2 with channel counts that do and do not fill 16-channel blocks, and the
// squeeze-and-excitation 1×1 convolutions on a 1×1 image; then the network's other 1×1
// convolutions (its projections and expansions from 56×56 down to 7×7).
var mobileConvShapes = []struct{ c, hw, m, k, stride, group int }{
	{3, 224, 16, 3, 2, 1},
	{16, 112, 16, 3, 2, 16}, {72, 56, 72, 3, 2, 72}, {88, 28, 88, 3, 1, 88}, {96, 28, 96, 5, 2, 96},
	{120, 14, 120, 5, 1, 120}, {240, 14, 240, 5, 1, 240}, {288, 14, 288, 5, 2, 288}, {576, 7, 576, 5, 1, 576},
	{576, 1, 144, 1, 1, 1}, {144, 1, 576, 1, 1, 1}, {240, 1, 60, 1, 1, 1},
	{96, 7, 576, 1, 1, 1}, {16, 56, 72, 1, 1, 1},
	{576, 7, 96, 1, 1, 1}, {288, 7, 96, 1, 1, 1}, {240, 14, 40, 1, 1, 1}, {144, 14, 48, 1, 1, 1}, {96, 14, 40, 1, 1, 1},
	{88, 28, 24, 1, 1, 1}, {72, 28, 24, 1, 1, 1}, {16, 56, 16, 1, 1, 1},
	{40, 14, 240, 1, 1, 1}, {48, 14, 144, 1, 1, 1}, {24, 28, 88, 1, 1, 1},
}

// benchConvRuns times k on inputs on one thread (after one untimed run, which packs and tunes)
// and reports CPU time per run and CPU GFLOP/s, counting 2·inPerOutput multiply-adds' flops per
// output value; with wall, wall-clock GFLOP/s too.
func benchConvRuns(b *testing.B, k Kernel, inputs []*tensor.Tensor, inPerOutput int, wall bool) {
	b.Helper()
	ctx := &Context{Threads: 1, Allocator: reusedOutput{}}
	outs, err := k.Run(ctx, inputs)
	if err != nil {
		b.Fatal(err)
	}
	flops := 2 * float64(outs[0].Len()*inPerOutput)
	start := testutil.ProcessCPU()
	for b.Loop() {
		if _, err := k.Run(ctx, inputs); err != nil {
			b.Fatal(err)
		}
	}
	if wall {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	testutil.ReportCPU(b, start, flops)
}

// BenchmarkConvMobileNetV3 runs mobileConvShapes on one thread and reports CPU GFLOP/s.
func BenchmarkConvMobileNetV3(b *testing.B) {
	for _, sh := range mobileConvShapes {
		b.Run(fmt.Sprintf("c%d_hw%d_m%d_k%d_s%d_g%d", sh.c, sh.hw, sh.m, sh.k, sh.stride, sh.group), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x, w, bias := randTensor(r, 1, sh.c, sh.hw, sh.hw), randTensor(r, sh.m, sh.c/sh.group, sh.k, sh.k), randTensor(r, sh.m)
			p := sh.k / 2
			attrs := map[string]any{"group": sh.group, "strides": []int{sh.stride, sh.stride}, "pads": []int{p, p, p, p}}
			k, err := newConv(convTestNode("Conv", attrs, 3, nil, w, bias))
			if err != nil {
				b.Fatal(err)
			}
			benchConvRuns(b, k, []*tensor.Tensor{x, w, bias}, sh.c/sh.group*sh.k*sh.k, false)
		})
	}
}

// TestConvOnePixel covers convOnePixel (1×1 kernels on one-pixel images, the batch as one
// product with Wᵀ) against the float64 definition: batches of 1 and 5, channel counts on and
// off the tiles' widths, 2-D and 1-D images, constant weights (packed once, then reused) and
// weights given at run time, bias, a fused residual and activation, one and two threads.
func TestConvOnePixel(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(91, 92))
	for _, tc := range []struct {
		batch, c, m int
		spatial     []int
	}{{1, 576, 144, []int{1, 1}}, {5, 144, 576, []int{1, 1}}, {1, 7, 3, []int{1, 1}}, {5, 33, 65, []int{1}}, {2, 1, 1, []int{1, 1}}} {
		x := randTensor(r, append([]int{tc.batch, tc.c}, tc.spatial...)...)
		w := randTensor(r, append([]int{tc.m, tc.c}, make1s(len(tc.spatial))...)...)
		b := randTensor(r, tc.m)
		for _, constW := range []bool{true, false} {
			var consts []*tensor.Tensor
			if constW {
				consts = []*tensor.Tensor{nil, w}
			}
			for threads := 1; threads <= 2; threads++ {
				label := fmt.Sprintf("%+v const %v threads %d", tc, constW, threads)
				k, err := newConv(convTestNode("Conv", nil, 3, consts...))
				if err != nil {
					t.Fatal(err)
				}
				zeros := make([]int, len(tc.spatial))
				ones := make1s(len(tc.spatial))
				for run := 0; run < 2; run++ { // the second run reuses the packed weights
					convAgreesWithRef(t, label, k, threads, x, w, b, 1, ones, ones, zeros)
				}
				// The same with a fused residual and activation.
				fused, err := newConv(convTestNode("Conv", nil, 4, consts...))
				if err != nil {
					t.Fatal(err)
				}
				fused.(ResidualFuser).FuseResidual()
				fused.(ActivationFuser).FuseActivation(relu)
				res := randTensor(r, tc.batch, tc.m)
				res.Shape = append([]int{tc.batch, tc.m}, ones...)
				got, err := fused.Run(NewContext(threads), []*tensor.Tensor{x, w, b, res})
				if err != nil {
					t.Fatal(err)
				}
				want := refConv(x, w, b, 1, ones, ones, zeros, ones)
				for i, v := range got[0].F32() {
					e := max(want[i]+float64(res.F32()[i]), 0)
					if math.Abs(float64(v)-e) > 1e-4*(1+math.Abs(e)) {
						t.Fatalf("%s, residual and relu: y[%d] = %g, want %g", label, i, v, e)
					}
				}
			}
		}
	}
}

func make1s(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// TestConvDepthwisePartialBlockEpilogue runs a depthwise convolution whose channels do not fill
// the last block of 16 with bias, a fused residual and activation, on two images, against the
// float64 definition and on 1–3 threads bit-identical to one thread: the partial block's
// epilogue must reach exactly its own planes; and planes large enough for several bands of
// rows, which are the items the threads share (one block of 16 channels, as MobileNetV3's
// stride-2 layer at 112×112, included), with a partial block among them; rows that are not a
// whole number of 8-pixel groups (10×12, 14×14) and rows shorter than one (7×7, staged).
func TestConvDepthwisePartialBlockEpilogue(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(93, 94))
	for _, sh := range []struct{ c, h, w, stride int }{{24, 10, 12, 1}, {41, 10, 12, 1}, {32, 90, 100, 1}, {40, 90, 100, 1}, {16, 112, 112, 2}, {72, 56, 56, 2}, {40, 7, 7, 1}, {24, 14, 14, 2}} {
		c := sh.c
		x, w, b := randTensor(r, 2, c, sh.h, sh.w), randTensor(r, c, 1, 3, 3), randTensor(r, c)
		attrs := map[string]any{"group": c, "pads": []int{1, 1, 1, 1}, "strides": []int{sh.stride, sh.stride}}
		k, err := newConv(convTestNode("Conv", attrs, 4, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		k.(ResidualFuser).FuseResidual()
		k.(ActivationFuser).FuseActivation(relu)
		oh, ow := (sh.h-1)/sh.stride+1, (sh.w-1)/sh.stride+1
		res := randTensor(r, 2, c, oh, ow)
		s, _ := k.(*convKernel).cachedShape(x, w)
		if s.blocked == nil || oh > 40 && (s.blocked.bands < 2 || s.blocked.bands%2 != 0) {
			t.Fatalf("%+v: the blocked depthwise path was not chosen, or not in an even number of bands", sh)
		}
		want := refConv(x, w, b, c, []int{sh.stride, sh.stride}, []int{1, 1}, []int{1, 1}, []int{oh, ow})
		checkFusedOnThreads(t, fmt.Sprintf("%+v", sh), k, []*tensor.Tensor{x, w, b, res}, want)
	}
}

// BenchmarkConvPatchify runs convolutions whose kernel equals their stride (no overlap, no
// padding): ConvNeXt's 4×4 stem and 2×2 downsampling layers and a ViT's 16×16 patch embedding,
// on one thread, through each lowering they can take.
func BenchmarkConvPatchify(b *testing.B) {
	for _, sh := range []struct{ c, hw, m, k int }{{3, 224, 48, 4}, {48, 56, 96, 2}, {96, 28, 192, 2}, {192, 14, 384, 2}, {3, 224, 192, 16}} {
		for _, v := range []struct {
			name     string
			lowering convLowering
		}{{"best", convLowering{}}, {"gather", convLowering{forceGather: true}}, {"nogather", convLowering{noGather: true}}, {"direct", convLowering{direct: true}}} {
			b.Run(fmt.Sprintf("c%d_hw%d_m%d_k%d_%s", sh.c, sh.hw, sh.m, sh.k, v.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				x, w, bias := randTensor(r, 1, sh.c, sh.hw, sh.hw), randTensor(r, sh.m, sh.c, sh.k, sh.k), randTensor(r, sh.m)
				attrs := map[string]any{"strides": []int{sh.k, sh.k}}
				k, err := newConv(convTestNode("Conv", attrs, 3, nil, w, bias))
				if err != nil {
					b.Fatal(err)
				}
				k.(*convKernel).lowering = v.lowering
				benchConvRuns(b, k, []*tensor.Tensor{x, w, bias}, sh.c*sh.k*sh.k, false)
			})
		}
	}
}

// TestConvPointwiseSmallImages covers 1×1 convolutions on images of at most 7×7 pixels, which
// take the gather product from depth 32 where its 64-wide AVX-512 tile fits (MobileNetV3's
// 96 → 576 expansion): that they do, and that their output (bias, fused residual and
// activation; two images; odd depths and image sizes) matches the float64 definition, the same
// bits on one and two threads.
func TestConvPointwiseSmallImages(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(95, 96))
	for _, sh := range []struct{ c, h, w, m int }{{96, 7, 7, 576}, {33, 7, 7, 64}, {40, 5, 7, 128}, {17, 7, 7, 64}} {
		label := fmt.Sprintf("%+v", sh)
		x, w, b := randTensor(r, 2, sh.c, sh.h, sh.w), randTensor(r, sh.m, sh.c, 1, 1), randTensor(r, sh.m)
		res := randTensor(r, 2, sh.m, sh.h, sh.w)
		var first []float32
		for threads := 1; threads <= 2; threads++ {
			k, err := newConv(convTestNode("Conv", nil, 4, nil, w))
			if err != nil {
				t.Fatal(err)
			}
			k.(ResidualFuser).FuseResidual()
			k.(ActivationFuser).FuseActivation(relu)
			got, err := k.Run(NewContext(threads), []*tensor.Tensor{x, w, b, res})
			if err != nil {
				t.Fatal(err)
			}
			s, _ := k.(*convKernel).cachedShape(x, w)
			if wantGather := sh.c >= 32 && gemm.GatherFast() && gemm.GatherWidth(sh.m) == 64; s.gather != wantGather {
				t.Errorf("%s: gather lowering %v, want %v", label, s.gather, wantGather)
			}
			want := refConv(x, w, b, 1, []int{1, 1}, []int{1, 1}, []int{0, 0}, []int{sh.h, sh.w})
			for i, v := range got[0].F32() {
				e := max(want[i]+float64(res.F32()[i]), 0)
				if math.Abs(float64(v)-e) > 1e-4*(1+math.Abs(e)) {
					t.Fatalf("%s threads %d: y[%d] = %g, want %g", label, threads, i, v, e)
				}
			}
			if threads == 1 {
				first = got[0].F32()
			} else if !slices.Equal(first, got[0].F32()) {
				t.Errorf("%s: two threads' output differs from one thread's", label)
			}
		}
	}
}
