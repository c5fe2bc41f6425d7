package ops

import "golang.org/x/sys/cpu"

// softmaxAVX2: expShiftSumAVX2 needs AVX2 and FMA.
var softmaxAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func expShiftSumAVX2(dst, src []float32, shift float32) float32

// expShiftSum sets dst[i] = e^(src[i]-shift) and returns the sum: a softmax row's exponentials.
// The AVX2 loop takes whole blocks of 8 (Cephes expf, within 2 ulp of expF32); the tail, and CPUs
// without AVX2, use expF32.
func expShiftSum(dst, src []float32, shift float32) float64 {
	dst = dst[:len(src)]
	body := 0
	sum := 0.0
	if softmaxAVX2 && len(src) >= 8 {
		body = len(src) &^ 7
		sum = float64(expShiftSumAVX2(dst[:body], src[:body], shift))
	}
	for i := body; i < len(src); i++ {
		e := expF32(src[i] - shift)
		dst[i] = e
		sum += float64(e)
	}
	return sum
}

//go:noescape
func maxAVX2(src []float32) float32

//go:noescape
func scaleAVX2(dst []float32, s float32)

// rowMax returns the largest element of a non-empty row (NaN handling as in maxAVX2).
func rowMax(x []float32) float32 {
	peak, i := x[0], 1
	if softmaxAVX2 && len(x) >= 8 {
		i = len(x) &^ 7
		peak = maxAVX2(x[:i])
	}
	for _, v := range x[i:] {
		peak = max(peak, v)
	}
	return peak
}

// scaleRow multiplies a row by s in place.
func scaleRow(y []float32, s float32) {
	i := 0
	if softmaxAVX2 && len(y) >= 8 {
		i = len(y) &^ 7
		scaleAVX2(y[:i], s)
	}
	for ; i < len(y); i++ {
		y[i] *= s
	}
}
