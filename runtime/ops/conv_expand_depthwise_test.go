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

// TestExpandDepthwiseParts runs the fused 1×1 expansion and depthwise convolution, with a bias
// and SiLU after both, on 1, 2 and 3 threads, which split it by channel blocks (expandPart):
// an expansion computed band by band (stride 2), unbanded ones whose 1×1 product reads X's
// planes in place or packs them (more than 128 channels), 3 and 9 blocks, split by blocks or
// (3 blocks on 2 threads, where blocks would leave one thread twice the work) by rows, two images,
// channel counts that are not multiples of 16,
// and expansions whose 1×1 convolution takes the gather lowering, which has no plane offsets to
// read X in place with (chosen by timing in a session, so forced here). With AVX-512 the
// unbanded pairs whose rows are at least 8 pixels long compute their expansion into the
// depthwise bands instead (blockedExpansion), by (image, block, band) items; each shape runs that
// way and with the expansion kept in planes (planesOnly), as without AVX-512. Each output must match
// the float64 definition, and carry the same bits on every thread count.
func TestExpandDepthwiseParts(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(97, 98))
	silu64 := func(v float64) float64 { return v / (1 + math.Exp(-v)) }
	for _, sh := range []struct {
		batch, c, m, hw, k, stride int
		byRows                     bool // on 2 threads, split by rows rather than channel blocks
		gather                     bool // the 1×1 convolution takes the gather lowering
	}{
		{1, 8, 32, 184, 3, 2, false, false}, {2, 8, 48, 32, 3, 1, true, false}, {2, 24, 144, 20, 5, 2, false, false}, {1, 16, 144, 14, 5, 1, false, false},
		// Banded, 150-pixel rows: a band's fresh rows end at X's end within a panel of 16 columns,
		// where reading them in place would take the product's last panel past X (they are packed).
		{1, 8, 48, 150, 3, 1, false, false}, {1, 8, 48, 150, 3, 2, false, false},
		{1, 8, 32, 186, 3, 1, false, true}, {1, 8, 32, 190, 3, 2, false, true},
		// Channels between multiples of 16, whose last block is the last 16 channels
		// (MobileNetV3's 72, 88 and 120): split by rows, by blocks with the partial block in a part
		// of several, banded (on 3 threads a part of the partial block alone), two images.
		{1, 16, 72, 56, 3, 2, true, false}, {1, 24, 88, 28, 3, 1, false, false}, {1, 40, 120, 14, 5, 1, false, false},
		{1, 8, 40, 184, 3, 2, false, false}, {2, 16, 24, 20, 3, 1, false, false},
	} {
		label := fmt.Sprintf("%+v", sh)
		x := randTensor(r, sh.batch, sh.c, sh.hw, sh.hw)
		w1, b1 := randTensor(r, sh.m, sh.c, 1, 1), randTensor(r, sh.m)
		w2, b2 := randTensor(r, sh.m, 1, sh.k, sh.k), randTensor(r, sh.m)
		p := sh.k / 2
		dwAttrs := map[string]any{"group": sh.m, "strides": []int{sh.stride, sh.stride}, "pads": []int{p, p, p, p}}
		// The float64 definition: 1×1 convolution, SiLU, depthwise convolution, SiLU.
		mid := refConv(x, w1, b1, 1, []int{1, 1}, []int{1, 1}, []int{0, 0}, []int{sh.hw, sh.hw})
		mid32 := make([]float32, len(mid))
		for i, v := range mid {
			mid32[i] = float32(silu64(v))
		}
		ho := (sh.hw-1)/sh.stride + 1
		want := refConv(tensor.New([]int{sh.batch, sh.m, sh.hw, sh.hw}, mid32), w2, b2, sh.m, []int{sh.stride, sh.stride}, []int{1, 1}, []int{p, p}, []int{ho, ho})
		for _, planes := range []bool{false, true} {
			var first []float32
			for threads := 1; threads <= 3; threads++ {
				pw, dw := siluConvPair(t, w1, b1, w2, b2, dwAttrs)
				if sh.gather {
					pw.(*convKernel).lowering = convLowering{forceGather: true}
				}
				k, ok := NewExpandDepthwise(pw, dw)
				if !ok {
					t.Fatalf("%s: not fused", label)
				}
				k.(*expandDepthwise).planesOnly = planes
				for run := range 2 { // the second run reuses the geometry and the parts' packed weights
					got, err := k.Run(NewContext(threads), []*tensor.Tensor{x, w1, b1, w2, b2})
					if err != nil {
						t.Fatal(err)
					}
					g, _ := k.(*expandDepthwise).geometry(x, w1, w2)
					if !g.splits {
						t.Fatalf("%s: not split across threads", label)
					}
					if want := sh.gather && gemm.GatherFast(); g.pw.gather != want { // no gather lowering without its assembly
						t.Fatalf("%s: the 1×1 convolution's gather lowering %v, want %v", label, g.pw.gather, want)
					}
					if byRows := !g.banded && g.rowsBalanceBetter(2); byRows != sh.byRows {
						t.Fatalf("%s: split by rows %v on 2 threads, want %v", label, byRows, sh.byRows)
					}
					for i, v := range got[0].F32() {
						e := silu64(want[i])
						if math.Abs(float64(v)-e) > 1e-4*(1+math.Abs(e)) || v != v {
							t.Fatalf("%s threads %d run %d: y[%d] = %g, want %g", label, threads, run, i, v, e)
						}
					}
					if first == nil {
						first = slices.Clone(got[0].F32())
					} else if !slices.Equal(first, got[0].F32()) {
						t.Errorf("%s: %d threads' output differs from one thread's", label, threads)
					}
				}
			}
		}
	}
}

func siluAct(dst []float32) { vecmath.SiLU(dst, dst) }

func siluBiasAct(dst []float32, bias float32) { vecmath.SiLUBias(dst, dst, bias) }

// siluConvPair returns a 1×1 convolution by w1, b1 and a depthwise one by w2, b2 (attributes
// dwAttrs), each with SiLU fused, the 1×1's with its bias in the same pass, as the runtime fuses
// them.
func siluConvPair(t testing.TB, w1, b1, w2, b2 *tensor.Tensor, dwAttrs map[string]any) (pw, dw Kernel) {
	t.Helper()
	pw, err := newConv(convTestNode("Conv", nil, 3, nil, w1, b1))
	if err != nil {
		t.Fatal(err)
	}
	if dw, err = newConv(convTestNode("Conv", dwAttrs, 3, nil, w2, b2)); err != nil {
		t.Fatal(err)
	}
	pw.(ActivationFuser).FuseActivation(siluAct)
	if !pw.(BiasedActivationFuser).FuseBiasedActivation(siluBiasAct) {
		t.Fatal("the 1×1 convolution refused the biased SiLU")
	}
	dw.(ActivationFuser).FuseActivation(siluAct)
	return pw, dw
}
