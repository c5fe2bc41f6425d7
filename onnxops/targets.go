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

// GELUTanh is the tanh approximation, as ONNX Gelu with approximate="tanh".
func GELUTanh(x float64) float64 {
	if math.IsInf(x, -1) {
		return 0
	}
	const c = 0.7978845608028654 // sqrt(2/pi)
	return 0.5 * x * (1 + math.Tanh(c*(x+0.044715*x*x*x)))
}
