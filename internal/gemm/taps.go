package gemm

import (
	"fmt"
	"slices"

	"github.com/actswap/actswap/internal/simd"
)

// TapBlock is the granularity of TapSum: it computes whole blocks of this many outputs.
const TapBlock = 32

// TapSum sets dst[j] = bias + Σ_t w[t]·src[offs[t]+j] for j < n rounded up to TapBlock: a depthwise
// convolution over a zero-padded (or stride-phased) plane, where every tap reads the plane
// shifted by a constant and the output lands on the plane's row grid. dst and src must cover the
// rounded-up range; the extra outputs are garbage for the caller to skip.
func TapSum(dst, src []float32, offs []int, w []float32, bias float32, n int) error {
	return tapSumOn(simd.Host(), dst, src, offs, w, bias, n)
}

// tapSumOn is TapSum with the kernels of level x.
func tapSumOn(x simd.Level, dst, src []float32, offs []int, w []float32, bias float32, n int) error {
	if len(w) != len(offs) {
		return fmt.Errorf("gemm: TapSum: %d weights for %d taps", len(w), len(offs))
	}
	if n <= 0 {
		return nil
	}
	span := ceilDiv(n, TapBlock) * TapBlock
	if len(dst) < span {
		return fmt.Errorf("gemm: TapSum: dst has %d values, want %d", len(dst), span)
	}
	if len(offs) > 0 {
		if lo, hi := slices.Min(offs), slices.Max(offs); lo < 0 || hi+span > len(src) {
			return fmt.Errorf("gemm: TapSum: taps read [%d, %d), src has %d values", lo, hi+span, len(src))
		}
	}
	tapKernel(x, span, dst, src, offs, w, bias)
	return nil
}

// tapKernelGeneric is the pure-Go TapSum over span (a multiple of TapBlock) outputs.
func tapKernelGeneric(span int, dst, src []float32, offs []int, w []float32, bias float32) {
	out := dst[:span]
	for j := range out {
		out[j] = bias
	}
	for t, off := range offs {
		wt := w[t]
		for j, v := range src[off : off+span] {
			out[j] += wt * v
		}
	}
}
