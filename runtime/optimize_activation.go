package runtime

import (
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// fuseActivations moves an elementwise activation into the epilogue of the GEMM that feeds it:
// Conv and Gemm kernels (ops.ActivationFuser) and fused MatMuls. The activation is Relu, a fused
// Gelu or SiLU, or any kernel that offers an in-place float32 form (ops.ElementwiseFloat32: Clip with
// constant bounds — ReLU6 — and the ai.actswap ops with per-tensor parameters), so a rewritten model pays almost nothing for its
// activations. A MatMul also takes an ai.actswap op with per-channel parameters along its
// output's last axis (ops.ChannelsLastFloat32: a transformer MLP's PWLU after bias absorption),
// which sees each column's channel. A plain MatMul first becomes a fused MatMul, which keeps the
// unfused steps for inputs it does not handle.
func fuseActivations(o *optimizer) int {
	count := 0
	prod := o.producers()
	for i := range o.g.nodes {
		if o.dead[i] {
			continue
		}
		act, params := activationOf(o, i)
		var cols channelsLast
		if act == nil {
			if cols, params = channelsLastOf(o, i); cols.f == nil {
				continue
			}
		}
		x := o.g.nodes[i].inputs[0]
		p := o.internalFrom(prod, x, i)
		if p < 0 || o.dead[p] {
			continue
		}
		pn := o.g.nodes[p]
		// A plain MatMul's kernel is an ActivationFuser too, but only one with constant weights
		// becomes a fused MatMul, whose epilogue also takes the bias and channels-last forms.
		fused, isFused := pn.kernel.(*fusedMatMul)
		fuser, isFuser := pn.kernel.(ops.ActivationFuser)
		switch {
		case isFused:
			if fused.act != nil || fused.cols != nil || !fused.fuse(act, cols) {
				continue
			}
			fused.steps = append(fused.steps, chainStep{kernel: o.g.nodes[i].kernel, inputs: params, from: 0})
		case o.isOp(p, "MatMul"):
			w := o.constInput(p, 1)
			if w == nil || w.DType != tensor.Float32 || w.Rank() != 2 || o.constInput(p, 0) != nil {
				continue
			}
			f, err := newFusedMatMul(pn, w)
			if err != nil || !f.fuse(act, cols) {
				continue
			}
			f.steps = append(f.steps, chainStep{kernel: o.g.nodes[i].kernel, inputs: params, from: 0})
			pn = &node{label: pn.label, opType: "MatMul", kernel: f, inputs: []int{pn.inputs[0]}}
		case isFuser && o.gemmIsFloat(p):
			if act == nil || !fuseInto(fuser, act, o.isOp(i, "Relu")) {
				continue
			}
			fuseBiased(fuser, o.g.nodes[i].kernel)
		default:
			continue
		}
		pn.outputs = []int{o.g.nodes[i].outputs[0]}
		pn.opType += "+" + o.g.nodes[i].opType
		o.g.nodes[i] = pn
		o.dead[p] = true
		count++
	}
	return count
}

// fuseInto fuses act into k, through FuseRelu where act is a Relu node's and k has it.
func fuseInto(k ops.ActivationFuser, act func([]float32), relu bool) bool {
	if rf, ok := k.(ops.ReluFuser); ok && relu {
		return rf.FuseRelu()
	}
	return k.FuseActivation(act)
}

// fuseBiased gives k, which has just fused the activation kernel act, act's form that adds the
// per-channel bias in the same pass, where both have it.
func fuseBiased(k ops.ActivationFuser, act ops.Kernel) {
	bf, ok1 := k.(ops.BiasedActivationFuser)
	ba, ok2 := act.(ops.BiasedElementwiseFloat32)
	if !ok1 || !ok2 {
		return
	}
	if f := ba.BiasedElementwiseFloat32(); f != nil {
		bf.FuseBiasedActivation(f)
	}
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
	params, ok := activationParams(o, i)
	if !ok {
		return nil, nil
	}
	n := o.g.nodes[i]
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
		return ops.ReluInPlace, params
	}
	return nil, nil
}

// channelsLast is a per-channel activation in the form a MatMul epilogue runs it (see
// ops.ChannelsLastFloat32): f transforms consecutive channels; the input must have rank rank (0:
// any) for its last axis to hold the channels.
type channelsLast struct {
	f              func(dst []float32, ch0 int)
	channels, rank int
}

// channelsLastOf returns node i's activation in its channels-last form, with the node's inputs
// as activationOf does; f is nil when i has none.
func channelsLastOf(o *optimizer, i int) (channelsLast, []*tensor.Tensor) {
	params, ok := activationParams(o, i)
	if !ok {
		return channelsLast{}, nil
	}
	k, ok := o.g.nodes[i].kernel.(ops.ChannelsLastFloat32)
	if !ok {
		return channelsLast{}, nil
	}
	c, rank, f := k.ChannelsLastFloat32()
	return channelsLast{f: f, channels: c, rank: rank}, params
}

// activationParams returns node i's inputs with X left nil, when i has one output and every
// other input is a constant: what an activation in an epilogue needs.
func activationParams(o *optimizer, i int) ([]*tensor.Tensor, bool) {
	n := o.g.nodes[i]
	if len(n.inputs) == 0 || n.inputs[0] < 0 || len(n.implicit) > 0 {
		return nil, false
	}
	if _, ok := o.singleOutput(i); !ok {
		return nil, false
	}
	params := make([]*tensor.Tensor, len(n.inputs))
	for j, s := range n.inputs[1:] {
		if s >= 0 {
			if params[j+1] = o.g.consts[s]; params[j+1] == nil {
				return nil, false
			}
		}
	}
	return params, true
}
