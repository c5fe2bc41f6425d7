package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/tensor"
)

// TestConvImageSplit checks the image split of batched gather convolutions (imageParts): the
// digits_cnn layers at batch 16, and batches that do and do not divide among the threads, with
// groups, a fused residual and activation, give on 2 and 3 threads exactly the 1-thread result
// (each image is computed by the same kernel either way), which agrees with the float64
// definition; and the split is taken where it is meant to be.
func TestConvImageSplit(t *testing.T) {
	t.Parallel()
	if !gemm.GatherFast() {
		t.Skip("no gather kernels on this machine: the image split is not reached")
	}
	r := rand.New(rand.NewPCG(41, 42))
	relu := func(dst []float32) {
		for i, v := range dst {
			dst[i] = max(v, 0)
		}
	}
	cases := []struct {
		batch, c, hw, m, group int
		split2                 bool // expected to split by images on 2 threads
	}{
		{16, 16, 8, 32, 1, true}, // digits_cnn c2
		{16, 32, 4, 64, 1, true}, // digits_cnn c3
		{16, 1, 8, 16, 1, false}, // digits_cnn c1: too little work to hand off
		{6, 32, 5, 64, 2, true},  // grouped, 3 images a thread
		{5, 32, 5, 64, 1, false}, // 3 + 2 images: left to the product's own split
		{9, 32, 5, 64, 1, true},  // 5 + 4: at least four a thread
		{2, 1, 3, 16, 1, false},  // too little work to hand off
	}
	for _, tc := range cases {
		label := fmt.Sprintf("batch %d, %d→%d channels, %d×%d, group %d", tc.batch, tc.c, tc.m, tc.hw, tc.hw, tc.group)
		x := randTensor(r, tc.batch, tc.c, tc.hw, tc.hw)
		w := randTensor(r, tc.m, tc.c/tc.group, 3, 3)
		b := randTensor(r, tc.m)
		attrs := map[string]any{"group": tc.group, "pads": []int{1, 1, 1, 1}}
		k, err := newConv(convTestNode("Conv", attrs, 4, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		// The gather lowering's image split is what is tested: left to timing (tuneLowering,
		// remembered per process), a parallel test that ran the same shape first may have
		// kept the direct kernel for digits_cnn's c1.
		k.(*convKernel).lowering = convLowering{forceGather: true}
		s, err := k.(*convKernel).cachedShape(x, w)
		if err != nil {
			t.Fatal(err)
		}
		if !s.gather {
			t.Fatalf("%s: not the gather lowering", label)
		}
		if got := s.imageParts(NewContext(2)) > 1; got != tc.split2 {
			t.Errorf("%s: split by images on 2 threads %v, want %v", label, got, tc.split2)
		}
		y, want := convAgreesWithRef(t, label, k, 2, x, w, b, tc.group, []int{1, 1}, []int{1, 1}, []int{1, 1})
		res := randTensor(r, y.Shape...)
		k.(ResidualFuser).FuseResidual()
		k.(ActivationFuser).FuseActivation(relu)
		checkFusedOnThreads(t, label+", fused", k, []*tensor.Tensor{x, w, b, res}, want)
	}
}

// TestConvGatherEpilogueOnThreads checks one image computed in pixel chunks (small
// lowering.chunkValues) on 1–3 threads — in units of pixels that each thread multiplies and
// transposes (small weights), or chunk by chunk with each product split over the threads
// (large weights) — and the larger images' padded copy split over the threads: with a fused
// residual and activation, bit-identical to one thread and within rounding of the float64
// definition.
func TestConvGatherEpilogueOnThreads(t *testing.T) {
	t.Parallel()
	if !gemm.GatherFast() {
		t.Skip("no gather kernels on this machine")
	}
	r := rand.New(rand.NewPCG(43, 44))
	for _, tc := range []struct {
		c, hw, m, chunkValues int
		units                 bool // split into units of pixels on several threads
	}{
		{64, 48, 64, 0, true},         // one chunk of 2304 pixels, units of 288 on 2 threads
		{64, 48, 64, 64 * 300, true},  // in chunks (and units) of 288
		{64, 30, 64, 64 * 100, false}, // 900 pixels in chunks of 102: units would be too small
		{48, 17, 32, 32 * 7, false},   // the 7×32 tile, chunks of 12 pixels
		{16, 64, 128, 128 * 300, true},
		{128, 12, 192, 0, false},        // 144 pixels: each product split by panels
		{128, 12, 192, 192 * 50, false}, // chunk by chunk
		{160, 24, 192, 0, false},        // 1080 KiB of weights: split by panels
		{48, 40, 192, 0, true},          // 324 KiB of weights, three units a thread
		{32, 24, 64, 0, true},           // 576 pixels: one unit a thread
		{3, 80, 64, 64 * 300, true},     // a stem: 3 channels, units of 294 pixels, the last short
	} {
		label := fmt.Sprintf("%d→%d channels, %d×%d, chunks of %d values", tc.c, tc.m, tc.hw, tc.hw, tc.chunkValues)
		x, w, b := randTensor(r, 1, tc.c, tc.hw, tc.hw), randTensor(r, tc.m, tc.c, 3, 3), randTensor(r, tc.m)
		k, err := newConv(convTestNode("Conv", map[string]any{"pads": []int{1, 1, 1, 1}}, 4, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		k.(*convKernel).lowering = convLowering{forceGather: true, chunkValues: tc.chunkValues}
		s, err := k.(*convKernel).cachedShape(x, w)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.gatherUnit(2) > 0; got != tc.units {
			t.Errorf("%s: units on 2 threads %v, want %v", label, got, tc.units)
		}
		y, want := convAgreesWithRef(t, label, k, 2, x, w, b, 1, []int{1, 1}, []int{1, 1}, []int{1, 1})
		res := randTensor(r, y.Shape...)
		k.(ResidualFuser).FuseResidual()
		k.(ActivationFuser).FuseActivation(relu)
		checkFusedOnThreads(t, label, k, []*tensor.Tensor{x, w, b, res}, want)
		checkFusedRelu(t, label, func() *convKernel {
			k, err := newConv(convTestNode("Conv", map[string]any{"pads": []int{1, 1, 1, 1}}, 4, nil, w))
			if err != nil {
				t.Fatal(err)
			}
			k.(*convKernel).lowering = convLowering{forceGather: true, chunkValues: tc.chunkValues}
			return k.(*convKernel)
		}, x, w, b, res)
	}
}

// checkFusedRelu checks that ReLU fused by FuseRelu, which the transposition into planes applies
// as it stores (with the residual), gives on 1–3 threads exactly what the same convolution gives
// with Go's max(v, 0) fused as an arbitrary activation on 1 thread, without and with a residual,
// on an input holding NaNs (which ReLU keeps).
func checkFusedRelu(t *testing.T, label string, newKernel func() *convKernel, x, w, b, res *tensor.Tensor) {
	t.Helper()
	x = x.Clone()
	for _, i := range []int{0, x.Len() / 2} { // a few outputs NaN, the others not
		x.F32()[i] = float32(math.NaN())
	}
	for _, residual := range []bool{false, true} {
		inputs := []*tensor.Tensor{x, w, b}
		conv := newKernel()
		if residual {
			conv.FuseResidual()
			inputs = append(inputs, res)
		}
		conv.FuseActivation(relu)
		outs, err := conv.Run(NewContext(1), inputs)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		want := outs[0].F32()
		conv.FuseRelu()
		for threads := 1; threads <= 3; threads++ {
			outs, err := conv.Run(NewContext(threads), inputs)
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			for i, v := range outs[0].F32() {
				if math.Float32bits(v) != math.Float32bits(want[i]) {
					t.Fatalf("%s, FuseRelu, residual %v, %d threads: y[%d] = %g, want %g", label, residual, threads, i, v, want[i])
				}
			}
		}
	}
}

// checkFusedOnThreads runs k (a convolution with a fused residual, inputs[3], and ReLU) on 1–3
// threads: the 1-thread output must agree with relu(want + residual) within 1e-4·(1+|y|), and
// every other thread count must give exactly the 1-thread output.
func checkFusedOnThreads(t *testing.T, label string, k Kernel, inputs []*tensor.Tensor, want []float64) {
	t.Helper()
	res := inputs[3].F32()
	var one []float32
	for threads := 1; threads <= 3; threads++ {
		outs, err := k.Run(NewContext(threads), inputs)
		if err != nil {
			t.Fatalf("%s, %d threads: %v", label, threads, err)
		}
		got := outs[0].F32()
		if threads == 1 {
			one = got
			for i, v := range got {
				if e := max(want[i]+float64(res[i]), 0); math.Abs(float64(v)-e) > 1e-4*(1+math.Abs(e)) {
					t.Fatalf("%s, 1 thread: y[%d] = %g, want %g", label, i, v, e)
				}
			}
			continue
		}
		for i, v := range got {
			if math.Float32bits(v) != math.Float32bits(one[i]) {
				t.Fatalf("%s, %d threads: y[%d] = %g, 1 thread gave %g", label, threads, i, v, one[i])
			}
		}
	}
}

// TestPadPlanesBands checks the padded copy of images whose planes do not divide among the
// threads (3 planes on 2 threads), split into bands of rows, against padding written out
// value by value, on 1–3 threads.
func TestPadPlanesBands(t *testing.T) {
	const ih, iw, top, bottom, left, pw = 37, 40, 3, 2, 3, 46
	ph := top + ih + bottom
	for _, planes := range []int{1, 3, 5} {
		src := make([]float32, planes*ih*iw)
		for i := range src {
			src[i] = float32(i + 1)
		}
		want := make([]float32, planes*ph*pw)
		for c := range planes {
			for y := range ih {
				copy(want[c*ph*pw+(top+y)*pw+left:], src[c*ih*iw+y*iw:c*ih*iw+(y+1)*iw])
			}
		}
		for threads := 1; threads <= 3; threads++ {
			got := make([]float32, len(want))
			for i := range got {
				got[i] = float32(math.NaN()) // every value must be written
			}
			p := padPlanes{dst: got, src: src, ih: ih, iw: iw, top: top, bottom: bottom, left: left, pw: pw}
			p.run(NewContext(threads), planes)
			if wantBands := 1 + (threads-1)*min(1, planes%threads); p.bands != wantBands {
				t.Errorf("%d planes on %d threads: %d bands, want %d", planes, threads, p.bands, wantBands)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%d planes on %d threads: value %d (plane %d, row %d, column %d) = %g, want %g",
						planes, threads, i, i/(ph*pw), i%(ph*pw)/pw, i%pw, got[i], want[i])
				}
			}
		}
	}
}

// TestConvPointwisePartialPanel checks 1×1 convolutions whose images are not a whole number of
// the GEMM's 32-pixel panels (14×14, 7×7, 6×6, 10×10; one of 8×8 that is): the whole panels
// are read in place and the last columns packed (pointwiseInPlace). With bias, a fused residual
// and Relu, two images, against the float64 definition, and on 2 and 3 threads bit for bit the
// 1-thread result.
func TestConvPointwisePartialPanel(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(95, 96))
	for _, sh := range []struct{ c, hw, m int }{{40, 14, 40}, {24, 7, 128}, {16, 6, 24}, {33, 10, 17}, {8, 8, 16}} {
		x, w, b := randTensor(r, 2, sh.c, sh.hw, sh.hw), randTensor(r, sh.m, sh.c, 1, 1), randTensor(r, sh.m)
		k, err := newConv(convTestNode("Conv", nil, 4, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		k.(*convKernel).lowering = convLowering{noGather: true}
		k.(ResidualFuser).FuseResidual()
		k.(ActivationFuser).FuseActivation(relu)
		s, _ := k.(*convKernel).cachedShape(x, w)
		if s.gather || s.direct != nil || s.wino != nil {
			t.Fatalf("%+v: not the plain product over channels", sh)
		}
		res := randTensor(r, 2, sh.m, sh.hw, sh.hw)
		ones := []int{1, 1}
		want := refConv(x, w, b, 1, ones, ones, []int{0, 0}, []int{sh.hw, sh.hw})
		checkFusedOnThreads(t, fmt.Sprintf("%+v", sh), k, []*tensor.Tensor{x, w, b, res}, want)
	}
}
