package onnxops

import "math"

// ReLU is max(x, 0); NaN propagates.
func ReLU(x float64) float64 {
	if x > 0 || math.IsNaN(x) {
		return x
	}
	return 0
}

// GELU is the exact (erf) GELU, x·Φ(x), as ONNX Gelu with approximate="none".
func GELU(x float64) float64 {
	if math.IsInf(x, -1) {
		return 0
	}
	return 0.5 * x * math.Erfc(-x/math.Sqrt2)
}

// The constants of the tanh GELU, 0.5·x·(1 + tanh(GELUTanhScale·(x + GELUTanhCubic·x³))).
const (
	GELUTanhScale = 0.7978845608028654 // √(2/π)
	GELUTanhCubic = 0.044715
)

// GELUTanh is the tanh approximation, as ONNX Gelu with approximate="tanh".
func GELUTanh(x float64) float64 {
	if math.IsInf(x, -1) {
		return 0
	}
	return 0.5 * x * (1 + math.Tanh(GELUTanhScale*(x+GELUTanhCubic*x*x*x)))
}

// QuickGELUAlpha is QuickGELU's default α (com.microsoft QuickGelu, CLIP).
const QuickGELUAlpha = 1.702

// QuickGELU is x·σ(αx), the sigmoid approximation of GELU (com.microsoft QuickGelu). At −Inf it
// is 0, its limit, rather than the −Inf/Inf = NaN the formula gives; NaN propagates.
func QuickGELU(x, alpha float64) float64 {
	if math.IsInf(x, -1) {
		return 0
	}
	return x / (1 + math.Exp(-alpha*x))
}
