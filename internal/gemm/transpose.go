package gemm

import (
	"fmt"

	"github.com/actswap/actswap/internal/simd"
)

// TransposeBias sets dst[c·ldd + r] = src[r·lds + c] + bias[c] for r < rows and c < cols (no
// bias when bias is nil): a pixel-major product (pixels × channels) written into channel planes,
// 8×8 squares at a time in registers.
func TransposeBias(dst []float32, ldd int, src []float32, lds, rows, cols int, bias []float32) error {
	return transposeEpilogueOn(simd.Host(), dst, ldd, src, lds, rows, cols, PlaneEpilogue{Bias: bias})
}

// PlaneEpilogue is what TransposeEpilogue does to each value on its way into the planes, in this
// order: add the bias of its plane, add the residual, apply ReLU.
type PlaneEpilogue struct {
	Bias []float32 // per destination row (plane); nil: none
	// Residual is added value by value, laid out as dst (ldd apart); nil: none.
	Residual []float32
	Relu     bool // max(v, 0) as Go's max: NaN stays NaN, −0 becomes +0
}

// TransposeEpilogue sets dst[c·ldd + r] = relu(src[r·lds + c] + bias[c] + residual[c·ldd + r])
// for r < rows and c < cols, each part as e says: a convolution's pixel-major product written
// into its channel planes with its whole epilogue while each value is in a register, instead of
// passes over the planes for the residual and the activation.
func TransposeEpilogue(dst []float32, ldd int, src []float32, lds, rows, cols int, e PlaneEpilogue) error {
	return transposeEpilogueOn(simd.Host(), dst, ldd, src, lds, rows, cols, e)
}

// transposeEpilogueOn is TransposeEpilogue with the kernels of level x.
func transposeEpilogueOn(x simd.Level, dst []float32, ldd int, src []float32, lds, rows, cols int, e PlaneEpilogue) error {
	if rows <= 0 || cols <= 0 {
		return nil
	}
	need := (cols-1)*ldd + rows
	if ldd < rows || lds < cols || len(dst) < need || len(src) < (rows-1)*lds+cols || e.Bias != nil && len(e.Bias) < cols ||
		e.Residual != nil && len(e.Residual) < need {
		return fmt.Errorf("gemm: TransposeEpilogue: %d×%d from %d values (lds %d) into %d (ldd %d), bias %d, residual %d",
			rows, cols, len(src), lds, len(dst), ldd, len(e.Bias), len(e.Residual))
	}
	var zeros [16]float32 // the bias of a transposition that has none
	// With AVX-512, 16 columns at a time go through 16×16 squares; the rows after the last
	// whole square, and every row elsewhere, through 8×8 ones and Go.
	step := 8
	if x.Wide() && rows >= 16 {
		step = 16
	}
	for c0 := 0; c0 < cols; c0 += step {
		nc := min(step, cols-c0)
		done := 0 // rows written for all nc columns
		if nc == 16 && transposeSquares16(x, rows/16, dst[c0*ldd:], ldd, src[c0:], lds, biasAt(e.Bias, c0, zeros[:]), residualAt(e.Residual, c0*ldd), e.Relu) {
			done = rows / 16 * 16
		}
		for h0 := c0; h0 < c0+nc; h0 += 8 {
			n8 := min(8, c0+nc-h0)
			b := zeros[:n8]
			if e.Bias != nil {
				b = e.Bias[h0 : h0+n8]
			}
			res := residualAt(e.Residual, h0*ldd+done)
			r0 := done
			if blocks := (rows - done) / 8; n8 == 8 && blocks > 0 && transposeSquares(x, blocks, dst[h0*ldd+done:], ldd, src[done*lds+h0:], lds, b, res, e.Relu) {
				r0 = done + blocks*8
			}
			for c := 0; c < n8; c++ {
				row := dst[(h0+c)*ldd : (h0+c)*ldd+rows]
				for r := r0; r < rows; r++ {
					v := src[r*lds+h0+c] + b[c]
					if e.Residual != nil {
						v += e.Residual[(h0+c)*ldd+r]
					}
					if e.Relu {
						v = max(v, 0)
					}
					row[r] = v
				}
			}
		}
	}
	return nil
}

