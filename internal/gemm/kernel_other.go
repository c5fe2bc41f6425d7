//go:build !amd64 || noasm

package gemm

import "github.com/actswap/actswap/internal/simd"

func microKernel(x simd.Level, k int, a, b, c []float32, ldc int, accumulate bool) {
	kernelGeneric(k, a, b, c, ldc, accumulate)
}

func narrowKernel(x simd.Level, k int, a, b, c []float32, ldc int) {
	kernelGeneric(k, a, b, c, ldc, false)
}

func indirectKernel(x simd.Level, k int, a, b []float32, offs []int, c []float32, ldc int, accumulate bool) {
	kernelGenericIndirect(k, a, b, offs, c, ldc, accumulate)
}

func wideKernel(x simd.Level, rows, k int, a, b, c []float32, ldc int, accumulate bool) {
	wideRowsGeneric(rows, k, a, func(p, j int) float32 { return b[(j/nr)*k*nr+p*nr+j%nr] }, c, ldc, accumulate)
}

func wideIndirectKernel(x simd.Level, rows, k int, a, b []float32, offs []int, c []float32, ldc int, accumulate bool) {
	wideRowsGeneric(rows, k, a, func(p, j int) float32 { return b[offs[p]+j] }, c, ldc, accumulate)
}

// wideRowsGeneric is the wide kernels' contract in Go: rows rows of C, 2nr columns, from the A
// panels that hold them and B's value at row p, column j.
func wideRowsGeneric(rows, k int, a []float32, b func(p, j int) float32, c []float32, ldc int, accumulate bool) {
	for i := range rows {
		panel := a[(i/mr)*k*mr:]
		for j := range 2 * nr {
			var sum float32
			for p := range k {
				sum += panel[p*mr+i%mr] * b(p, j)
			}
			if accumulate {
				sum += c[i*ldc+j]
			}
			c[i*ldc+j] = sum
		}
	}
}

func addRowF32(x simd.Level, dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

func scaleF32(x simd.Level, dst []float32, v float32) {
	for i := range dst {
		dst[i] *= v
	}
}

func addScalarF32(x simd.Level, dst []float32, v float32) {
	for i := range dst {
		dst[i] += v
	}
}

func wideKernelDirectA(x simd.Level, k int, a []float32, lda int, b, c []float32, ldc int, accumulate, _ bool, bias []float32) {
	directKernel(x, 2*mr, 2, k, a, lda, b, c, ldc, accumulate, bias)
}

func directKernel(x simd.Level, rows, panels, k int, a []float32, lda int, b, c []float32, ldc int, accumulate bool, bias []float32) {
	for i := 0; i < rows; i++ {
		for j := 0; j < panels*nr; j++ {
			var sum float32
			for p := 0; p < k; p++ {
				sum += a[i*lda+p] * b[(j/nr)*k*nr+p*nr+j%nr]
			}
			if accumulate {
				sum += c[i*ldc+j]
			}
			if bias != nil {
				sum += bias[j]
			}
			c[i*ldc+j] = sum
		}
	}
}

func gatherKernel(x simd.Level, k int, data []float32, rows, cols []int, b []float32, nr int, c []float32, crows []int, accumulate bool, ahead uintptr) {
	gatherKernelGeneric(k, data, rows, cols, b, nr, c, crows, accumulate)
}

func tapKernel(x simd.Level, span int, dst, src []float32, offs []int, w []float32, bias float32) {
	tapKernelGeneric(span, dst, src, offs, w, bias)
}

func transposeSquares16(x simd.Level, blocks int, dst []float32, ldd int, src []float32, lds int, bias, res []float32, relu bool) bool {
	return false
}

func transposeSquares(x simd.Level, blocks int, dst []float32, ldd int, src []float32, lds int, bias, res []float32, relu bool) bool {
	return false
}

func deinterleaveBlocks(x simd.Level, blocks int, even, odd, src []float32) bool { return false }

func rowKernel4(x simd.Level, k int, a, b, c []float32, accumulate bool) bool { return false }

func blockedTaps(x simd.Level, n int, dst, src []float32, offs []int, w []float32, step int) {
	blockedTapsGeneric(n, dst, src, offs, w, step)
}

func blockedWindow(x simd.Level, n int, dst, src, w []float32, kh, kw, srcRow, step int) bool {
	return false
}

func interleaveGroups(x simd.Level, groups int, dst, src []float32, lds int) bool { return false }

func splitGroups(x simd.Level, groups int, dst []float32, ldd int, src, bias []float32) bool {
	return false
}

func rowKernel(x simd.Level, k int, a, b, c []float32, accumulate bool) {
	rowKernelGeneric(k, a, b, c, accumulate)
}

func padPlanesNarrow(x simd.Level, dst, src []float32, planes, ih, iw, top, bottom, left, pw int) bool {
	return false
}

// directAsm: this build has no direct convolution kernels.
const directAsm = false

func directConvAsm(dst []float32, plane, dstRow int, src []float32, srcRow int, offs []int, w, bias []float32, channels, width, rows, step int) {
	directConvGeneric(dst, plane, dstRow, src, srcRow, offs, w, bias, channels, width, rows, step)
}

func winogradAsm(x simd.Level) bool { return false }

func winogradInputAsm(x simd.Level, dst []float32, ldx, ldc int, src []float32, pw, plane, channels, vectors int) bool {
	return false
}

func winogradOutputAsm(x simd.Level, out []float32, ldo, plane, rows, cols int, m []float32, ldx, ldc, channels int, res, bias []float32, relu bool) bool {
	return false
}

const pointwiseBlockedAsm = false

func pointwiseBlockedKernel(x simd.Level, n int, dst, xs []float32, lds, k int, w, bias []float32) bool {
	return false
}
