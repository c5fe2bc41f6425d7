package vecmath

import "github.com/actswap/actswap/internal/simd"

// The elementwise kernels below run the whole of src in assembly when the CPU has it (the last
// partial block under a mask), else the scalar loop. Each calls its assembly directly, not
// through a function value: GEMM epilogues call them once per output row of a few hundred
// values, and an indirect call to an assembly function goes through an ABI wrapper. (The scalar
// loops are written out so that the scalar kernel is inlined in each.)

// Exp sets dst[i] = e^src[i].
func Exp(dst, src []float32) { expOn(simd.Host(), dst, src) }

// expOn is Exp with the kernels of level x.
func expOn(x simd.Level, dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		expAVX512(dst, src)
	case x.Asm():
		expAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = expScalar(v)
		}
	}
}

// Sigmoid sets dst[i] = 1/(1 + e^−src[i]).
func Sigmoid(dst, src []float32) { sigmoidOn(simd.Host(), dst, src) }

// sigmoidOn is Sigmoid with the kernels of level x.
func sigmoidOn(x simd.Level, dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		sigmoidAVX512(dst, src)
	case x.Asm():
		sigmoidAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = sigmoidScalar(v)
		}
	}
}

// SiLU sets dst[i] = src[i]·σ(src[i]) (SiLU, Swish), in one pass, as x/(1+e) (x·e/(1+e) where
// x < 0), e = e^−|x| as Sigmoid computes it: within a unit or two in the last place of Sigmoid's
// result multiplied by the input (which rounds 1/(1+e) first), and as close to x·σ(x) (doc.go).
func SiLU(dst, src []float32) { siluOn(simd.Host(), dst, src) }

// siluOn is SiLU with the kernels of level x.
func siluOn(x simd.Level, dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		siluAVX512(dst, src)
	case x.Asm():
		siluAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = siluScalar(v)
		}
	}
}

// Tanh sets dst[i] = tanh(src[i]).
func Tanh(dst, src []float32) { tanhOn(simd.Host(), dst, src) }

// tanhOn is Tanh with the kernels of level x.
func tanhOn(x simd.Level, dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		tanhAVX512(dst, src)
	case x.Asm():
		tanhAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = tanhScalar(v)
		}
	}
}

// Erf sets dst[i] = erf(src[i]).
func Erf(dst, src []float32) { erfOn(simd.Host(), dst, src) }

// erfOn is Erf with the kernels of level x.
func erfOn(x simd.Level, dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		erfAVX512(dst, src)
	case x.Asm():
		erfAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = erfScalar(v)
		}
	}
}

// GELU sets dst[i] = x·Φ(x) for x = src[i], the exact (erf) GELU: ½x(1 + erf(x/√2)).
func GELU(dst, src []float32) { geluOn(simd.Host(), dst, src) }

// geluOn is GELU with the kernels of level x.
func geluOn(x simd.Level, dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		geluAVX512(dst, src)
	case x.Asm():
		geluAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = geluScalar(v)
		}
	}
}

// GELUTanh sets dst[i] to GELU's tanh approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
func GELUTanh(dst, src []float32) { geluTanhOn(simd.Host(), dst, src) }

// geluTanhOn is GELUTanh with the kernels of level x.
func geluTanhOn(x simd.Level, dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		geluTanhAVX512(dst, src)
	case x.Asm():
		geluTanhAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = geluTanhScalar(v)
		}
	}
}

// HardSwish sets dst[i] = x·clip(x/6 + ½, 0, 1) for x = src[i] (the ONNX HardSwish, computed in
// float32 as its reference does; near x = −3 the clip argument cancels, so the error there is
// relative to |x|, not to the result).
func HardSwish(dst, src []float32) { hardSwishOn(simd.Host(), dst, src) }

// hardSwishOn is HardSwish with the kernels of level x.
func hardSwishOn(x simd.Level, dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		hardSwishAVX512(dst, src)
	case x.Asm():
		hardSwishAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = hardSwishScalar(v)
		}
	}
}

