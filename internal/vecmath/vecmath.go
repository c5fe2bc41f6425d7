package vecmath

// The elementwise kernels below run the whole of src in assembly when the CPU has it (the last
// partial block under a mask), else the scalar loop. Each calls its assembly directly, not
// through a function value: GEMM epilogues call them once per output row of a few hundred
// values, and an indirect call to an assembly function goes through an ABI wrapper. (The scalar
// loops are written out so that the scalar kernel is inlined in each.)

// Exp sets dst[i] = e^src[i].
func Exp(dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case useAVX512:
		expAVX512(dst, src)
	case useAsm:
		expAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = expScalar(v)
		}
	}
}

// Sigmoid sets dst[i] = 1/(1 + e^−src[i]).
func Sigmoid(dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case useAVX512:
		sigmoidAVX512(dst, src)
	case useAsm:
		sigmoidAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = sigmoidScalar(v)
		}
	}
}

// SiLU sets dst[i] = src[i]·σ(src[i]) (SiLU, Swish), in one pass: exactly Sigmoid's result
// multiplied by the input.
func SiLU(dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case useAVX512:
		siluAVX512(dst, src)
	case useAsm:
		siluAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = siluScalar(v)
		}
	}
}

// Tanh sets dst[i] = tanh(src[i]).
func Tanh(dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case useAVX512:
		tanhAVX512(dst, src)
	case useAsm:
		tanhAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = tanhScalar(v)
		}
	}
}

// Erf sets dst[i] = erf(src[i]).
func Erf(dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case useAVX512:
		erfAVX512(dst, src)
	case useAsm:
		erfAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = erfScalar(v)
		}
	}
}

// GELU sets dst[i] = x·Φ(x) for x = src[i], the exact (erf) GELU: ½x(1 + erf(x/√2)).
func GELU(dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case useAVX512:
		geluAVX512(dst, src)
	case useAsm:
		geluAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = geluScalar(v)
		}
	}
}

// GELUTanh sets dst[i] to GELU's tanh approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
func GELUTanh(dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case useAVX512:
		geluTanhAVX512(dst, src)
	case useAsm:
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
func HardSwish(dst, src []float32) {
	dst = dst[:len(src)]
	switch {
	case useAVX512:
		hardSwishAVX512(dst, src)
	case useAsm:
		hardSwishAVX2(dst, src)
	default:
		for i, v := range src {
			dst[i] = hardSwishScalar(v)
		}
	}
}

// Max returns the largest element of src, NaN if any element is NaN, and −Inf for an empty
// slice.
func Max(src []float32) float32 {
	switch {
	case useAVX512:
		return maxAVX512(src)
	case useAsm:
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
func ExpSumShifted(dst []float32, shift float32) float32 { return ExpSumShiftedTo(dst, dst, shift) }

// ExpSumShiftedTo is ExpSumShifted reading src and writing dst.
func ExpSumShiftedTo(dst, src []float32, shift float32) float32 {
	dst = dst[:len(src)]
	switch {
	case useAVX512:
		return expSumShiftedAVX512(dst, src, shift)
	case useAsm:
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
func Scale(dst []float32, s float32) {
	if useAVX512 {
		scaleAVX512(dst, s)
		return
	}
	i := 0
	if useAsm && len(dst) >= 8 {
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