// biasAt is the bias from column c0 on, or zeros where there is none (the 16×16 kernels read 16
// values).
func biasAt(bias []float32, c0 int, zeros []float32) []float32 {
	if bias == nil {
		return zeros
	}
	return bias[c0:]
}

// residualAt is the residual from offset at on, or nil for none.
func residualAt(res []float32, at int) []float32 {
	if res == nil {
		return nil
	}
	return res[at:]
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

// PadPlanes writes planes image planes of ih×iw values (src, back to back) into dst as planes
// of (top+ih+bottom)×pw values (back to back), each image row at column left of its padded row
// and zeros everywhere else: a convolution's zero-padded input, every value written once.
func PadPlanes(dst, src []float32, planes, ih, iw, top, bottom, left, pw int) error {
	return padPlanesOn(simd.Host(), dst, src, planes, ih, iw, top, bottom, left, pw)
}

// padPlanesOn is PadPlanes with the kernels of level x.
func padPlanesOn(x simd.Level, dst, src []float32, planes, ih, iw, top, bottom, left, pw int) error {
	ph := top + ih + bottom
	if planes < 0 || ih < 0 || iw < 0 || top < 0 || bottom < 0 || left < 0 || pw < left+iw ||
		len(src) < planes*ih*iw || len(dst) < planes*ph*pw {
		return fmt.Errorf("gemm: PadPlanes: %d planes of %d×%d from %d values into %d×%d at (%d, %d) in %d values",
			planes, ih, iw, len(src), ph, pw, top, left, len(dst))
	}
	if planes == 0 || ph == 0 || pw == 0 {
		return nil
	}
	if padPlanesNarrow(x, dst, src, planes, ih, iw, top, bottom, left, pw) {
		return nil
	}
	padPlaneRows(dst, src, planes, ih*iw, ih, iw, top, left, pw, 0, ph)
	return nil
}

// PadPlaneRows writes rows [y0, y0+rows) of planes zero-padded planes into dst, rows·pw values
// per plane, back to back: the rows PadPlanes would write there for images of ih×iw values
// srcPlane values apart in src, placed top rows down and left values across. A thread that
// computes a band of a convolution's output pads only the input rows under it, so that the
// copy is written and read in its own core's cache.
func PadPlaneRows(dst, src []float32, planes, srcPlane, ih, iw, top, left, pw, y0, rows int) error {
	if planes < 0 || srcPlane < ih*iw || ih < 0 || iw < 0 || top < 0 || left < 0 || pw < left+iw || y0 < 0 || rows < 0 ||
		len(dst) < planes*rows*pw || (planes > 0 && len(src) < (planes-1)*srcPlane+ih*iw) {
		return fmt.Errorf("gemm: PadPlaneRows: rows [%d, %d) of %d planes of %d×%d (%d apart in %d values) into rows of %d at (%d, %d) in %d values",
			y0, y0+rows, planes, ih, iw, srcPlane, len(src), pw, top, left, len(dst))
	}
	padPlaneRows(dst, src, planes, srcPlane, ih, iw, top, left, pw, y0, rows)
	return nil
}

// padPlaneRows is PadPlaneRows on checked sizes.
func padPlaneRows(dst, src []float32, planes, srcPlane, ih, iw, top, left, pw, y0, rows int) {
	first, last := max(0, y0-top), min(ih, y0+rows-top) // the image rows in the band
	for c := 0; c < planes; c++ {
		band := dst[c*rows*pw : (c+1)*rows*pw]
		img := src[c*srcPlane : c*srcPlane+ih*iw]
		z := 0 // where the zeros before the next image row start
		for y := first; y < last; y++ {
			at := (top+y-y0)*pw + left
			clear(band[z:at])
			copy(band[at:at+iw], img[y*iw:(y+1)*iw])
			z = at + iw
		}
		clear(band[z:])
	}
}
