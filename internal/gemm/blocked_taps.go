package gemm

import (
	"fmt"
	"slices"

	"github.com/actswap/actswap/internal/simd"
)

// ChannelBlock is the number of channels BlockedTaps interleaves: one zmm register, two ymm.
const ChannelBlock = 16

// BlockedTaps computes n output pixels of a depthwise convolution over ChannelBlock interleaved
// channels: dst[16p+c] = Σ_t w[16t+c] · src[offs[t] + 16·step·p + c]. src is a padded image laid
// out [rows][width][16], tap t reads it at element offset offs[t] (16·(ky·width + kx) for an
// undilated kernel), and step is the convolution's horizontal stride. Every tap is a vector
// multiply-add over 16 channels at once, so no padding, phase split or per-channel plane copy is
// needed, and any stride is a plain address step.
func BlockedTaps(dst, src []float32, offs []int, w []float32, n, step int) error {
	return blockedTapsOn(simd.Host(), dst, src, offs, w, n, step)
}

// blockedTapsOn is BlockedTaps with the kernels of level x.
func blockedTapsOn(x simd.Level, dst, src []float32, offs []int, w []float32, n, step int) error {
	if n <= 0 {
		return nil
	}
	if err := checkBlockedTaps(dst, src, offs, w, n, step); err != nil {
		return err
	}
	blockedTaps(x, n, dst, src, offs, w, step)
	return nil
}

// checkBlockedTaps verifies that BlockedTaps's n pixels (n > 0) stay inside dst and src.
func checkBlockedTaps(dst, src []float32, offs []int, w []float32, n, step int) error {
	const cb = ChannelBlock
	if len(offs) == 0 || len(w) != cb*len(offs) || step < 1 || len(dst) < cb*n {
		return fmt.Errorf("gemm: BlockedTaps: %d taps, %d weights, step %d, dst %d for %d pixels",
			len(offs), len(w), step, len(dst), n)
	}
	if lo, hi := slices.Min(offs), slices.Max(offs); lo < 0 || hi+cb*(step*(n-1)+1) > len(src) {
		return fmt.Errorf("gemm: BlockedTaps: taps read [%d, %d), src has %d values", lo, hi+cb*(step*(n-1)+1), len(src))
	}
	return nil
}

// BlockedTapsRows is BlockedTaps for rows output rows of n pixels each, in order: row r writes
// dst from 16·r·dstRow and reads src from 16·r·srcRow (strides in pixels), checked once for the
// band. Rows may overlap in dst (n > dstRow): a later row overwrites the earlier one's excess.
func BlockedTapsRows(dst, src []float32, offs []int, w []float32, rows, n, step, dstRow, srcRow int) error {
	return blockedTapsRowsOn(simd.Host(), dst, src, offs, w, rows, n, step, dstRow, srcRow)
}

// blockedTapsRowsOn is BlockedTapsRows with the kernels of level x.
func blockedTapsRowsOn(x simd.Level, dst, src []float32, offs []int, w []float32, rows, n, step, dstRow, srcRow int) error {
	const cb = ChannelBlock
	if rows <= 0 || n <= 0 {
		return nil
	}
	if dstRow < 0 || srcRow < 0 || len(dst) < cb*((rows-1)*dstRow+n) || len(src) < cb*(rows-1)*srcRow {
		return fmt.Errorf("gemm: BlockedTapsRows: %d rows of %d pixels (dst row %d, src row %d) into %d from %d",
			rows, n, dstRow, srcRow, len(dst), len(src))
	}
	// The last row reads and writes furthest: if it fits, every row does.
	if err := checkBlockedTaps(dst[cb*(rows-1)*dstRow:], src[cb*(rows-1)*srcRow:], offs, w, n, step); err != nil {
		return err
	}
	kh, kw, rowStride := windowOf(offs)
	whole := n / 8 * 8
	for r := range rows {
		d, s := dst[cb*r*dstRow:], src[cb*r*srcRow:]
		done := 0
		if whole > 0 && kh > 0 && blockedWindow(x, whole, d, s, w, kh, kw, rowStride, step) {
			done = whole
		}
		if done < n {
			blockedTaps(x, n-done, d[cb*done:], s[cb*step*done:], offs, w, step)
		}
	}
	return nil
}

