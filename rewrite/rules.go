package rewrite

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
)

const microsoftDomain = "com.microsoft"

// rule is one named pattern for an activation site. The pattern's root is the node whose output
// is the activation's output; variable "x" binds the pre-activation input, "bias" (com.microsoft
// FastGelu/BiasGelu) a bias added to x first, and "alpha" the value of QuickGelu's constant.
type rule struct {
	name string
	kind Kind
	root *pattern
}

// rules lists every activation pattern, most specific first: when two matches overlap, the one
// taking more nodes wins regardless of this order.
var rules = buildRules(patternBuilder{})

func buildRules(p patternBuilder) []rule {
	x := p.Var("x")
	bias := p.Var("bias")

	// x/√2, also written x·(1/√2) (TensorFlow/Keras exports).
	xOverSqrt2 := p.OneOf(p.Div(x, p.C(math.Sqrt2)), p.Mul(x, p.C(1/math.Sqrt2)))
	// x³ as Pow(x, 3) (dynamo, ONNX Gelu body) or x·(x·x) (TorchScript).
	cube := p.OneOf(p.Pow(x, p.C(3)), p.Prod(x, x, x))

	return []rule{
		{name: "relu", kind: KindReLU, root: p.Relu(x)},
		{name: "gelu_op", kind: KindGELU, root: p.Where(p.Gelu(x), geluApproximate("none"))},
		{name: "gelu_tanh_op", kind: KindGELUTanh, root: p.Where(p.Gelu(x), geluApproximate("tanh"))},

		// 0.5·x·(1 + erf(x/√2))
		{name: "gelu_erf", kind: KindGELU,
			root: p.Prod(p.C(0.5), x, p.Add(p.Erf(xOverSqrt2), p.C(1)))},
		// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
		{name: "gelu_tanh", kind: KindGELUTanh,
			root: p.Prod(p.C(0.5), x, p.Add(p.Tanh(
				p.Prod(p.C(onnxops.GELUTanhScale), p.Add(x, p.Prod(p.C(onnxops.GELUTanhCubic), cube)))), p.C(1)))},
		// Megatron/OpenAI: 0.5·x·(1 + tanh(0.79788456·x·(1 + 0.044715·x·x)))
		{name: "gelu_tanh_megatron", kind: KindGELUTanh,
			root: p.Prod(p.C(0.5), x, p.Add(p.Tanh(
				p.Prod(p.C(onnxops.GELUTanhScale), x, p.Add(p.C(1), p.Prod(p.C(onnxops.GELUTanhCubic), x, x)))), p.C(1)))},
		// folded constants (com.microsoft FastGelu's definition): 0.5·x·(1 + tanh(0.797885·x + 0.035677·x³))
		{name: "gelu_tanh_folded", kind: KindGELUTanh,
			root: p.Prod(p.C(0.5), x, p.Add(p.Tanh(
				p.Add(p.Prod(p.C(onnxops.GELUTanhScale), x), p.Prod(p.C(onnxops.GELUTanhScale*onnxops.GELUTanhCubic), cube))), p.C(1)))},
		// x·σ(1.702·x), the sigmoid approximation of GELU (CLIP's QuickGELU).
		{name: "quick_gelu", kind: KindQuickGELU,
			root: p.Prod(x, p.Sigmoid(p.Prod(p.Cnamed("alpha", onnxops.QuickGELUAlpha), x)))},

		{name: "ms_gelu", kind: KindGELU, root: p.Microsoft("Gelu", x)},
		{name: "ms_fast_gelu", kind: KindGELUTanh,
			root: p.OneOf(p.Microsoft("FastGelu", x), p.Microsoft("FastGelu", x, bias))},
		{name: "ms_bias_gelu", kind: KindGELU, root: p.Microsoft("BiasGelu", x, bias)},
		{name: "ms_quick_gelu", kind: KindQuickGELU, root: p.Microsoft("QuickGelu", x)},
	}
}

// geluApproximate checks ONNX Gelu's approximate attribute (default "none").
func geluApproximate(want string) func(*onnx.NodeProto) error {
	return func(n *onnx.NodeProto) error {
		got := "none"
		if a := attribute(n, "approximate"); a != nil {
			got = string(a.GetS())
		}
		if got != want {
			return fmt.Errorf("approximate=%q, want %q", got, want)
		}
		return nil
	}
}

func attribute(n *onnx.NodeProto, name string) *onnx.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// rootOps lists the op types a pattern's root node can have, so Find tries a rule only at nodes
// that could end it.
func rootOps(p *pattern) []string {
	switch p.kind {
	case patOp:
		return []string{p.op}
	case patAlt:
		var ops []string
		for _, a := range p.alts {
			ops = append(ops, rootOps(a)...)
		}
		return ops
	}
	return nil
}
