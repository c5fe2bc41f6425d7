package runtime

import (
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
)

// fuseExpandDepthwise joins a 1×1 convolution (activation fused or not) to the depthwise
// convolution that is its only reader — the expansion and depthwise steps of MobileNetV2 and
// EfficientNet blocks — so that the expanded tensor is computed a band of rows at a time and
// never written out (ops.NewExpandDepthwise says why and which pairs qualify).
func fuseExpandDepthwise(o *optimizer) int {
	count := 0
	prod := o.producers()
	for i, n := range o.g.nodes {
		if o.dead[i] || !isConvNode(n) || n.inputs[0] < 0 {
			continue
		}
		e := o.internalFrom(prod, n.inputs[0], i)
		if e < 0 || o.dead[e] || !isConvNode(o.g.nodes[e]) || o.g.nodes[e].inputs[0] < 0 {
			continue
		}
		en := o.g.nodes[e]
		fused, ok := ops.NewExpandDepthwise(en.kernel, n.kernel)
		if !ok {
			continue
		}
		inputs := []int{en.inputs[0], en.inputs[1], optionalInput(en.inputs, 2), n.inputs[1], optionalInput(n.inputs, 2)}
		o.g.nodes[i] = &node{label: n.label, opType: en.opType + "+" + n.opType, kernel: fused, proto: n.proto,
			version: n.version, inputs: inputs, outputs: n.outputs}
		o.dead[e] = true
		count++
	}
	return count
}

// isConvNode reports whether n is an ONNX Conv (its activation possibly fused) with X, W and
// at most a bias.
func isConvNode(n *node) bool {
	return n.proto != nil && n.proto.GetOpType() == "Conv" && onnx.IsDefaultDomain(n.proto.GetDomain()) &&
		len(n.inputs) >= 2 && len(n.inputs) <= 3
}

// optionalInput returns input j, or -1 (absent) when the node has fewer inputs.
func optionalInput(inputs []int, j int) int {
	if j < len(inputs) {
		return inputs[j]
	}
	return -1
}
