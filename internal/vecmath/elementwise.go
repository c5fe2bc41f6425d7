package vecmath

import (
	"fmt"

	"github.com/actswap/actswap/internal/simd"
)

// MaxInto sets dst[i] = max(dst[i], src[i]) for every element of src, with Go's max semantics:
// NaN if either is NaN, and max(−0, +0) = +0. Max pooling reduces a window's rows with it.
func MaxInto(dst, src []float32) { maxIntoOn(simd.Host(), dst, src) }

// maxIntoOn is MaxInto with the kernels of level x.
func maxIntoOn(x simd.Level, dst, src []float32) {
	if x.Asm() && len(src) > 0 {
		maxIntoAVX2(dst[:len(src)], src)
		return
	}
	maxIntoGo(dst, src)
}

func maxIntoGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = max(dst[i], v)
	}
}

// MaxPool2x2 is the 2×2 max pool at stride 2 of rows of width values (width even): src holds
// len(dst)/(width/2) pairs of rows back to back, and dst gets, pair after pair, the width/2
// maxima of the pair's windows — max(src[2j], src[2j+1], and the same two of the next row), as
// Go's max (NaN if any is NaN, +0 over −0). A batch of even-sized planes is such a sequence of
// row pairs, so one call pools them all: digits_cnn's 512 8×8 planes in one call, where Go's
// scalar max (eight instructions for its NaN and zero rules) took 2.6 ns per output.
func MaxPool2x2(dst, src []float32, width int) error {
	if width < 2 || width%2 != 0 || len(dst)%(width/2) != 0 || len(src) < 4*len(dst) {
		return fmt.Errorf("vecmath: MaxPool2x2: %d outputs from %d values in rows of %d", len(dst), len(src), width)
	}
	maxPool2x2On(simd.Host(), dst, src, width)
	return nil
}

// maxPool2x2On is MaxPool2x2's checked work with the kernels of level x: the assembly for
// widths in whole 8-value blocks.
func maxPool2x2On(x simd.Level, dst, src []float32, width int) {
	if x.Asm() && width%8 == 0 && len(dst) > 0 {
		maxPool2x2AVX2(dst, src[:4*len(dst)], width)
		return
	}
	maxPool2x2Go(dst, src, width)
}

func maxPool2x2Go(dst, src []float32, width int) {
	half := width / 2
	for r := 0; r < len(dst)/half; r++ {
		top, bottom := src[2*r*width:(2*r+1)*width], src[(2*r+1)*width:(2*r+2)*width]
		out := dst[r*half : (r+1)*half]
		for j := range out {
			out[j] = max(max(top[2*j], top[2*j+1]), max(bottom[2*j], bottom[2*j+1]))
		}
	}
}

// Relu sets dst[i] = max(src[i], 0), as Go's max: NaN stays NaN and −0 becomes +0. It calls
// the assembly directly, not through vector's function value: GEMM epilogues call it once per
// short output row, and an indirect call to an assembly function goes through an ABI wrapper
// that costs a third as much as the work on such rows.
func Relu(dst, src []float32) { reluOn(simd.Host(), dst, src) }

// reluOn is Relu with the kernels of level x.
func reluOn(x simd.Level, dst, src []float32) {
	if x.Asm() && len(src) > 0 {
		reluAVX2(dst[:len(src)], src)
		return
	}
	reluGo(dst, src)
}

// ReluBias sets dst[i] = max(src[i] + b, 0) as Go's max of the float32 sum: the same bits as
// adding b in a pass of its own and then Relu, in one pass over the row.
func ReluBias(dst, src []float32, b float32) { reluBiasOn(simd.Host(), dst, src, b) }

// reluBiasOn is ReluBias with the kernels of level x.
func reluBiasOn(x simd.Level, dst, src []float32, b float32) {
	if x.Asm() && len(src) > 0 {
		reluBiasAVX2(dst[:len(src)], src, b)
		return
	}
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = max(v+b, 0)
	}
}

func reluGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = max(v, 0)
	}
}

// Clamp sets dst[i] = min(max(src[i], lo), hi), computed as x < lo ? lo : x, then x > hi ? hi : x
// (the ONNX Clip and NumPy clip for ordinary bounds): a NaN input stays NaN, a NaN bound clamps
// nothing, −0 is kept against a zero bound (Clamp(−0, 0, 6) = −0), and when lo > hi every
// non-NaN value becomes hi, as the ONNX spec says. Like Relu it calls the assembly directly,
// for GEMM epilogues on short rows.
func Clamp(dst, src []float32, lo, hi float32) { clampOn(simd.Host(), dst, src, lo, hi) }

// clampOn is Clamp with the kernels of level x.
func clampOn(x simd.Level, dst, src []float32, lo, hi float32) {
	if x.Asm() && len(src) > 0 {
		clampAVX2(dst[:len(src)], src, lo, hi)
		return
	}
	clampGo(dst, src, lo, hi)
}

func clampGo(dst, src []float32, lo, hi float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		dst[i] = v
	}
}
