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

// TestConvWinograd runs the Winograd lowering on random 3×3 stride-1 convolutions — odd and even
// sizes from 1×1 to 56×56, every padding of at most one pixel per side, channel counts that are
// not multiples of the vectors, batches of 1 and 3, bias, residual and activations, chunks of
// a few tiles to many — against the float64 definition, and on 1–3 threads bit for bit.
//
// The tolerance is relative to the same convolution of absolute values (|x|·|w| + |b| + |r|):
// F(2×2, 3×3) adds and subtracts each input 4 ways (Bᵀ·d·B) and each product 4 ways (Aᵀ·m·A),
// with weights G of at most 1, so every term of the result passes through a handful of float32
// roundings of values no larger than a few times its size, plus the product's sum over Ci
// (which the other lowerings round as well); 2⁻¹⁸ of the absolute convolution (about 64
// roundings of 2⁻²⁴) holds that with a margin: the largest error seen here is 8.4 roundings.
func TestConvWinograd(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(91, 92))
	var worst float64
	for i := range 36 {
		batch := []int{1, 3}[i%2]
		ih, iw := 1+(i*11)%56, 1+(i*17)%56
		if i%9 == 0 {
			ih, iw = 56, 56
		}
		pads := []int{i % 2, (i / 2) % 2, (i / 4) % 2, (i / 3) % 2} // top, left, bottom, right
		if ih+pads[0]+pads[2] < 3 || iw+pads[1]+pads[3] < 3 {
			pads = []int{1, 1, 1, 1}
			ih, iw = max(ih, 1), max(iw, 1)
		}
		c, m := 1+(i*7)%40, 1+(i*5)%37
		tiles := []int{0, 1, 5, 16, 40}[i%5]
		act := convTestActivations[(i/2)%3]
		residual := i%4 != 1
		label := fmt.Sprintf("x %dx%dx%dx%d w %dx%d pads %v %s residual %v tiles %d", batch, c, ih, iw, m, c, pads, act.name, residual, tiles)
		x, w, b := randTensor(r, batch, c, ih, iw), randTensor(r, m, c, 3, 3), randTensor(r, m)
		oh, ow := ih+pads[0]+pads[2]-2, iw+pads[1]+pads[3]-2
		attrs := map[string]any{"pads": pads}
		k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		ck := k.(*convKernel)
		ck.lowering = convLowering{winograd: true, winogradTiles: tiles}
		switch {
		case act.name == "relu": // applied by the output transform
			ck.FuseRelu()
		case act.f32 != nil:
			ck.FuseActivation(act.f32)
		}
		abs := func(v *tensor.Tensor) *tensor.Tensor {
			a := v.Clone()
			for j, e := range a.F32() {
				a.F32()[j] = float32(math.Abs(float64(e)))
			}
			return a
		}
		inputs := []*tensor.Tensor{x, w, b}
		want := refConv(x, w, b, 1, []int{1, 1}, []int{1, 1}, pads[:2], []int{oh, ow})
		size := refConv(abs(x), abs(w), abs(b), 1, []int{1, 1}, []int{1, 1}, pads[:2], []int{oh, ow})
		if residual {
			res := randTensor(r, batch, m, oh, ow)
			ck.FuseResidual()
			inputs = append(inputs, res)
			for j, v := range res.F32() {
				want[j] += float64(v)
				size[j] += math.Abs(float64(v))
			}
		}
		for j := range want {
			want[j] = act.f64(want[j])
		}
		if s, err := ck.cachedShape(x, w); err != nil || s.wino == nil {
			t.Fatalf("%s: the Winograd lowering was not taken (%v)", label, err)
		}
		runOnThreads(t, label, k, inputs, func(j int, v float32) {
			e := math.Abs(float64(v) - want[j])
			worst = max(worst, e/size[j])
			if !(e <= 0x1p-18*size[j]) {
				t.Fatalf("%s: y[%d] = %g, want %g (error %.3g of the absolute convolution %g)", label, j, v, want[j], e/size[j], size[j])
			}
		})
	}
	t.Logf("largest error: %.3g of the absolute convolution (%.1f float32 roundings); assembly transforms: %v", worst, worst/0x1p-24, gemm.WinogradFast())
}

