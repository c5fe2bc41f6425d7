package vecmath

import "github.com/actswap/actswap/internal/simd"

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
