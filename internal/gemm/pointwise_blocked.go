package gemm

import (
	"fmt"

	"github.com/actswap/actswap/internal/simd"
)

// PointwiseBlocked computes n pixels of 16 output channels of a 1×1 convolution, written as
// BlockedTaps reads its input: dst[16p+c] = bias[c] + Σ_q x[q·lds+p]·w[16q+c] for p < n, from
// the k input planes of x (lds floats apart) and the weights w laid out [k][16] (the block's
// channels, input channel by input channel); bias nil is zero. Each value starts from its
// bias and adds the k products in order, one fused multiply-add each, so it is the same bits
// wherever it sits in a row and however the rows are cut. The expansion of an inverted-residual
// block computed this way goes straight into its depthwise convolution's interleaved band,
// where a product into planes had to be written out, read back and interleaved.
func PointwiseBlocked(dst, x []float32, lds, n, k int, w, bias []float32) error {
	return pointwiseBlockedOn(simd.Host(), dst, x, lds, n, k, w, bias)
}

// PointwiseBlockedFast reports whether PointwiseBlocked runs a vector kernel on this CPU (AVX-512);
// elsewhere it is the scalar loop, slower than a product into planes and Interleave16.
func PointwiseBlockedFast() bool { return simd.Host().Wide() && pointwiseBlockedAsm }

// pointwiseBlockedOn is PointwiseBlocked with the kernels of level x.
func pointwiseBlockedOn(x simd.Level, dst, xs []float32, lds, n, k int, w, bias []float32) error {
	const cb = ChannelBlock
	if n <= 0 {
		return nil
	}
	if k <= 0 || lds < n || len(dst) < cb*n || len(xs) < (k-1)*lds+n || len(w) < cb*k || bias != nil && len(bias) < cb {
		return fmt.Errorf("gemm: PointwiseBlocked: %d pixels of %d planes from %d values (lds %d), %d weights, into %d", n, k, len(xs), lds, len(w), len(dst))
	}
	if pointwiseBlockedKernel(x, n, dst, xs, lds, k, w, bias) {
		return nil
	}
	pointwiseBlockedGeneric(dst, xs, lds, n, k, w, bias)
	return nil
}

// pointwiseBlockedGeneric is PointwiseBlocked in Go, the products added in the kernel's order
// (each rounded before it is added, where the kernel fuses the two).
func pointwiseBlockedGeneric(dst, x []float32, lds, n, k int, w, bias []float32) {
	const cb = ChannelBlock
	for p := range n {
		var acc [cb]float32
		if bias != nil {
			copy(acc[:], bias[:cb])
		}
		for q := range k {
			v := x[q*lds+p]
			wq := w[q*cb : q*cb+cb]
			for c := range acc {
				acc[c] += v * wq[c]
			}
		}
		copy(dst[cb*p:cb*p+cb], acc[:])
	}
}
