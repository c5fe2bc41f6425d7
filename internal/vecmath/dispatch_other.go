//go:build !amd64 || noasm

package vecmath

// Other architectures, and amd64 under the noasm build tag, run the pure-Go kernels; these stand
// in for the amd64 assembly and are never selected.

func expAVX2(dst, src []float32)       { mapScalar(dst, src, expScalar) }
func sigmoidAVX2(dst, src []float32)   { mapScalar(dst, src, sigmoidScalar) }
func siluAVX2(dst, src []float32)      { mapScalar(dst, src, siluScalar) }
func tanhAVX2(dst, src []float32)      { mapScalar(dst, src, tanhScalar) }
func erfAVX2(dst, src []float32)       { mapScalar(dst, src, erfScalar) }
func geluAVX2(dst, src []float32)      { mapScalar(dst, src, geluScalar) }
func geluTanhAVX2(dst, src []float32)  { mapScalar(dst, src, geluTanhScalar) }
func hardSwishAVX2(dst, src []float32) { mapScalar(dst, src, hardSwishScalar) }

func expAVX512(dst, src []float32)       { mapScalar(dst, src, expScalar) }
func sigmoidAVX512(dst, src []float32)   { mapScalar(dst, src, sigmoidScalar) }
func siluAVX512(dst, src []float32)      { mapScalar(dst, src, siluScalar) }
func tanhAVX512(dst, src []float32)      { mapScalar(dst, src, tanhScalar) }
func erfAVX512(dst, src []float32)       { mapScalar(dst, src, erfScalar) }
func geluAVX512(dst, src []float32)      { mapScalar(dst, src, geluScalar) }
func geluTanhAVX512(dst, src []float32)  { mapScalar(dst, src, geluTanhScalar) }
func hardSwishAVX512(dst, src []float32) { mapScalar(dst, src, hardSwishScalar) }

func siluBiasAVX2(dst, src []float32, b float32)        { mapBiased(dst, src, b, siluScalar) }
func siluBiasAVX512(dst, src []float32, b float32)      { mapBiased(dst, src, b, siluScalar) }
func hardSwishBiasAVX2(dst, src []float32, b float32)   { mapBiased(dst, src, b, hardSwishScalar) }
func hardSwishBiasAVX512(dst, src []float32, b float32) { mapBiased(dst, src, b, hardSwishScalar) }

func expSumShiftedAVX2(dst, src []float32, shift float32) float32 {
	return expSumShiftedGo(dst, src, shift)
}

func maxAVX2(src []float32) float32 { return maxGo(src) }

func scaleAVX2(dst []float32, s float32) { scaleGo(dst, s) }

func expSumShiftedAVX512(dst, src []float32, shift float32) float32 {
	return expSumShiftedGo(dst, src, shift)
}

func maxAVX512(src []float32) float32 { return maxGo(src) }

func scaleAVX512(dst []float32, s float32) { scaleGo(dst, s) }

func maxIntoAVX2(dst, src []float32) { maxIntoGo(dst, src) }
func reluAVX2(dst, src []float32)    { reluGo(dst, src) }

func reluBiasAVX2(dst, src []float32, b float32) {
	mapBiased(dst, src, b, func(x float32) float32 { return max(x, 0) })
}

func clampAVX2(dst, src []float32, lo, hi float32) { clampGo(dst, src, lo, hi) }

func sumF64AVX2(src []float32) float64                 { return sumF64Go(src) }
func sumF64AVX512(src []float32) float64               { return sumF64Go(src) }
func sqDevF64AVX2(src []float32, mean float64) float64 { return sqDevF64Go(src, mean) }

func normalizeAVX2(dst, src, gamma, beta []float32, hi, lo, invStd float32) {
	normalizeGo(dst, src, hi, lo, invStd, gamma, beta)
}

func normalizeNoBetaAVX2(dst, src, gamma []float32, hi, lo, invStd float32) {
	normalizeGo(dst, src, hi, lo, invStd, gamma, nil)
}

func addAVX2(dst, x, y []float32) { arithGo(OpAdd, dst, x, y) }
func subAVX2(dst, x, y []float32) { arithGo(OpSub, dst, x, y) }
func mulAVX2(dst, x, y []float32) { arithGo(OpMul, dst, x, y) }
func divAVX2(dst, x, y []float32) { arithGo(OpDiv, dst, x, y) }

func addScalarAVX2(dst, x []float32, s float32) { arithScalarGo(OpAdd, dst, x, s) }
func subScalarAVX2(dst, x []float32, s float32) { arithScalarGo(OpSub, dst, x, s) }
func mulScalarAVX2(dst, x []float32, s float32) { arithScalarGo(OpMul, dst, x, s) }
func divScalarAVX2(dst, x []float32, s float32) { arithScalarGo(OpDiv, dst, x, s) }
func scalarSubAVX2(dst, x []float32, s float32) { scalarArithGo(OpSub, dst, s, x) }
func scalarDivAVX2(dst, x []float32, s float32) { scalarArithGo(OpDiv, dst, s, x) }

// mapBiased applies f to each element plus b.
func mapBiased(dst, src []float32, b float32, f func(float32) float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = f(v + b)
	}
}

// mapScalar applies f to each element: the stand-ins above are this over the scalar functions.
func mapScalar(dst, src []float32, f func(float32) float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = f(v)
	}
}

func maxPool2x2AVX2(dst, src []float32, width int) { maxPool2x2Go(dst, src, width) }

func maxPool2DS1AVX2(dst, src, buf []float32, rows []int, inW, left, slot, band, outW, rowStep, kw, dilW int) {
	panic("vecmath: no assembly in this build")
}
func maxPool2DS2AVX2(dst, src, buf []float32, rows []int, inW, left, slot, band, outW, rowStep, kw, dilW int) {
	panic("vecmath: no assembly in this build")
}
func maxPool2DS1AVX512(dst, src, buf []float32, rows []int, inW, left, slot, band, outW, rowStep, kw, dilW int) {
	panic("vecmath: no assembly in this build")
}
func maxPool2DS2AVX512(dst, src, buf []float32, rows []int, inW, left, slot, band, outW, rowStep, kw, dilW int) {
	panic("vecmath: no assembly in this build")
}
func avgPool2DS1AVX2(dst, src, buf []float32, rows []int, inW, left, slot, band, outW, rowStep, kw, dilW int, colDiv []float32) {
	panic("vecmath: no assembly in this build")
}
func avgPool2DS2AVX2(dst, src, buf []float32, rows []int, inW, left, slot, band, outW, rowStep, kw, dilW int, colDiv []float32) {
	panic("vecmath: no assembly in this build")
}
func avgPool2DS1AVX512(dst, src, buf []float32, rows []int, inW, left, slot, band, outW, rowStep, kw, dilW int, colDiv []float32) {
	panic("vecmath: no assembly in this build")
}
func avgPool2DS2AVX512(dst, src, buf []float32, rows []int, inW, left, slot, band, outW, rowStep, kw, dilW int, colDiv []float32) {
	panic("vecmath: no assembly in this build")
}
