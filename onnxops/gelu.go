package onnxops

// GELUFloat32 writes the exact (erf) GELU of src to dst in float32, with erf by Abramowitz &
// Stegun 7.1.26 (absolute error ≤ 1.5e-7) and exp32. It is the speed baseline the ai.actswap
// kernels are benchmarked against (the rewriter replaces GELU to save this cost); the runtime's
// own Gelu kernel lives in runtime/ops.
func GELUFloat32(dst, src []float32) { geluF32(dst, src, len(src) >= streamMinElems) }

// erf(a) = 1 − t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·e^(−a²), t = 1/(1 + p·a), a ≥ 0.
const (
	erfP  = 0.3275911
	erfA1 = 0.254829592
	erfA2 = -0.284496736
	erfA3 = 1.421413741
	erfA4 = -1.453152027
	erfA5 = 1.061405429
)

func geluGo(dst, src []float32) {
	for i, x := range src {
		a := x * 0.70710678118654752
		if a < 0 {
			a = -a
		}
		t := 1 / (1 + erfP*a)
		// c = 1 − erf(|x|/√2)
		c := t * (erfA1 + t*(erfA2+t*(erfA3+t*(erfA4+t*erfA5)))) * exp32(-a*a)
		phi := 1 - 0.5*c
		if x < 0 {
			phi = 0.5 * c
		}
		y := x * phi
		if x < -10 {
			y = 0
		}
		if x != x {
			y = x
		}
		dst[i] = y
	}
}