// SiLUBias sets dst[i] = SiLU(src[i] + b): the float32 sum, then SiLU, the same bits as adding
// b in a pass of its own and running SiLU over the result, in one pass over the row (a
// convolution's per-channel bias and its fused activation).
func SiLUBias(dst, src []float32, b float32) { siluBiasOn(simd.Host(), dst, src, b) }

// siluBiasOn is SiLUBias with the kernels of level x.
func siluBiasOn(x simd.Level, dst, src []float32, b float32) {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		siluBiasAVX512(dst, src, b)
	case x.Asm():
		siluBiasAVX2(dst, src, b)
	default:
		for i, v := range src {
			dst[i] = siluScalar(v + b)
		}
	}
}

// HardSwishBias sets dst[i] = HardSwish(src[i] + b), as SiLUBias does SiLU.
func HardSwishBias(dst, src []float32, b float32) { hardSwishBiasOn(simd.Host(), dst, src, b) }

// hardSwishBiasOn is HardSwishBias with the kernels of level x.
func hardSwishBiasOn(x simd.Level, dst, src []float32, b float32) {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		hardSwishBiasAVX512(dst, src, b)
	case x.Asm():
		hardSwishBiasAVX2(dst, src, b)
	default:
		for i, v := range src {
			dst[i] = hardSwishScalar(v + b)
		}
	}
}

// Max returns the largest element of src, NaN if any element is NaN, and −Inf for an empty
// slice.
func Max(src []float32) float32 { return maxOn(simd.Host(), src) }

// maxOn is Max with the kernels of level x.
func maxOn(x simd.Level, src []float32) float32 {
	switch {
	case x.Wide():
		return maxAVX512(src)
	case x.Asm():
		return maxAVX2(src)
	}
	return maxGo(src)
}

func maxGo(src []float32) float32 {
	m := float32(negInf)
	for _, v := range src {
		m = max(m, v) // Go's max propagates NaN
	}
	return m
}

// ExpSumShifted replaces each dst[i] by e^(dst[i]−shift) and returns the sum of the results: the
// exponentials of a softmax row (shift = the row's Max). The sum is accumulated in float32, 8
// partial sums at a time (32 with AVX-512).
func ExpSumShifted(dst []float32, shift float32) float32 {
	return expSumShiftedOn(simd.Host(), dst, shift)
}

// expSumShiftedOn is ExpSumShifted with the kernels of level x.
func expSumShiftedOn(x simd.Level, dst []float32, shift float32) float32 {
	return expSumShiftedToOn(x, dst, dst, shift)
}

// ExpSumShiftedTo is ExpSumShifted reading src and writing dst.
func ExpSumShiftedTo(dst, src []float32, shift float32) float32 {
	return expSumShiftedToOn(simd.Host(), dst, src, shift)
}

// expSumShiftedToOn is ExpSumShiftedTo with the kernels of level x.
func expSumShiftedToOn(x simd.Level, dst, src []float32, shift float32) float32 {
	dst = dst[:len(src)]
	switch {
	case x.Wide():
		return expSumShiftedAVX512(dst, src, shift)
	case x.Asm():
		return expSumShiftedAVX2(dst, src, shift)
	}
	return expSumShiftedGo(dst, src, shift)
}

func expSumShiftedGo(dst, src []float32, shift float32) float32 {
	dst = dst[:len(src)]
	var sum float32
	for i, v := range src {
		e := expScalar(v - shift)
		dst[i] = e
		sum += e
	}
	return sum
}

// Scale multiplies every element of dst by s.
func Scale(dst []float32, s float32) { scaleOn(simd.Host(), dst, s) }

// scaleOn is Scale with the kernels of level x.
func scaleOn(x simd.Level, dst []float32, s float32) {
	if x.Wide() {
		scaleAVX512(dst, s)
		return
	}
	i := 0
	if x.Asm() && len(dst) >= 8 {
		i = len(dst) &^ 7
		scaleAVX2(dst[:i], s)
	}
	scaleGo(dst[i:], s)
}

func scaleGo(dst []float32, s float32) {
	for i := range dst {
		dst[i] *= s
	}
}