// windowOf recognises the taps of an undilated kh×kw window, offs[ky·kw+kx] = ky·rowStride +
// 16·kx with kw > 1 and rowStride beyond the row's reach, the layout blockedWindow's kernels
// read with each input vector loaded once per window row; kh is 0 for other taps.
func windowOf(offs []int) (kh, kw, rowStride int) {
	const cb = ChannelBlock
	kw = 1
	for kw < len(offs) && offs[kw] == cb*kw {
		kw++
	}
	if kw < 2 || len(offs)%kw != 0 || offs[0] != 0 {
		return 0, 0, 0
	}
	kh = len(offs) / kw
	if kh > 1 {
		rowStride = offs[kw]
	}
	if kh > 1 && rowStride < cb*kw {
		return 0, 0, 0
	}
	for t, off := range offs {
		if off != t/kw*rowStride+cb*(t%kw) {
			return 0, 0, 0
		}
	}
	return kh, kw, rowStride
}

// blockedTapsGeneric is BlockedTaps in Go, for other CPUs and strides and as the tests' reference.
func blockedTapsGeneric(n int, dst, src []float32, offs []int, w []float32, step int) {
	const cb = ChannelBlock
	for p := range n {
		var acc [cb]float32
		base := cb * step * p
		for t, off := range offs {
			wt := w[cb*t : cb*t+cb]
			in := src[off+base : off+base+cb]
			for c := range acc {
				acc[c] += wt[c] * in[c]
			}
		}
		copy(dst[cb*p:cb*p+cb], acc[:])
	}
}

// Interleave16 writes n pixels of 16 channel rows, lds floats apart, channel-interleaved:
// dst[16p+c] = src[c·lds+p] — a block of planes going into BlockedTaps's layout.
func Interleave16(dst, src []float32, lds, n int) error {
	return interleave16On(simd.Host(), dst, src, lds, n)
}

// interleave16On is Interleave16 with the kernels of level x.
func interleave16On(x simd.Level, dst, src []float32, lds, n int) error {
	const cb = ChannelBlock
	if n <= 0 {
		return nil
	}
	if lds < n || len(dst) < cb*n || len(src) < (cb-1)*lds+n {
		return fmt.Errorf("gemm: Interleave16: %d pixels from %d values (lds %d) into %d", n, len(src), lds, len(dst))
	}
	p := 0
	if groups := n / 8; groups > 0 && interleaveGroups(x, groups, dst, src, lds) {
		p = groups * 8
	}
	for ; p < n; p++ {
		for c := range cb {
			dst[cb*p+c] = src[c*lds+p]
		}
	}
	return nil
}

// Split16 is Interleave16's reverse plus a bias per channel (none when bias is nil):
// dst[c·ldd+p] = src[16p+c] + bias[c] — BlockedTaps's output going back into channel planes.
func Split16(dst []float32, ldd int, src []float32, n int, bias []float32) error {
	return split16On(simd.Host(), dst, ldd, src, n, bias)
}

// split16On is Split16 with the kernels of level x.
func split16On(x simd.Level, dst []float32, ldd int, src []float32, n int, bias []float32) error {
	const cb = ChannelBlock
	if n <= 0 {
		return nil
	}
	if ldd < n || len(src) < cb*n || len(dst) < (cb-1)*ldd+n || bias != nil && len(bias) < cb {
		return fmt.Errorf("gemm: Split16: %d pixels from %d values into %d (ldd %d), bias %d", n, len(src), len(dst), ldd, len(bias))
	}
	var zeros [cb]float32
	if bias == nil {
		bias = zeros[:]
	}
	p := 0
	if groups := n / 8; groups > 0 && splitGroups(x, groups, dst, ldd, src, bias) {
		p = groups * 8
	}
	for ; p < n; p++ {
		for c := range cb {
			dst[c*ldd+p] = src[cb*p+c] + bias[c]
		}
	}
	return nil
}
