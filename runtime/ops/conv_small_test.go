package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/tensor"
)

// digitsConvShapes are the convolutions of the digits models at a batch of 16 (their stored
// test inputs): digits_cnn's three 3×3 layers (c1 has one input channel) and digits_vit's 2×2
// stride-2 patch embedding.
var digitsConvShapes = []struct {
	name                     string
	c, hw, m, k, stride, pad int
	relu                     bool
}{
	{"cnn_c1", 1, 8, 16, 3, 1, 1, true}, {"cnn_c2", 16, 8, 32, 3, 1, 1, true},
	{"cnn_c3", 32, 4, 64, 3, 1, 1, true}, {"vit_patch", 1, 8, 64, 2, 2, 0, false},
}

// BenchmarkConvDigits runs the digits models' convolutions at batch 16 on one thread through
// each lowering, in GFLOP/s.
func BenchmarkConvDigits(b *testing.B) {
	for _, sh := range digitsConvShapes {
		for _, batch := range []int{16, 1} {
			for _, v := range []struct {
				name     string
				lowering convLowering
			}{{"best", convLowering{}}, {"gather", convLowering{forceGather: true}}, {"nogather", convLowering{noGather: true}}, {"direct", convLowering{direct: true}},
				{"alltaps", convLowering{allTaps: true}}, {"group1", convLowering{tapGrouping: 1}}, {"group2", convLowering{tapGrouping: 2}}, {"group3", convLowering{tapGrouping: 3}},
				{"winograd", convLowering{winograd: true}}} {
				b.Run(fmt.Sprintf("%s_b%d_%s", sh.name, batch, v.name), func(b *testing.B) {
					r := rand.New(rand.NewPCG(1, 2))
					x, w, bias := randTensor(r, batch, sh.c, sh.hw, sh.hw), randTensor(r, sh.m, sh.c, sh.k, sh.k), randTensor(r, sh.m)
					attrs := map[string]any{"strides": []int{sh.stride, sh.stride}, "pads": []int{sh.pad, sh.pad, sh.pad, sh.pad}}
					k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
					if err != nil {
						b.Fatal(err)
					}
					k.(*convKernel).lowering = v.lowering
					if sh.relu {
						k.(*convKernel).FuseActivation(func(d []float32) { vecmath.Relu(d, d) })
					}
					benchConvRuns(b, k, []*tensor.Tensor{x, w, bias}, sh.c*sh.k*sh.k, true)
				})
			}
		}
	}
}

// TestConvOneInputChannel checks that convolutions of one input channel per group with several
// filters — the digits models' first layers — take the batched gather product (or the direct
// kernel, where it was timed faster) where they run fast, and agree with the float64 definition
// at batch 16 and 1, on one thread and two.
func TestConvOneInputChannel(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(31, 32))
	for _, sh := range digitsConvShapes {
		if sh.c != 1 {
			continue
		}
		for _, batch := range []int{16, 1} {
			x, w, bias := randTensor(r, batch, sh.c, sh.hw, sh.hw), randTensor(r, sh.m, sh.c, sh.k, sh.k), randTensor(r, sh.m)
			strides, pads := []int{sh.stride, sh.stride}, []int{sh.pad, sh.pad, sh.pad, sh.pad}
			k, err := newConv(convTestNode("Conv", map[string]any{"strides": strides, "pads": pads}, 3, nil, w))
			if err != nil {
				t.Fatal(err)
			}
			s, err := k.(*convKernel).cachedShape(x, w)
			if err != nil {
				t.Fatal(err)
			}
			if gemm.GatherFast() && !s.gather && s.direct == nil { // the direct kernel where timing chose it
				t.Errorf("%s at batch %d: neither the gather product nor the direct kernel was chosen", sh.name, batch)
			}
			for threads := 1; threads <= 2; threads++ {
				convAgreesWithRef(t, fmt.Sprintf("%s batch %d threads %d", sh.name, batch, threads), k, threads, x, w, bias, 1, strides, []int{1, 1}, pads[:2])
			}
		}
	}
}
