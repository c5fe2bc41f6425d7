package pattern

import (
	"math"

	"github.com/actswap/actswap/onnxops"
)

// Function is what a chain computes.
type Function string

const (
	GELU      Function = "gelu"       // x·Φ(x), the exact (erf) GELU
	GELUTanh  Function = "gelu_tanh"  // 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))
	QuickGELU Function = "quick_gelu" // x·σ(αx); the match binds "alpha" to α's value
)

// Chain is one way exporters write a GELU out in primitive ops. Variable "x" binds the input;
// Root's output is the activation's.
type Chain struct {
	Name     string
	Function Function
	Root     *Pattern
}

// GELUChains lists the GELU chains exporters emit below opset 20 (and TensorFlow, Megatron and
// onnxruntime's definitions), the one definition both the rewriter's sites and the runtime's
// GELU fusion match.
func GELUChains() []Chain {
	var p Builder
	x := p.Var("x")
	// x/√2, also written x·(1/√2) (TensorFlow/Keras exports).
	xOverSqrt2 := p.OneOf(p.Div(x, p.C(math.Sqrt2)), p.Mul(x, p.C(1/math.Sqrt2)))
	// x³ as Pow(x, 3) (dynamo, ONNX Gelu body) or x·(x·x) (TorchScript).
	cube := p.OneOf(p.Pow(x, p.C(3)), p.Prod(x, x, x))
	return []Chain{
		// 0.5·x·(1 + erf(x/√2))
		{Name: "gelu_erf", Function: GELU,
			Root: p.Prod(p.C(0.5), x, p.Add(p.Erf(xOverSqrt2), p.C(1)))},
		// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
		{Name: "gelu_tanh", Function: GELUTanh,
			Root: p.Prod(p.C(0.5), x, p.Add(p.Tanh(
				p.Prod(p.C(onnxops.GELUTanhScale), p.Add(x, p.Prod(p.C(onnxops.GELUTanhCubic), cube)))), p.C(1)))},
		// Megatron/OpenAI: 0.5·x·(1 + tanh(0.79788456·x·(1 + 0.044715·x·x)))
		{Name: "gelu_tanh_megatron", Function: GELUTanh,
			Root: p.Prod(p.C(0.5), x, p.Add(p.Tanh(
				p.Prod(p.C(onnxops.GELUTanhScale), x, p.Add(p.C(1), p.Prod(p.C(onnxops.GELUTanhCubic), x, x)))), p.C(1)))},
		// folded constants (com.microsoft FastGelu's definition): 0.5·x·(1 + tanh(0.797885·x + 0.035677·x³))
		{Name: "gelu_tanh_folded", Function: GELUTanh,
			Root: p.Prod(p.C(0.5), x, p.Add(p.Tanh(
				p.Add(p.Prod(p.C(onnxops.GELUTanhScale), x), p.Prod(p.C(onnxops.GELUTanhScale*onnxops.GELUTanhCubic), cube))), p.C(1)))},
		// x·σ(1.702·x), the sigmoid approximation of GELU (CLIP's QuickGELU).
		{Name: "quick_gelu", Function: QuickGELU,
			Root: p.Prod(x, p.Sigmoid(p.Prod(p.Cnamed("alpha", onnxops.QuickGELUAlpha), x)))},
	}
}
