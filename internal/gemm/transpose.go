package gemm

import (
	"fmt"

	"github.com/actswap/actswap/internal/simd"
)

// TransposeBias sets dst[c·ldd + r] = src[r·lds + c] + bias[c] for r < rows and c < cols (no
// bias when bias is nil): a pixel-major product (pixels × channels) written into channel planes,
// 8×8 squares at a time in registers.
func TransposeBias(dst []float32, ldd int, src []float32, lds, rows, cols int, bias []float32) error {
	return transposeBiasOn(simd.Host(), dst, ldd, src, lds, rows, cols, bias)
}

// transposeBiasOn is TransposeBias with the kernels of level x.
func transposeBiasOn(x simd.Level, dst []float32, ldd int, src []float32, lds, rows, cols int, bias []float32) error {
	if rows <= 0 || cols <= 0 {
		return nil
	}
	if ldd < rows || lds < cols || len(dst) < (cols-1)*ldd+rows || len(src) < (rows-1)*lds+cols || bias != nil && len(bias) < cols {
		return fmt.Errorf("gemm: TransposeBias: %d×%d from %d values (lds %d) into %d (ldd %d), bias %d",
			rows, cols, len(src), lds, len(dst), ldd, len(bias))
	}
	var zeros [8]float32
	blocks := rows / 8
	for c0 := 0; c0 < cols; c0 += 8 {
		nc := min(8, cols-c0)
		b := zeros[:nc]
		if bias != nil {
			b = bias[c0 : c0+nc]
		}
		r0 := 0
		if nc == 8 && blocks > 0 && transposeSquares(x, blocks, dst[c0*ldd:], ldd, src[c0:], lds, b) {
			r0 = blocks * 8
		}
		for c := 0; c < nc; c++ {
			row := dst[(c0+c)*ldd : (c0+c)*ldd+rows]
			for r := r0; r < rows; r++ {
				row[r] = src[r*lds+c0+c] + b[c]
			}
		}
	}
	return nil
}

// Deinterleave writes src's values at even positions to even and those at odd positions to odd
// (even needs ⌈len(src)/2⌉ values, odd ⌊len(src)/2⌋): a padded image row split into the column
// phases a stride-2 convolution reads contiguously.
func Deinterleave(even, odd, src []float32) {
	deinterleaveOn(simd.Host(), even, odd, src)
}

// deinterleaveOn is Deinterleave with the kernels of level x.
func deinterleaveOn(x simd.Level, even, odd, src []float32) {
	n := len(src)
	_, _ = even[:(n+1)/2], odd[:n/2]
	i := 0
	if blocks := n / 16; blocks > 0 && deinterleaveBlocks(x, blocks, even, odd, src) {
		i = blocks * 16
	}
	for ; i+1 < n; i += 2 {
		even[i/2], odd[i/2] = src[i], src[i+1]
	}
	if i < n {
		even[i/2] = src[i]
	}
}
