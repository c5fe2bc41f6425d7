//go:build !amd64

package ops

// expShiftSum sets dst[i] = e^(src[i]-shift) and returns the sum: a softmax row's exponentials.
func expShiftSum(dst, src []float32, shift float32) float64 {
	dst = dst[:len(src)]
	sum := 0.0
	for i, v := range src {
		e := expF32(v - shift)
		dst[i] = e
		sum += float64(e)
	}
	return sum
}

// rowMax returns the largest element of a non-empty row.
func rowMax(x []float32) float32 {
	peak := x[0]
	for _, v := range x[1:] {
		peak = max(peak, v)
	}
	return peak
}

// scaleRow multiplies a row by s in place.
func scaleRow(y []float32, s float32) {
	for i := range y {
		y[i] *= s
	}
}
