package rewrite

import (
	"fmt"

	"github.com/actswap/actswap/internal/pattern"
	"github.com/actswap/actswap/onnx"
)

const microsoftDomain = pattern.MicrosoftDomain

// rule is one named pattern for an activation site. The pattern's root is the node whose output
// is the activation's output; variable "x" binds the pre-activation input, "bias" (com.microsoft
// FastGelu/BiasGelu) a bias added to x first, and "alpha" the value of QuickGelu's constant.
type rule struct {
	name string
	kind Kind
	root *pattern.Pattern
}

// rules lists every activation pattern, most specific first: when two matches overlap, the one
// taking more nodes wins regardless of this order.
var rules = buildRules()

// buildRules is the ReLU and opset-20 Gelu ops, the GELU chains the runtime's fusion also
// matches (pattern.GELUChains, one definition), and onnxruntime's com.microsoft GELU ops.
func buildRules() []rule {
	var p pattern.Builder
	x := p.Var("x")
	bias := p.Var("bias")
	out := []rule{
		{name: "relu", kind: KindReLU, root: p.Relu(x)},
		{name: "gelu_op", kind: KindGELU, root: p.Where(p.Gelu(x), geluApproximate("none"))},
		{name: "gelu_tanh_op", kind: KindGELUTanh, root: p.Where(p.Gelu(x), geluApproximate("tanh"))},
	}
	for _, c := range pattern.GELUChains() {
		out = append(out, rule{name: c.Name, kind: Kind(c.Function), root: c.Root})
	}
	return append(out,
		rule{name: "ms_gelu", kind: KindGELU, root: p.Microsoft("Gelu", x)},
		rule{name: "ms_fast_gelu", kind: KindGELUTanh,
			root: p.OneOf(p.Microsoft("FastGelu", x), p.Microsoft("FastGelu", x, bias))},
		rule{name: "ms_bias_gelu", kind: KindGELU, root: p.Microsoft("BiasGelu", x, bias)},
		rule{name: "ms_quick_gelu", kind: KindQuickGELU, root: p.Microsoft("QuickGelu", x)},
	)
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
