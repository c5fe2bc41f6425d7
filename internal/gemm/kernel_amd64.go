//go:build amd64 && !noasm

package gemm

import (
	"fmt"

	"github.com/actswap/actswap/internal/simd"
)

// microKernel computes one mr×nr tile; slices must hold k·mr, k·nr and (mr−1)·ldc+nr values.
func microKernel(x simd.Level, k int, a, b, c []float32, ldc int, accumulate bool) {
	if x.Asm() {
		_ = a[k*mr-1]
		_ = b[k*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		kernel6x16(k, &a[0], &b[0], &c[0], ldc, accumulate)
		return
	}
	kernelGeneric(k, a, b, c, ldc, accumulate)
}

// narrowKernel stores the first nr/2 columns of an mr×nr tile (the rest of c's rows may be
// written too); used for a matrix's last panel when it holds ≤ nr/2 real columns.
func narrowKernel(x simd.Level, k int, a, b, c []float32, ldc int) {
	if x.Asm() {
		_ = a[k*mr-1]
		_ = b[k*nr-1]
		_ = c[(mr-1)*ldc+nr/2-1]
		kernel6x8(k, &a[0], &b[0], &c[0], ldc)
		return
	}
	kernelGeneric(k, a, b, c, ldc, false)
}

// indirectKernel is microKernel with B row p read at b[offs[p]:]; the caller guarantees
// b[offs[p] : offs[p]+nr] is in range for every p (SgemmPackedAIndirect checks it once).
func indirectKernel(x simd.Level, k int, a, b []float32, offs []int, c []float32, ldc int, accumulate bool) {
	if x.Asm() {
		_ = a[k*mr-1]
		_ = offs[k-1]
		_ = c[(mr-1)*ldc+nr-1]
		kernel6x16Indirect(k, &a[0], &b[0], &offs[0], &c[0], ldc, accumulate)
		return
	}
	kernelGenericIndirect(k, a, b, offs, c, ldc, accumulate)
}

// wideKernel computes a rows×2nr tile, rows from 1 to 2mr: a holds the A panels of its rows
// (k·mr values each; past row mr the second, which may be partly padding) and b two adjacent B
// panels (k·nr values each), as packed for microKernel.
func wideKernel(x simd.Level, rows, k int, a, b, c []float32, ldc int, accumulate bool) {
	_ = a[ceilDiv(rows, mr)*k*mr-1]
	_ = b[2*k*nr-1]
	_ = c[(rows-1)*ldc+2*nr-1]
	a0, b0, c0 := &a[0], &b[0], &c[0]
	switch rows {
	case 1:
		kernel1x32(k, a0, b0, c0, ldc, accumulate)
	case 2:
		kernel2x32(k, a0, b0, c0, ldc, accumulate)
	case 3:
		kernel3x32(k, a0, b0, c0, ldc, accumulate)
	case 4:
		kernel4x32(k, a0, b0, c0, ldc, accumulate)
	case 5:
		kernel5x32(k, a0, b0, c0, ldc, accumulate)
	case 6:
		kernel6x32(k, a0, b0, c0, ldc, accumulate)
	case 7:
		kernel7x32(k, a0, b0, c0, ldc, accumulate)
	case 8:
		kernel8x32(k, a0, b0, c0, ldc, accumulate)
	case 9:
		kernel9x32(k, a0, b0, c0, ldc, accumulate)
	case 10:
		kernel10x32(k, a0, b0, c0, ldc, accumulate)
	case 11:
		kernel11x32(k, a0, b0, c0, ldc, accumulate)
	case 2 * mr:
		kernel12x32(k, a0, b0, c0, ldc, accumulate)
	default:
		panic(fmt.Sprintf("gemm: no wide kernel of %d rows", rows))
	}
}

// wideKernelDirectA is wideKernel with A's 2mr rows read from a row-major matrix, lda apart,
// and bias (nil for none, else 2nr values) added to each row of the tile. With prefetch it
// also fetches the next pair of B panels (weights packed ahead, read from memory once per run;
// see the generator).
func wideKernelDirectA(x simd.Level, k int, a []float32, lda int, b, c []float32, ldc int, accumulate, prefetch bool, bias []float32) {
	_ = a[(2*mr-1)*lda+k-1]
	_ = b[2*k*nr-1]
	_ = c[(2*mr-1)*ldc+2*nr-1]
	bp := biasPointer(bias, 2*nr)
	if prefetch {
		kernel12x32DirectAPrefetch(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		return
	}
	kernel12x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
}

// biasPointer is a direct tile's bias argument: nil for none, else the first of its width
// values (checked).
func biasPointer(bias []float32, width int) *float32 {
	if bias == nil {
		return nil
	}
	_ = bias[width-1]
	return &bias[0]
}

// directKernel is wideKernelDirectA for a rows×(panels·nr) tile, rows from minDirectRows to
// 2mr, panels 1 or 2: the tiles that a product's 12-row tiles leave over (see directTileRows).
func directKernel(x simd.Level, rows, panels, k int, a []float32, lda int, b, c []float32, ldc int, accumulate bool, bias []float32) {
	_ = a[(rows-1)*lda+k-1]
	_ = b[panels*k*nr-1]
	_ = c[(rows-1)*ldc+panels*nr-1]
	bp := biasPointer(bias, panels*nr)
	if panels == 2 {
		switch rows {
		case 3:
			kernel3x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		case 4:
			kernel4x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		case 5:
			kernel5x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		case 6:
			kernel6x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		case 7:
			kernel7x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		case 8:
			kernel8x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		case 9:
			kernel9x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		case 10:
			kernel10x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		case 11:
			kernel11x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		case 2 * mr:
			kernel12x32DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
		default:
			panic("gemm: no direct tile of this height") // directTileRows never gives one
		}
		return
	}
	switch rows {
	case 3:
		kernel3x16DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
	case 4:
		kernel4x16DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
	case 5:
		kernel5x16DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
	case 6:
		kernel6x16DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
	case 7:
		kernel7x16DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
	case 8:
		kernel8x16DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
	case 9:
		kernel9x16DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
	case 10:
		kernel10x16DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
	case 11:
		kernel11x16DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
	case 12:
		kernel12x16DirectA(k, &a[0], lda, &b[0], &c[0], ldc, accumulate, bp)
	default:
		panic("gemm: no direct tile of this height")
	}
}

// wideIndirectKernel is wideKernel with B row p read at b[offs[p] : offs[p]+2nr].
func wideIndirectKernel(x simd.Level, rows, k int, a, b []float32, offs []int, c []float32, ldc int, accumulate bool) {
	_ = a[ceilDiv(rows, mr)*k*mr-1]
	_ = offs[k-1]
	_ = c[(rows-1)*ldc+2*nr-1]
	a0, b0, o0, c0 := &a[0], &b[0], &offs[0], &c[0]
	switch rows {
	case 1:
		kernel1x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 2:
		kernel2x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 3:
		kernel3x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 4:
		kernel4x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 5:
		kernel5x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 6:
		kernel6x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 7:
		kernel7x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 8:
		kernel8x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 9:
		kernel9x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 10:
		kernel10x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 11:
		kernel11x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	case 2 * mr:
		kernel12x32Indirect(k, a0, b0, o0, c0, ldc, accumulate)
	default:
		panic(fmt.Sprintf("gemm: no wide kernel of %d rows", rows))
	}
}

// addRowF32 is dst[i] += src[i], the epilogue's per-column bias.
func addRowF32(x simd.Level, dst, src []float32) {
	if len(dst) == 0 {
		return
	}
	_ = src[len(dst)-1]
	if x.Asm() {
		addRow(&dst[0], &src[0], len(dst))
		return
	}
	for i := range dst {
		dst[i] += src[i]
	}
}

// scaleF32 is dst[i] *= v: alpha applied to a packed panel.
func scaleF32(x simd.Level, dst []float32, v float32) {
	if x.Asm() && len(dst) > 0 {
		mulScalar(&dst[0], len(dst), v)
		return
	}
	for i := range dst {
		dst[i] *= v
	}
}

// addScalarF32 is dst[i] += v, the epilogue's per-row bias.
func addScalarF32(x simd.Level, dst []float32, v float32) {
	if x.Asm() && len(dst) > 0 {
		addScalar(&dst[0], len(dst), v)
		return
	}
	for i := range dst {
		dst[i] += v
	}
}

// gatherKernel computes a len(rows)×nr tile of a gathered A times an nr-column panel of B
// into C's rows at offsets crows (one per row of the tile, ascending: checking the first and
// the last covers them all); SgemmGather has checked that every data[rows[i]+cols[p]] is in
// range. The assembly tiles prefetch k cache lines from the address ahead (see gatherJob.run).
func gatherKernel(x simd.Level, k int, data []float32, rows, cols []int, b []float32, nr int, c []float32, crows []int, accumulate bool, ahead uintptr) {
	_ = cols[k-1]
	_ = b[k*nr-1]
	last := crows[len(rows)-1]
	_ = c[crows[0]:last]
	_ = c[last : last+nr]
	switch {
	case x.Wide() && len(rows) == 7 && nr == 64:
		kernel7x64Gather(k, &data[0], &rows[0], &cols[0], &b[0], &c[0], &crows[0], accumulate, ahead)
	case x.Wide() && len(rows) == 5 && nr == 64:
		kernel5x64Gather(k, &data[0], &rows[0], &cols[0], &b[0], &c[0], &crows[0], accumulate, ahead)
	case x.Wide() && len(rows) == 6 && nr == 64:
		kernel6x64Gather(k, &data[0], &rows[0], &cols[0], &b[0], &c[0], &crows[0], accumulate, ahead)
	case x.Wide() && len(rows) == 7 && nr == 32:
		kernel7x32Gather(k, &data[0], &rows[0], &cols[0], &b[0], &c[0], &crows[0], accumulate, ahead)
	case x.Wide() && len(rows) == 10 && nr == 16:
		kernel10x16Gather(k, &data[0], &rows[0], &cols[0], &b[0], &c[0], &crows[0], accumulate, ahead)
	case x.Asm() && len(rows) == 6 && nr == 16:
		kernel6x16Gather(k, &data[0], &rows[0], &cols[0], &b[0], &c[0], &crows[0], accumulate, ahead)
	default:
		gatherKernelGeneric(k, data, rows, cols, b, nr, c, crows, accumulate)
	}
}

// tapKernel runs TapSum's checked product over span outputs.
func tapKernel(x simd.Level, span int, dst, src []float32, offs []int, w []float32, bias float32) {
	if !x.Asm() || len(offs) == 0 {
		tapKernelGeneric(span, dst, src, offs, w, bias)
		return
	}
	kernelTaps(span, &dst[0], &src[0], &offs[0], &w[0], len(offs), bias)
}

// blockedTaps runs BlockedTaps's checked product: the AVX-512 or AVX2 kernel for strides 1 and
// 2, Go otherwise.
func blockedTaps(x simd.Level, n int, dst, src []float32, offs []int, w []float32, step int) {
	switch {
	case x.Wide() && step == 1:
		blockedTapsZ1(n, &dst[0], &src[0], &offs[0], &w[0], len(offs))
	case x.Wide() && step == 2:
		blockedTapsZ2(n, &dst[0], &src[0], &offs[0], &w[0], len(offs))
	case x.Asm() && step == 1:
		blockedTapsY1(n, &dst[0], &src[0], &offs[0], &w[0], len(offs))
	case x.Asm() && step == 2:
		blockedTapsY2(n, &dst[0], &src[0], &offs[0], &w[0], len(offs))
	default:
		blockedTapsGeneric(n, dst, src, offs, w, step)
	}
}

// blockedWindow runs BlockedTaps's whole groups of 8 pixels for an undilated kh×kw window
// whose rows are srcRow floats apart (see blockedTapsRowsOn) in assembly: false without AVX-512
// or for a window width or stride it has no kernel for. n is a multiple of 8.
func blockedWindow(x simd.Level, n int, dst, src, w []float32, kh, kw, srcRow, step int) bool {
	if !x.Wide() {
		return false
	}
	switch {
	case step == 1 && kw == 3:
		blockedWindowZ1K3(n, &dst[0], &src[0], &w[0], kh, srcRow)
	case step == 1 && kw == 5:
		blockedWindowZ1K5(n, &dst[0], &src[0], &w[0], kh, srcRow)
	case step == 2 && kw == 3:
		blockedWindowZ2K3(n, &dst[0], &src[0], &w[0], kh, srcRow)
	case step == 2 && kw == 5:
		blockedWindowZ2K5(n, &dst[0], &src[0], &w[0], kh, srcRow)
	case step == 1 && kw == 7:
		blockedWindowZ1K7(n, &dst[0], &src[0], &w[0], kh, srcRow)
	case step == 2 && kw == 7:
		blockedWindowZ2K7(n, &dst[0], &src[0], &w[0], kh, srcRow)
	default:
		return false
	}
	return true
}

// interleaveGroups runs Interleave16's groups of 8 pixels in assembly; false without AVX2.
func interleaveGroups(x simd.Level, groups int, dst, src []float32, lds int) bool {
	if !x.Asm() {
		return false
	}
	interleave16(groups, &dst[0], &src[0], lds)
	return true
}

// splitGroups runs Split16's groups of 8 pixels in assembly; false without AVX2.
func splitGroups(x simd.Level, groups int, dst []float32, ldd int, src, bias []float32) bool {
	if !x.Asm() {
		return false
	}
	split16Bias(groups, &dst[0], ldd, &src[0], &bias[0])
	return true
}

// rowKernel is c[0:16] (+)= Σ_p a[p]·b[16p:16p+16] for a packed 16-column panel b.
func rowKernel(x simd.Level, k int, a, b, c []float32, accumulate bool) {
	if k == 0 {
		if !accumulate {
			clear(c[:nr])
		}
		return
	}
	_, _, _ = a[k-1], b[k*nr-1], c[nr-1]
	switch {
	case x.Wide():
		kernel1x16RowZ(k, &a[0], &b[0], &c[0], accumulate)
	case x.Asm():
		kernel1x16RowY(k, &a[0], &b[0], &c[0], accumulate)
	default:
		rowKernelGeneric(k, a, b, c, accumulate)
	}
}

// rowKernel4 is rowKernel on the four packed panels b, b[k·nr:], b[2k·nr:] and b[3k·nr:], their
// results in c[0:64]; false (nothing done) without AVX-512.
func rowKernel4(x simd.Level, k int, a, b, c []float32, accumulate bool) bool {
	if !x.Wide() || k == 0 {
		return false
	}
	_, _, _ = a[k-1], b[4*k*nr-1], c[4*nr-1]
	kernel4x1x16RowZ(k, &a[0], &b[0], 4*k*nr, &c[0], accumulate)
	return true
}

// transposeSquares runs TransposeEpilogue's blocks 8×8 squares in assembly (res nil: no
// residual); false without AVX2.
func transposeSquares(x simd.Level, blocks int, dst []float32, ldd int, src []float32, lds int, bias, res []float32, relu bool) bool {
	if !x.Asm() {
		return false
	}
	switch {
	case res == nil && !relu:
		transpose8x8Bias(blocks, &dst[0], ldd, &src[0], lds, &bias[0])
	case res == nil:
		transpose8x8BiasRelu(blocks, &dst[0], ldd, &src[0], lds, &bias[0])
	case !relu:
		transpose8x8BiasRes(blocks, &dst[0], ldd, &src[0], lds, &bias[0], &res[0])
	default:
		transpose8x8BiasResRelu(blocks, &dst[0], ldd, &src[0], lds, &bias[0], &res[0])
	}
	return true
}

// transposeSquares16 runs TransposeEpilogue's blocks 16×16 squares in assembly (res nil: no
// residual; bias 16 values); false without AVX-512 or without a square.
func transposeSquares16(x simd.Level, blocks int, dst []float32, ldd int, src []float32, lds int, bias, res []float32, relu bool) bool {
	if !x.Wide() || blocks == 0 {
		return false
	}
	_ = bias[15]
	switch {
	case res == nil && !relu:
		transpose16x16Bias(blocks, &dst[0], ldd, &src[0], lds, &bias[0])
	case res == nil:
		transpose16x16BiasRelu(blocks, &dst[0], ldd, &src[0], lds, &bias[0])
	case !relu:
		transpose16x16BiasRes(blocks, &dst[0], ldd, &src[0], lds, &bias[0], &res[0])
	default:
		transpose16x16BiasResRelu(blocks, &dst[0], ldd, &src[0], lds, &bias[0], &res[0])
	}
	return true
}

// deinterleaveBlocks runs Deinterleave's blocks of 16 values in assembly; false without AVX2.
func deinterleaveBlocks(x simd.Level, blocks int, even, odd, src []float32) bool {
	if !x.Asm() {
		return false
	}
	deinterleave2(blocks, &even[0], &odd[0], &src[0])
	return true
}

// padPlanesNarrow runs PadPlanes in assembly where padded rows fit one zmm register (16
// values) and the source has a value (iw > 0); false otherwise.
func padPlanesNarrow(x simd.Level, dst, src []float32, planes, ih, iw, top, bottom, left, pw int) bool {
	if !x.Wide() || pw > 16 || iw == 0 || ih == 0 {
		return false
	}
	_ = dst[planes*(top+ih+bottom)*pw-1]
	_ = src[planes*ih*iw-1]
	load := uint16((1<<iw - 1) << left)
	store := uint16(1<<pw - 1)
	padPlanes16(&dst[0], &src[0], planes, top, ih, bottom, iw, pw, left, load, store)
	return true
}

// directAsm: this build has the direct convolution kernels (AVX-512 machines run them).
const directAsm = true

// directConvAsm runs DirectConvRows's checked product on the kernel for its stride (1, 2 or 4);
// rows of 8 pixels stored back to back go two to a vector; with strides 1 and 2, a full block of
// 16 channels runs its rows' whole vectors on the run kernels (directRuns).
func directConvAsm(dst []float32, plane, dstRow int, src []float32, srcRow int, offs []int, w, bias []float32, channels, width, rows, step int) {
	var bp *float32
	if bias != nil {
		bp = &bias[0]
	}
	if step == 1 && width == 8 && dstRow == 8 && rows >= 2 {
		// Rows of 8 stored back to back: two per vector, the odd row left over in the loop
		// below.
		pairs := rows / 2
		directConvZ1Pairs(&dst[0], plane, &src[0], srcRow, &offs[0], &w[0], len(offs), bp, channels, pairs)
		if rows%2 == 0 {
			return
		}
		dst, src, rows = dst[2*pairs*dstRow:], src[2*pairs*srcRow:], 1
	}
	if vectors := width / DirectLanes; channels == DirectBlock && step <= 2 && vectors%3 != 0 && rows >= 3 {
		// Rows whose whole vectors are not runs of 3: each vector of 3 rows at a time is one
		// run (a column), the pixels after the whole vectors and the rows after the last
		// group of 3 below.
		groups := rows / 3
		if step == 1 {
			directConvCol3Z1(&dst[0], plane, dstRow, &src[0], srcRow, &offs[0], &w[0], len(offs), bp, vectors, groups)
		} else {
			directConvCol3Z2(&dst[0], plane, dstRow, &src[0], srcRow, &offs[0], &w[0], len(offs), bp, vectors, groups)
		}
		if done := vectors * DirectLanes; done < width {
			directConvVectors(dst[done:], plane, dstRow, src[step*done:], srcRow, offs, w, bp, channels, width-done, 3*groups, step)
		}
		if rows == 3*groups {
			return
		}
		dst, src, rows = dst[3*groups*dstRow:], src[3*groups*srcRow:], rows-3*groups
	}
	if channels == DirectBlock && step <= 2 {
		// A full block of 16 channels runs its rows' whole vectors on the run kernels, as
		// runs of 3 and 2 (directRuns), the pixels after them below.
		threes, twos := directRuns(width / DirectLanes)
		done := 0
		for _, r := range [2]struct{ runs, pixels int }{{threes, 3 * DirectLanes}, {twos, 2 * DirectLanes}} {
			if r.runs == 0 {
				continue
			}
			d, s := &dst[done], &src[step*done]
			switch {
			case r.pixels == 3*DirectLanes && step == 1:
				directConvRun3Z1(d, plane, dstRow, s, srcRow, &offs[0], &w[0], len(offs), bp, r.runs, rows)
			case r.pixels == 3*DirectLanes:
				directConvRun3Z2(d, plane, dstRow, s, srcRow, &offs[0], &w[0], len(offs), bp, r.runs, rows)
			case step == 1:
				directConvRun2Z1(d, plane, dstRow, s, srcRow, &offs[0], &w[0], len(offs), bp, r.runs, rows)
			default:
				directConvRun2Z2(d, plane, dstRow, s, srcRow, &offs[0], &w[0], len(offs), bp, r.runs, rows)
			}
			done += r.runs * r.pixels
		}
		if done == width {
			return
		}
		dst, src, width = dst[done:], src[step*done:], width-done
	}
	directConvVectors(dst, plane, dstRow, src, srcRow, offs, w, bp, channels, width, rows, step)
}

// directConvVectors runs the 16-channel kernel for stride step over rows × width pixels.
func directConvVectors(dst []float32, plane, dstRow int, src []float32, srcRow int, offs []int, w []float32, bp *float32, channels, width, rows, step int) {
	switch step {
	case 1:
		directConvZ1(&dst[0], plane, dstRow, &src[0], srcRow, &offs[0], &w[0], len(offs), bp, channels, width, rows)
	case 2:
		directConvZ2(&dst[0], plane, dstRow, &src[0], srcRow, &offs[0], &w[0], len(offs), bp, channels, width, rows)
	case 4:
		directConvZ4(&dst[0], plane, dstRow, &src[0], srcRow, &offs[0], &w[0], len(offs), bp, channels, width, rows)
	default:
		panic("gemm: no direct convolution kernel for stride " + fmt.Sprint(step))
	}
}

// winogradAsm reports whether the Winograd transforms run in assembly at level x: AVX-512.
func winogradAsm(x simd.Level) bool { return x.Wide() }

// winogradInputAsm runs WinogradInput's checked call in assembly; false without AVX-512.
func winogradInputAsm(x simd.Level, dst []float32, ldx, ldc int, src []float32, pw, plane, channels, vectors int) bool {
	if !winogradAsm(x) {
		return false
	}
	winogradInputZ(vectors, channels, &src[0], pw, plane, &dst[0], ldx, ldc)
	return true
}

// winogradOutputAsm runs WinogradOutput's checked call in assembly; false without AVX-512. The
// last vector of each row is stored under masks of its columns, the others whole.
func winogradOutputAsm(x simd.Level, out []float32, ldo, plane, rows, cols int, m []float32, ldx, ldc, channels int, res, bias []float32, relu bool) bool {
	if !winogradAsm(x) {
		return false
	}
	vectors := ceilDiv(cols, 2*WinogradLanes)
	tail := cols - 2*WinogradLanes*(vectors-1)
	lo, hi := uint16(1<<min(tail, 16)-1), uint16(1<<max(tail-16, 0)-1)
	var b *float32
	if bias != nil {
		b = &bias[0]
	}
	switch {
	case res == nil && !relu:
		winogradOutputZ(vectors, channels, &m[0], ldx, ldc, &out[0], ldo, plane, nil, b, rows, lo, hi)
	case res == nil:
		winogradOutputZRelu(vectors, channels, &m[0], ldx, ldc, &out[0], ldo, plane, nil, b, rows, lo, hi)
	case !relu:
		winogradOutputZRes(vectors, channels, &m[0], ldx, ldc, &out[0], ldo, plane, &res[0], b, rows, lo, hi)
	default:
		winogradOutputZResRelu(vectors, channels, &m[0], ldx, ldc, &out[0], ldo, plane, &res[0], b, rows, lo, hi)
	}
	return true
}

const pointwiseBlockedAsm = true

// pointwiseBlockedZero is the bias of a PointwiseBlocked call without one.
var pointwiseBlockedZero [ChannelBlock]float32

// pointwiseBlockedKernel runs PointwiseBlocked in assembly; false without AVX-512.
func pointwiseBlockedKernel(x simd.Level, n int, dst, xs []float32, lds, k int, w, bias []float32) bool {
	if !x.Wide() {
		return false
	}
	b := &pointwiseBlockedZero[0]
	if bias != nil {
		b = &bias[0]
	}
	pointwiseBlockedZ(n, &dst[0], &xs[0], lds, k, &w[0], b)
	return true
}
