package vecmath

// MaxInto sets dst[i] = max(dst[i], src[i]) for every element of src, with Go's max semantics:
// NaN if either is NaN, and max(−0, +0) = +0. Max pooling reduces a window's rows with it.
func MaxInto(dst, src []float32) {
	if useAsm && len(src) > 0 {
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
func Relu(dst, src []float32) {
	if useAsm && len(src) > 0 {
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
