package runtime

import (
	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// fuseActivations moves an elementwise activation into the epilogue of the GEMM that feeds it:
// Conv and Gemm kernels (ops.ActivationFuser) and fused MatMuls. The activation is Relu, a fused
// Gelu or SiLU, or any kernel that offers an in-place float32 form (ops.ElementwiseFloat32: Clip with
// constant bounds — ReLU6 — and the ai.actswap ops with per-tensor parameters), so a rewritten model pays almost nothing for its
// activations. A plain MatMul first becomes a fused MatMul, which keeps the unfused steps for
// inputs it does not handle.
func fuseActivations(o *optimizer) int {
	count := 0
	prod := o.producers()
	for i := range o.g.nodes {
		if o.dead[i] {
			continue
		}
		act, params := activationOf(o, i)
		if act == nil {
			continue
		}
		x := o.g.nodes[i].inputs[0]
		p := o.internalFrom(prod, x, i)
		if p < 0 || o.dead[p] {
			continue
		}
		pn := o.g.nodes[p]
		switch k := pn.kernel.(type) {
		case *fusedMatMul:
			if k.act != nil {
				continue
			}
			k.FuseActivation(act)
			k.steps = append(k.steps, chainStep{kernel: o.g.nodes[i].kernel, inputs: params, from: 0})
		case ops.ActivationFuser:
			if !o.gemmIsFloat(p) || !k.FuseActivation(act) {
				continue
			}
		default:
			if !o.isOp(p, "MatMul") {
				continue
			}
			w := o.constInput(p, 1)
			if w == nil || w.DType != tensor.Float32 || w.Rank() != 2 || o.constInput(p, 0) != nil {
				continue
			}
			f, err := newFusedMatMul(pn, w)
			if err != nil {
				continue
			}
			f.FuseActivation(act)
			f.steps = append(f.steps, chainStep{kernel: o.g.nodes[i].kernel, inputs: params, from: 0})
			pn = &node{label: pn.label, opType: "MatMul", kernel: f, inputs: []int{pn.inputs[0]}}
		}
		pn.outputs = []int{o.g.nodes[i].outputs[0]}
		pn.opType += "+" + o.g.nodes[i].opType
		o.g.nodes[i] = pn
		o.dead[p] = true
		count++
	}
	return count
}

// gemmIsFloat reports whether a Conv or Gemm node surely computes in float: Conv always does;
// Gemm (which also takes integers) when its B is a float constant.
func (o *optimizer) gemmIsFloat(i int) bool {
	switch {
	case o.isOp(i, "Conv"):
		return true
	case o.isOp(i, "Gemm"):
		b := o.constInput(i, 1)
		return b != nil && b.DType == tensor.Float32
	}
	return false
}

// activationOf returns node i's activation as an in-place float32 function, with the node's
// inputs (its chained input X left nil) for running it unfused; nil when i is not one.
func activationOf(o *optimizer, i int) (func([]float32), []*tensor.Tensor) {
	n := o.g.nodes[i]
	if len(n.inputs) == 0 || n.inputs[0] < 0 || len(n.implicit) > 0 {
		return nil, nil
	}
	if _, ok := o.singleOutput(i); !ok {
		return nil, nil
	}
	params := make([]*tensor.Tensor, len(n.inputs))
	for j, s := range n.inputs[1:] {
		if s >= 0 {
			if params[j+1] = o.g.consts[s]; params[j+1] == nil {
				return nil, nil
			}
		}
	}
	switch k := n.kernel.(type) {
	case *geluKernel:
		return k.apply, params
	case siluKernel:
		return k.apply, params
	case ops.ElementwiseFloat32:
		if f := k.ElementwiseFloat32(); f != nil {
			return f, params
		}
		return nil, nil
	}
	if o.isOp(i, "Relu") && len(n.inputs) == 1 {
		return reluInPlace, params
	}
	return nil, nil
}

// reluInPlace is Relu as a GEMM epilogue: max(x, 0) in place, NaN kept. The assembly takes
// short rows (conv epilogue rows) whole, its last partial block through masked loads and stores.
func reluInPlace(dst []float32) { vecmath.Relu(dst, dst) }
