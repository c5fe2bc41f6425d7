package vecmath

// MaxInto sets dst[i] = max(dst[i], src[i]) for every element of src, with Go's max semantics:
// NaN if either is NaN, and max(−0, +0) = +0. Max pooling reduces a window's rows with it.
func MaxInto(dst, src []float32) {
	dst = dst[:len(src)]
	if useAsm && len(src) > 0 {
		maxIntoAVX2(dst, src)
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

// Relu sets dst[i] = max(src[i], 0), as Go's max: NaN stays NaN and −0 becomes +0.
func Relu(dst, src []float32) {
	dst, i := vector(dst, src, reluAVX2)
	for ; i < len(src); i++ {
		dst[i] = max(src[i], 0)
	}
}
