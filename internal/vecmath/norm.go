package vecmath

import "github.com/actswap/actswap/internal/simd"

// MeanVar returns the mean and the population variance (mean of squared deviations) of src,
// NaN for both when src is empty or holds a NaN or an infinity. Both passes accumulate in
// float64, into which the float32 elements convert exactly, and the second sums squared
// deviations from the mean, so the variance does not cancel when the mean is large against the
// spread and no square overflows.
func MeanVar(src []float32) (mean, variance float64) { return meanVarOn(simd.Host(), src) }

// meanVarOn is MeanVar with the kernels of level x.
func meanVarOn(x simd.Level, src []float32) (mean, variance float64) {
	n := len(src)
	body := 0
	if x.Asm() {
		body = n &^ 7
	}
	mean = sumOn(x, src) / float64(n)
	sq := sqDevF64Go(src[body:], mean)
	if body > 0 {
		sq += sqDevF64AVX2(src[:body], mean)
	}
	return mean, sq / float64(n)
}

// Sum returns the sum of src accumulated in float64 (exact for each element's conversion): a
// global average pool's plane, a mean.
func Sum(src []float32) float64 { return sumOn(simd.Host(), src) }

// sumOn is Sum with the kernels of level x.
func sumOn(x simd.Level, src []float32) float64 {
	body := 0
	if x.Asm() {
		body = len(src) &^ 7
	}
	sum := sumF64Go(src[body:])
	switch {
	case body >= 32 && x.Wide(): // the AVX2 loop's shorter reduction wins on 16 values (4.5 against 4.9–5.1 ns)
		sum += sumF64AVX512(src[:body])
	case body > 0:
		sum += sumF64AVX2(src[:body])
	}
	return sum
}

func sumF64Go(src []float32) float64 {
	sum := 0.0
	for _, v := range src {
		sum += float64(v)
	}
	return sum
}

func sqDevF64Go(src []float32, mean float64) float64 {
	sq := 0.0
	for _, v := range src {
		d := float64(v) - mean
		sq += d * d
	}
	return sq
}

// Normalize sets dst[i] = (src[i] − mean)·invStd·gamma[i] + beta[i], the affine step of a layer
// normalisation row; beta may be nil (no shift), gamma and a non-nil beta must be at least as
// long as src. The mean is subtracted as a float32 and then the rest that float32 rounded off,
// so a mean large against the row's spread costs no accuracy.
func Normalize(dst, src []float32, mean float64, invStd float32, gamma, beta []float32) {
	normalizeOn(simd.Host(), dst, src, mean, invStd, gamma, beta)
}

// normalizeOn is Normalize with the kernels of level x.
func normalizeOn(x simd.Level, dst, src []float32, mean float64, invStd float32, gamma, beta []float32) {
	n := len(src)
	dst, gamma = dst[:n], gamma[:n]
	if beta != nil {
		beta = beta[:n]
	}
	hi := float32(mean)
	lo := float32(mean - float64(hi))
	switch {
	case !x.Asm() || n == 0:
		normalizeGo(dst, src, hi, lo, invStd, gamma, beta)
	case beta != nil:
		normalizeAVX2(dst, src, gamma, beta, hi, lo, invStd)
	default:
		normalizeNoBetaAVX2(dst, src, gamma, hi, lo, invStd)
	}
}

func normalizeGo(dst, src []float32, hi, lo, invStd float32, gamma, beta []float32) {
	dst, gamma = dst[:len(src)], gamma[:len(src)]
	if beta == nil {
		for i, v := range src {
			dst[i] = (v - hi - lo) * invStd * gamma[i]
		}
		return
	}
	beta = beta[:len(src)]
	for i, v := range src {
		dst[i] = (v-hi-lo)*invStd*gamma[i] + beta[i]
	}
}
