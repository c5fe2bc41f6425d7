package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/tensor"
)

// effnetExpandShapes are EfficientNet-B0's expansion + depthwise pairs (batch 1, 224×224 input):
// input channels, expanded channels, image size, depthwise kernel and stride.
var effnetExpandShapes = []struct{ c, m, hw, k, stride int }{
	{16, 96, 112, 3, 2}, {24, 144, 56, 3, 1}, {24, 144, 56, 5, 2}, {40, 240, 28, 5, 1}, {40, 240, 28, 3, 2},
	{80, 480, 14, 3, 1}, {80, 480, 14, 5, 1}, {112, 672, 14, 5, 1}, {112, 672, 14, 5, 2}, {192, 1152, 7, 5, 1}, {192, 1152, 7, 3, 1},
}

// BenchmarkExpandDepthwiseEfficientNet times each pair of effnetExpandShapes with SiLU after both
// convolutions, on one thread, reporting CPU time per run: fused, and its parts alone (the 1×1
// convolution with SiLU, the depthwise one with SiLU, SiLU over the expanded tensor).
func BenchmarkExpandDepthwiseEfficientNet(b *testing.B) {
	for _, sh := range effnetExpandShapes {
		r := rand.New(rand.NewPCG(1, 2))
		ho := (sh.hw-1)/sh.stride + 1
		x := randTensor(r, 1, sh.c, sh.hw, sh.hw)
		w1, b1 := randTensor(r, sh.m, sh.c, 1, 1), randTensor(r, sh.m)
		w2, b2 := randTensor(r, sh.m, 1, sh.k, sh.k), randTensor(r, sh.m)
		mid := randTensor(r, 1, sh.m, sh.hw, sh.hw)
		p := sh.k / 2
		dwAttrs := map[string]any{"group": sh.m, "strides": []int{sh.stride, sh.stride}, "pads": []int{p, p, p, p}}
		newPair := func(b *testing.B) (Kernel, Kernel) { return siluConvPair(b, w1, b1, w2, b2, dwAttrs) }
		name := fmt.Sprintf("c%d_m%d_hw%d_k%d_s%d", sh.c, sh.m, sh.hw, sh.k, sh.stride)
		b.Run(name+"/fused", func(b *testing.B) {
			pw, dw := newPair(b)
			k, ok := NewExpandDepthwise(pw, dw)
			if !ok {
				b.Fatal("not fused")
			}
			benchConvRuns(b, k, []*tensor.Tensor{x, w1, b1, w2, b2}, sh.c+sh.k*sh.k*sh.hw*sh.hw/(ho*ho), false)
		})
		b.Run(name+"/pw", func(b *testing.B) {
			pw, _ := newPair(b)
			benchConvRuns(b, pw, []*tensor.Tensor{x, w1, b1}, sh.c, false)
		})
		b.Run(name+"/dw", func(b *testing.B) {
			_, dw := newPair(b)
			benchConvRuns(b, dw, []*tensor.Tensor{mid, w2, b2}, sh.k*sh.k, false)
		})
		b.Run(name+"/silu", func(b *testing.B) {
			v := mid.F32()
			dst := make([]float32, len(v))
			start := testutil.ProcessCPU()
			for b.Loop() {
				vecmath.SiLU(dst, v)
			}
			testutil.ReportCPU(b, start, float64(len(v)))
		})
	}
}
