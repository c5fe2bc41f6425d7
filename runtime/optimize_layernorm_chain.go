package runtime

import (
	"slices"

	"github.com/actswap/actswap/tensor"
)

// fuseLayerNormChains replaces the LayerNorm that exporters below opset 17 write out in primitive
// ops (TorchScript's and transformers' BERT, GPT-2, T5 exports) by one float32 layerNormKernel,
// as onnxruntime's LayerNormFusion does:
//
//	mean = ReduceMean(x, axes=[-1]); d = Sub(x, mean)
//	var = ReduceMean(Pow(d, 2) or Mul(d, d), axes=[-1])
//	y = Div(d, Sqrt(Add(var, eps))) · gamma + beta      (Mul and Add in either operand order)
//
// ReduceMean's axes may be an attribute or (opset 18) a constant input; gamma and beta must be
// constant float32 vectors of one length — which makes x float32, as Sub, Div and Mul take one
// type — and every inner value read only inside the chain (d by the Pow or Mul and the Div).
func fuseLayerNormChains(o *optimizer) int {
	count := 0
	prod := o.producers()
	for i := range o.g.nodes {
		if o.dead[i] || !o.isOp(i, "Div") {
			continue
		}
		m, ok := matchLayerNormChain(o, prod, i)
		if !ok {
			continue
		}
		root := m.chain[len(m.chain)-1]
		label := o.g.nodes[root].label
		k := &layerNormKernel{label: label, scale: m.gamma, bias: m.beta, eps: m.eps}
		out := o.g.nodes[root].outputs[0]
		for _, j := range m.chain {
			o.dead[j] = true
		}
		o.g.nodes[root] = &node{label: label, opType: "LayerNormalization", kernel: k, inputs: []int{m.x}, outputs: []int{out}}
		o.dead[root] = false
		count++
	}
	return count
}

type layerNormChain struct {
	x           int
	gamma, beta []float32 // beta nil when the chain ends at the Mul
	eps         float32
	chain       []int // every node of the chain, the one whose output remains last
}

// matchLayerNormChain matches the chain around its Div node div.
func matchLayerNormChain(o *optimizer, prod []int, div int) (layerNormChain, bool) {
	var m layerNormChain
	d, std, ok := o.operands(div)
	if !ok {
		return m, false
	}
	// Denominator: Sqrt(Add(var, eps)).
	sqrt := o.internalFrom(prod, std, div)
	if sqrt < 0 || !o.isOp(sqrt, "Sqrt") {
		return m, false
	}
	add := o.internalFrom(prod, o.g.nodes[sqrt].inputs[0], sqrt)
	if add < 0 || !o.isOp(add, "Add") {
		return m, false
	}
	a, b, ok := o.operands(add)
	if !ok {
		return m, false
	}
	variance, epsSlot := a, b
	if o.g.consts[a] != nil {
		variance, epsSlot = b, a
	}
	eps, ok := tensor.ScalarValue(o.g.consts[epsSlot])
	if !ok || eps < 0 {
		return m, false
	}
	m.eps = float32(eps)
	varMean := o.internalFrom(prod, variance, add)
	if varMean < 0 || !lastAxisMean(o, varMean) {
		return m, false
	}
	sq := o.internalFrom(prod, o.g.nodes[varMean].inputs[0], varMean)
	if sq < 0 {
		return m, false
	}
	p, q, ok := o.operands(sq)
	switch {
	case !ok:
		return m, false
	case o.isOp(sq, "Pow"):
		if p != d || !o.constNear(q, 2) {
			return m, false
		}
	case o.isOp(sq, "Mul"):
		if p != d || q != d {
			return m, false
		}
	default:
		return m, false
	}
	// Numerator: d = Sub(x, ReduceMean(x)), read by the square and the Div only.
	sub := prod[d]
	if sub < 0 || !o.isOp(sub, "Sub") || o.fixed[d] || !sameReaders(o.uses[d], sq, div) {
		return m, false
	}
	if _, ok := o.singleOutput(sub); !ok {
		return m, false
	}
	x, mean, ok := o.operands(sub)
	if !ok {
		return m, false
	}
	xMean := o.internalFrom(prod, mean, sub)
	if xMean < 0 || !lastAxisMean(o, xMean) || o.g.nodes[xMean].inputs[0] != x {
		return m, false
	}
	// Affine tail: Mul(·, gamma) then Add(·, beta).
	mul := o.soleReader(o.g.nodes[div].outputs[0])
	if mul < 0 || !o.isOp(mul, "Mul") {
		return m, false
	}
	m.gamma = constVectorOperand(o, mul, o.g.nodes[div].outputs[0])
	if m.gamma == nil {
		return m, false
	}
	m.chain = []int{xMean, sub, sq, varMean, add, sqrt, div, mul}
	if biasAdd := o.soleReader(o.g.nodes[mul].outputs[0]); biasAdd >= 0 && o.isOp(biasAdd, "Add") {
		if beta := constVectorOperand(o, biasAdd, o.g.nodes[mul].outputs[0]); len(beta) == len(m.gamma) {
			m.beta = beta
			m.chain = append(m.chain, biasAdd)
		}
	}
	m.x = x
	return m, true
}

// lastAxisMean reports whether node i is ReduceMean over the last axis only, keeping it.
func lastAxisMean(o *optimizer, i int) bool {
	n := o.g.nodes[i]
	if !o.isOp(i, "ReduceMean") || len(n.inputs) == 0 || n.inputs[0] < 0 || attrInt(n.proto, "keepdims", 1) != 1 {
		return false
	}
	if _, ok := o.singleOutput(i); !ok {
		return false
	}
	var axes []int64
	for _, a := range n.proto.GetAttribute() {
		if a.GetName() == "axes" {
			axes = a.GetInts()
		}
	}
	if len(n.inputs) > 1 && n.inputs[1] >= 0 {
		t := o.g.consts[n.inputs[1]]
		if t == nil || t.DType != tensor.Int64 {
			return false
		}
		axes = t.I64()
	}
	return slices.Equal(axes, []int64{-1})
}

// sameReaders reports whether a value's readers are exactly nodes a and b (Mul(d, d) reads d
// twice).
func sameReaders(uses []int, a, b int) bool {
	return slices.Contains(uses, a) && slices.Contains(uses, b) &&
		!slices.ContainsFunc(uses, func(u int) bool { return u != a && u != b })
}

// constVectorOperand returns binary node i's other operand than s when it is a constant float32
// vector (rank 1, more than one value), else nil.
func constVectorOperand(o *optimizer, i, s int) []float32 {
	a, b, ok := o.operands(i)
	if !ok {
		return nil
	}
	other := a
	if a == s {
		other = b
	} else if b != s {
		return nil
	}
	t := o.g.consts[other]
	if t == nil || t.DType != tensor.Float32 || t.Rank() != 1 || t.Len() < 2 {
		return nil
	}
	return t.F32()
}
