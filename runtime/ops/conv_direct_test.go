package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/tensor"
)

// TestConvDirect runs the direct lowering (forced, so the Go loop runs it where the assembly
// does not) on odd shapes — output widths not multiples of 16, strides 1, 2 and 4, pads 0–3
// (also uneven), 1–4 input channels of 1×1 to 4×4 windows, 1–40 output channels (partial
// 16-channel blocks), batches 1, 3 and 16, with no activation, ReLU or HardSwish fused and with
// and without a fused residual — against the float64 definition, and on 2 and 3 threads
// against the 1-thread bits.
func TestConvDirect(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(81, 82))
	acts := convTestActivations
	type directCase struct {
		batch, c, ih, iw, m, kh, kw, stride int
		pads                                []int // top, left, bottom, right
		act                                 int   // index in acts
		residual                            bool
	}
	var cases []directCase
	for i := range 40 {
		iw, ih := i+1, 1+(i*7)%9
		stride := []int{1, 2, 4}[i%3]
		kh, kw := 1+i%4, 1+(i/2)%4
		pads := []int{i % 4, (i + 1) % 4, (i / 4) % 4, i % 3}
		if ih+pads[0]+pads[2] < kh || iw+pads[1]+pads[3] < kw {
			pads[2], pads[3] = kh, kw // keep one output pixel at least
		}
		cases = append(cases, directCase{[]int{1, 3, 16}[(i/3)%3], 1 + (i/3)%4, ih, iw, 1 + (i*13)%40, kh, kw, stride, pads, (i / 2) % 3, i%5 == 0})
	}
	// Outputs of several bands of rows (directBandValues): a stem-like stride-2 layer with a
	// partial channel block, and a wide stride-1 one.
	cases = append(cases,
		directCase{2, 3, 45, 61, 20, 3, 3, 2, []int{1, 1, 1, 1}, 2, true},
		directCase{1, 1, 30, 50, 40, 3, 3, 1, []int{1, 1, 1, 1}, 1, false},
		// ResNet-18's stem on 11 rows (its 112-pixel rows on the run kernels as 3 + 2 + 2
		// vectors, bands of 4 rows), and a stride-1 layer of 5-vector rows (3 + 2).
		directCase{1, 3, 11, 224, 32, 7, 7, 2, []int{3, 3, 3, 3}, 1, true},
		directCase{1, 2, 7, 80, 16, 3, 3, 1, []int{1, 1, 1, 1}, 2, false})
	for _, dc := range cases {
		batch, c, ih, iw, m, kh, kw, stride, pads := dc.batch, dc.c, dc.ih, dc.iw, dc.m, dc.kh, dc.kw, dc.stride, dc.pads
		act := acts[dc.act]
		residual := dc.residual
		label := fmt.Sprintf("x %dx%dx%dx%d w %dx%dx%dx%d stride %d pads %v %s residual %v", batch, c, ih, iw, m, c, kh, kw, stride, pads, act.name, residual)
		x, w, b := randTensor(r, batch, c, ih, iw), randTensor(r, m, c, kh, kw), randTensor(r, m)
		oh, ow := (ih+pads[0]+pads[2]-kh)/stride+1, (iw+pads[1]+pads[3]-kw)/stride+1
		attrs := map[string]any{"strides": []int{stride, stride}, "pads": pads}
		k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		ck := k.(*convKernel)
		ck.lowering = convLowering{direct: true}
		if act.f32 != nil {
			ck.FuseActivation(act.f32)
		}
		inputs := []*tensor.Tensor{x, w, b}
		want := refConv(x, w, b, 1, []int{stride, stride}, []int{1, 1}, pads[:2], []int{oh, ow})
		if residual {
			res := randTensor(r, batch, m, oh, ow)
			ck.FuseResidual()
			inputs = append(inputs, res)
			for j, v := range res.F32() {
				want[j] += float64(v)
			}
		}
		for j := range want {
			want[j] = act.f64(want[j])
		}
		if s, err := ck.cachedShape(x, w); err != nil || s.direct == nil {
			t.Fatalf("%s: the direct lowering was not taken (%v)", label, err)
		}
		runOnThreads(t, label, k, inputs, func(j int, v float32) {
			if e := want[j]; !(math.Abs(float64(v)-e) <= 1e-4*(1+math.Abs(e))) {
				t.Fatalf("%s: y[%d] = %g, want %g", label, j, v, e)
			}
		})
	}
}

// convTestActivation is a fused activation of the convolution tests, in float32 and float64.
type convTestActivation struct {
	name string
	f32  func([]float32)
	f64  func(float64) float64
}

