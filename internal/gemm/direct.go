package gemm

import (
	"fmt"
	"slices"

	"github.com/actswap/actswap/internal/simd"
)

// DirectBlock is how many output channels one DirectConvRows call computes: one accumulator
// register each.
const DirectBlock = 16

// DirectLanes is how many output pixels of a row one vector holds.
const DirectLanes = 16

// DirectFast reports whether DirectConvRows runs in assembly on this machine for horizontal
// stride step (AVX-512: strides 1, 2 and 4); elsewhere it is a Go loop, correct but slow, so
// callers should keep their other lowerings.
func DirectFast(step int) bool {
	return directFastOn(simd.Host(), step)
}

func directFastOn(x simd.Level, step int) bool {
	return directAsm && x.Wide() && (step == 1 || step == 2 || step == 4)
}

// DirectSlack is how many values past the last one a convolution reads src must hold for
// DirectConvRows with horizontal stride step: the kernels load whole vectors of input.
func DirectSlack(step int) int { return DirectLanes * step }

// DirectConvRows computes a direct convolution for up to DirectBlock output channels over rows
// output rows of width pixels, vectors along the pixels of a row:
//
//	dst[j·plane + r·dstRow + x] = bias[j] + Σ_t w[DirectBlock·t + j] · src[r·srcRow + offs[t] + step·x]
//
// for j < channels, r < rows, x < width. src is a zero-padded image (all its channels' planes),
// tap t of the window at element offset offs[t], so the output needs no padding logic and no
// transposition: each channel's accumulators are stored straight into its plane. w holds
// DirectBlock weights per tap (zeros for channels past channels); bias is nil or DirectBlock
// values. src must hold DirectSlack(step) values after the last value the convolution reads.
func DirectConvRows(dst []float32, plane, dstRow int, src []float32, srcRow int, offs []int, w, bias []float32, channels, width, rows, step int) error {
	return directConvRowsOn(simd.Host(), dst, plane, dstRow, src, srcRow, offs, w, bias, channels, width, rows, step)
}

// directConvRowsOn is DirectConvRows with the kernels of level x.
func directConvRowsOn(x simd.Level, dst []float32, plane, dstRow int, src []float32, srcRow int, offs []int, w, bias []float32, channels, width, rows, step int) error {
	if rows <= 0 || width <= 0 {
		return nil
	}
	const cb = DirectBlock
	taps := len(offs)
	if channels < 1 || channels > cb || taps == 0 || len(w) != cb*taps || step < 1 || plane < 0 || dstRow < 0 || srcRow < 0 ||
		(bias != nil && len(bias) != cb) {
		return fmt.Errorf("gemm: DirectConvRows: %d channels, %d taps, %d weights, %d bias values, step %d, strides %d/%d/%d",
			channels, taps, len(w), len(bias), step, plane, dstRow, srcRow)
	}
	if need := (channels-1)*plane + (rows-1)*dstRow + width; need > len(dst) {
		return fmt.Errorf("gemm: DirectConvRows: writes %d values, dst has %d", need, len(dst))
	}
	// The last row's last vector reads furthest: step·16 values from its first pixel's.
	lastVec := (width - 1) / DirectLanes * DirectLanes
	lo, hi := slices.Min(offs), slices.Max(offs)
	if need := (rows-1)*srcRow + hi + step*(lastVec+DirectLanes); lo < 0 || need > len(src) {
		return fmt.Errorf("gemm: DirectConvRows: taps read [%d, %d), src has %d values", lo, need, len(src))
	}
	if directFastOn(x, step) {
		directConvAsm(dst, plane, dstRow, src, srcRow, offs, w, bias, channels, width, rows, step)
		return nil
	}
	directConvGeneric(dst, plane, dstRow, src, srcRow, offs, w, bias, channels, width, rows, step)
	return nil
}

// directConvGeneric is DirectConvRows in Go, for other CPUs and strides and as the tests'
// reference. It sums the taps in the kernels' order (the kernels fuse each multiply-add, so
// the two can differ in the last bits).
func directConvGeneric(dst []float32, plane, dstRow int, src []float32, srcRow int, offs []int, w, bias []float32, channels, width, rows, step int) {
	const cb = DirectBlock
	for r := range rows {
		in := src[r*srcRow:]
		for j := range channels {
			var b float32
			if bias != nil {
				b = bias[j]
			}
			out := dst[j*plane+r*dstRow : j*plane+r*dstRow+width]
			for x := range out {
				acc := b
				for t, off := range offs {
					acc += w[cb*t+j] * in[off+step*x]
				}
				out[x] = acc
			}
		}
	}
}

// directRuns splits a row's vectors of 16 pixels into runs of 3 and runs of 2 for the run
// kernels (see the generator's directConvRunKernel: a weight broadcast once for 3 or 2 FMAs),
// covering as many as runs can: ResNet-18's 112-pixel stem rows, 7 vectors, as 3 + 2 + 2. A
// single vector is left to the 16-channel kernel.
func directRuns(vectors int) (threes, twos int) {
	switch {
	case vectors < 2:
		return 0, 0
	case vectors%3 == 0:
		return vectors / 3, 0
	case vectors%3 == 1:
		return (vectors - 4) / 3, 2
	}
	return vectors / 3, 1
}
