package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/tensor"
)

// TestConvGatherSkipsPadding runs gather convolutions whose windows reach into zero padding
// (pads 0–3, so some pixels see only padding; kernels 1×1 to 5×5; outputs 1×1 to 7×7; strides
// 1–2; dilation; batches of 1 and 16; input channels off multiples of 16, in one block of
// taps or several) with each grouping of
// rows by their valid taps (gatherClasses) and with every tap computed: each agrees with the
// float64 definition on one thread and two, and all give the same bits — skipping a tap that
// reads zero must change nothing. The exact windows (the first grouping) read the unpadded
// image in place.
func TestConvGatherSkipsPadding(t *testing.T) {
	t.Parallel()
	if !gemm.GatherFast() {
		t.Skip("no gather kernels on this machine")
	}
	r := rand.New(rand.NewPCG(61, 62))
	for trial := 0; trial < 24; trial++ {
		mg := []int{16, 32, 48, 64}[trial%4]
		cg := 1 + r.IntN(40)
		if trial%3 == 2 {
			cg = 65 + r.IntN(80) // several blocks of taps (gatherTapBlock), the last one short
		}
		kh, kw := 1+r.IntN(3), 1+r.IntN(3)
		if trial%6 == 5 {
			kh, kw = 5, 4
		}
		strides := []int{1 + r.IntN(2), 1 + r.IntN(2)}
		dilations := []int{1 + r.IntN(2), 1}
		pads := []int{r.IntN(4), r.IntN(4), r.IntN(4), r.IntN(4)}
		if trial%8 == 0 {
			pads = []int{3, 0, 3, 1} // kernels of 1–3 taps: whole windows of padding
		}
		ih := max(1, (kh-1)*dilations[0]+1-pads[0]-pads[2]) + r.IntN(7)
		iw := max(1, (kw-1)*dilations[1]+1-pads[1]-pads[3]) + r.IntN(7)
		batch := []int{1, 16}[trial%2]
		x := randTensor(r, batch, cg, ih, iw)
		w := randTensor(r, mg, cg, kh, kw)
		b := randTensor(r, mg)
		attrs := map[string]any{"strides": strides, "dilations": dilations, "pads": pads}
		var first *tensor.Tensor
		for _, lowering := range []convLowering{{allTaps: true}, {}, {tapGrouping: 1}, {tapGrouping: 2}, {tapGrouping: 3}} {
			lowering.forceGather = true
			k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
			if err != nil {
				t.Fatal(err)
			}
			k.(*convKernel).lowering = lowering
			s, err := k.(*convKernel).cachedShape(x, w)
			if err != nil {
				t.Fatal(err)
			}
			if lowering.tapGrouping == 1 && s.padded() && !s.gatherInPlace {
				t.Fatalf("trial %d: the exact windows do not read the image in place", trial)
			}
			for _, threads := range []int{1, 2} {
				label := fmt.Sprintf("trial %d (%v, x %v, w %v, %+v, %d threads)", trial, attrs, x.Shape, w.Shape, lowering, threads)
				y, _ := convAgreesWithRef(t, label, k, threads, x, w, b, 1, strides, dilations, pads[:2])
				if first == nil {
					first = y.Clone()
					continue
				}
				for i, v := range y.F32() {
					if v != first.F32()[i] {
						t.Fatalf("%s: y[%d] = %g, %g with every tap computed on one thread", label, i, v, first.F32()[i])
					}
				}
			}
		}
	}
}