// TestConvWinogradSplitTail: ResNet-18's 28×28 layer (196 tiles: 6 chunks of 32 and a tail of
// 4), its 56×56 one (784: 12 of 64 and a tail of 16) and 40 channels at 28×28 (one chunk of 128
// and a tail of 68) give the two halves of their tail's rows of U to the two middle items, so
// that two threads, each taking half of the items, take one half each (and, with an even count
// of whole chunks, as many of those); the output, with bias, residual and Relu, agrees with the
// float64 definition on 1–3 threads, bit for bit across them.
func TestConvWinogradSplitTail(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(95, 96))
	for _, sh := range []struct{ c, hw, chunks int }{{128, 28, 7}, {64, 56, 13}, {40, 28, 2}} {
		x, w, b := randTensor(r, 1, sh.c, sh.hw, sh.hw), randTensor(r, sh.c, sh.c, 3, 3), randTensor(r, sh.c)
		res := randTensor(r, 1, sh.c, sh.hw, sh.hw)
		pads := []int{1, 1, 1, 1}
		k, err := newConv(convTestNode("Conv", map[string]any{"pads": pads}, 3, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		ck := k.(*convKernel)
		ck.lowering = convLowering{winograd: true}
		ck.FuseResidual()
		ck.FuseRelu()
		s, err := ck.cachedShape(x, w)
		if err != nil || s.wino == nil {
			t.Fatalf("%+v: the Winograd lowering was not taken (%v)", sh, err)
		}
		l := s.wino
		if l.chunks != sh.chunks || l.items != sh.chunks+1 {
			t.Fatalf("%+v: %d chunks, %d items, want %d and %d (the tail split)", sh, l.chunks, l.items, sh.chunks, sh.chunks+1)
		}
		half := l.items / 2
		for i := 0; i < l.items; i++ {
			chunk, u0, u1 := l.item(i)
			tail := chunk == l.chunks-1
			switch {
			case !tail && (u0 != 0 || u1 != l.rows):
				t.Errorf("%+v: item %d: chunk %d for rows [%d, %d)", sh, i, chunk, u0, u1)
			case tail && i == half-1 && (u0 != 0 || u1 != l.splitRow):
				t.Errorf("%+v: item %d: the tail's rows [%d, %d), want [0, %d)", sh, i, u0, u1, l.splitRow)
			case tail && i == half && (u0 != l.splitRow || u1 != l.rows):
				t.Errorf("%+v: item %d: the tail's rows [%d, %d), want [%d, %d)", sh, i, u0, u1, l.splitRow, l.rows)
			case tail && i != half-1 && i != half:
				t.Errorf("%+v: the tail is item %d, not one of the middle two (%d, %d)", sh, i, half-1, half)
			}
		}
		want := refConv(x, w, b, 1, []int{1, 1}, []int{1, 1}, pads[:2], []int{sh.hw, sh.hw})
		for j, v := range res.F32() {
			want[j] = max(want[j]+float64(v), 0)
		}
		runOnThreads(t, fmt.Sprintf("%+v", sh), k, []*tensor.Tensor{x, w, b, res}, func(j int, v float32) {
			if math.Abs(float64(v)-want[j]) > 1e-4*(1+math.Abs(want[j])) {
				t.Fatalf("%+v: y[%d] = %g, want %g", sh, j, v, want[j])
			}
		})
	}
}

// TestConvWinogradIsTimed: where the transforms run in assembly, ResNet-18's 28×28 3×3 layer
// times the Winograd lowering beside the others, and its 14×14 one (49 tiles, under
// winogradMinTiles) and a layer with weights fed at run time do not.
func TestConvWinogradIsTimed(t *testing.T) {
	if !gemm.WinogradFast() || !gemm.GatherFast() {
		t.Skip("no Winograd transforms in assembly here: the lowering is never timed")
	}
	r := rand.New(rand.NewPCG(93, 94))
	attrs := map[string]any{"pads": []int{1, 1, 1, 1}}
	for _, sh := range []struct {
		c, hw    int
		constW   bool
		wantWino bool
	}{{128, 28, true, true}, {256, 14, true, false}, {128, 28, false, false}} {
		w := randTensor(r, sh.c, sh.c, 3, 3)
		var consts []*tensor.Tensor
		if sh.constW {
			consts = []*tensor.Tensor{nil, w}
		}
		k, err := newConv(convTestNode("Conv", attrs, 2, consts...))
		if err != nil {
			t.Fatal(err)
		}
		s, err := k.(*convKernel).newShape(randTensor(r, 1, sh.c, sh.hw, sh.hw), w, convLowering{})
		if err != nil {
			t.Fatal(err)
		}
		got := slices.ContainsFunc(tuneCandidates(s), func(l convLowering) bool { return l.winograd })
		if s.tuneKey == "" || got != sh.wantWino {
			t.Errorf("%+v: timed %v (tuneKey %q), Winograd among the candidates %v, want %v", sh, s.tuneKey != "", s.tuneKey, got, sh.wantWino)
		}
	}
}

// BenchmarkConvWinogradChain runs ResNet-18's Winograd shapes as a chain on 1 and 2 threads:
// each run convolves the last run's output (ping-pong between two tensors), as the model's
// residual blocks do, so that on two threads a layer reads what the threads wrote in the last
// one, wherever each thread's part of it lies.
func BenchmarkConvWinogradChain(b *testing.B) {
	for _, sh := range []struct{ c, hw int }{{64, 56}, {128, 28}} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("c%d_hw%d/threads=%d", sh.c, sh.hw, threads), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				x, w := randTensor(r, 1, sh.c, sh.hw, sh.hw), randTensor(r, sh.c, sh.c, 3, 3)
				scaled := w.F32()
				for i := range scaled {
					scaled[i] /= float32(3 * sh.c) // outputs as large as inputs, run after run
				}
				attrs := map[string]any{"pads": []int{1, 1, 1, 1}}
				k, err := newConv(convTestNode("Conv", attrs, 2, nil, w))
				if err != nil {
					b.Fatal(err)
				}
				k.(*convKernel).lowering = convLowering{winograd: true}
				y := tensor.Zeros(tensor.Float32, x.Shape)
				toY := &Context{Threads: threads, Allocator: reusedOutput{x.Len(): y}}
				toX := &Context{Threads: threads, Allocator: reusedOutput{x.Len(): x}}
				flops := 2 * 2 * float64(x.Len()*sh.c*9)
				start := testutil.ProcessCPU()
				for b.Loop() {
					if _, err := k.Run(toY, []*tensor.Tensor{x, w}); err != nil {
						b.Fatal(err)
					}
					if _, err := k.Run(toX, []*tensor.Tensor{y, w}); err != nil {
						b.Fatal(err)
					}
				}
				testutil.ReportCPU(b, start, flops)
			})
		}
	}
}