var convTestActivations = []convTestActivation{
	{"none", nil, func(v float64) float64 { return v }},
	{"relu", func(d []float32) { vecmath.Relu(d, d) }, func(v float64) float64 { return max(v, 0) }},
	{"hardswish", func(d []float32) { vecmath.HardSwish(d, d) }, func(v float64) float64 { return v * min(max(v+3, 0), 6) / 6 }},
}

// runOnThreads runs k on 1, 2 and 3 threads: check sees each value of the 1-thread output, and
// the others must give the same bits.
func runOnThreads(t *testing.T, label string, k Kernel, inputs []*tensor.Tensor, check func(j int, v float32)) {
	t.Helper()
	var one []float32
	for threads := 1; threads <= 3; threads++ {
		outs, err := k.Run(NewContext(threads), inputs)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		got := outs[0].F32()
		if threads == 1 {
			one = slices.Clone(got)
			for j, v := range got {
				check(j, v)
			}
			continue
		}
		for j, v := range got {
			if math.Float32bits(v) != math.Float32bits(one[j]) {
				t.Fatalf("%s, %d threads: y[%d] = %g, 1 thread gave %g", label, threads, j, v, one[j])
			}
		}
	}
}

// TestConvDirectIsTimed: where the direct kernel runs in assembly, a stem's first run times it
// against the other lowerings, and whichever wins is remembered and agrees with the float64
// definition.
func TestConvDirectIsTimed(t *testing.T) {
	r := rand.New(rand.NewPCG(83, 84))
	x, w, b := randTensor(r, 1, 3, 30, 30), randTensor(r, 16, 3, 3, 3), randTensor(r, 16)
	attrs := map[string]any{"strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}
	k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
	if err != nil {
		t.Fatal(err)
	}
	ck := k.(*convKernel)
	s, err := ck.newShape(x, w, ck.lowering)
	if err != nil {
		t.Fatal(err)
	}
	if !gemm.DirectFast(2) {
		if slices.ContainsFunc(tuneCandidates(s), func(l convLowering) bool { return l.direct }) {
			t.Fatal("the direct lowering's Go loop is offered for timing")
		}
		t.Skip("no direct convolution kernel on this machine")
	}
	if s.tuneKey == "" || !slices.ContainsFunc(tuneCandidates(s), func(l convLowering) bool { return l.direct }) {
		t.Fatalf("the stem is not timed with the direct lowering (tuneKey %q, candidates %+v)", s.tuneKey, tuneCandidates(s))
	}
	tunedLowerings.Delete(s.tuneKey)
	convAgreesWithRef(t, "tuning run", k, 1, x, w, b, 1, []int{2, 2}, []int{1, 1}, []int{1, 1})
	remembered, ok := tunedLowerings.Load(s.tuneKey)
	if !ok {
		t.Fatal("the timed lowering was not remembered")
	}
	if kept := ck.last.last.Load().value; (kept.direct != nil) != remembered.(convLowering).direct {
		t.Fatalf("kernel kept direct=%v, remembered %+v", kept.direct != nil, remembered)
	}
	convAgreesWithRef(t, "tuned run", k, 1, x, w, b, 1, []int{2, 2}, []int{1, 1}, []int{1, 1})
}

// TestConvTuneKeyLeavesOutTheEpilogue: the same convolution with a fused activation or residual
// shares the timed lowering of the plain one, so fusing never changes which loop computes the
// sums, nor their bits (with the epilogue in the key, timing picked the direct kernel for one
// and the gather product for the other, and TestConvUnaryActivationFusion failed in CI).
func TestConvTuneKeyLeavesOutTheEpilogue(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	x, w := randTensor(r, 1, 4, 7, 6), randTensor(r, 6, 4, 3, 3)
	attrs := map[string]any{"pads": []int{1, 1, 1, 1}}
	key := func(fuse func(Kernel)) string {
		t.Helper()
		k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		fuse(k)
		ck := k.(*convKernel)
		s, err := ck.newShape(x, w, ck.lowering)
		if err != nil {
			t.Fatal(err)
		}
		return ck.tuneKey(s)
	}
	plain := key(func(Kernel) {})
	if act := key(func(k Kernel) { k.(ActivationFuser).FuseActivation(relu) }); act != plain {
		t.Errorf("with a fused activation the tune key is %q, without %q", act, plain)
	}
	if res := key(func(k Kernel) { k.(ResidualFuser).FuseResidual() }); res != plain {
		t.Errorf("with a fused residual the tune key is %q, without %q", res, plain)
	}
}
