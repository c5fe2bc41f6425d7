package runtime

import (
	"math"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// foldBatchNorms folds an inference BatchNormalization into the Conv that feeds it: with
// s = scale/√(var+ε), Conv(X, W, B) then BN is Conv(X, W·s, (B−mean)·s + bias), per output channel.
// It needs float32 constant weights and BN parameters and a Conv output read only by the BN.
func foldBatchNorms(o *optimizer) int {
	g := o.g
	prod := o.producers()
	count := 0
	for i, bn := range g.nodes {
		if o.dead[i] || !o.isOp(i, "BatchNormalization") || len(bn.inputs) != 5 {
			continue
		}
		out, ok := o.singleOutput(i)
		if !ok || bnTraining(bn.proto) {
			continue
		}
		x := bn.inputs[0]
		ci := -1
		if x >= 0 {
			ci = prod[x]
		}
		if ci < 0 || !o.isOp(ci, "Conv") || o.soleReader(x) != i {
			continue
		}
		conv := g.nodes[ci]
		w := o.constInput(ci, 1)
		if w == nil || w.DType != tensor.Float32 || w.Rank() < 3 {
			continue
		}
		m := w.Shape[0]
		var b *tensor.Tensor
		if len(conv.inputs) > 2 && conv.inputs[2] >= 0 {
			if b = o.constInput(ci, 2); b == nil || b.DType != tensor.Float32 || b.Len() != m {
				continue
			}
		}
		params := make([][]float32, 4) // scale, bias, mean, var
		okParams := true
		for j := range params {
			t := o.constInput(i, j+1)
			if t == nil || t.DType != tensor.Float32 || t.Len() != m {
				okParams = false
				break
			}
			params[j] = t.F32()
		}
		if !okParams {
			continue
		}
		eps := float64(attrFloat(bn.proto, "epsilon", 1e-5))
		per := w.Len() / m
		nw := tensor.Zeros(tensor.Float32, w.Shape)
		nb := tensor.Zeros(tensor.Float32, []int{m})
		wv, nwv, nbv := w.F32(), nw.F32(), nb.F32()
		for c := 0; c < m; c++ {
			s := float64(params[0][c]) / math.Sqrt(float64(params[3][c])+eps)
			for k := c * per; k < (c+1)*per; k++ {
				nwv[k] = float32(float64(wv[k]) * s)
			}
			bias := 0.0
			if b != nil {
				bias = float64(b.F32()[c])
			}
			nbv[c] = float32((bias-float64(params[2][c]))*s + float64(params[1][c]))
		}
		wSlot := o.addConst(g.slotNames[out]+"::folded_W", nw)
		bSlot := o.addConst(g.slotNames[out]+"::folded_B", nb)
		p := proto.Clone(conv.proto).(*onnx.NodeProto)
		p.Input = []string{g.slotNames[conv.inputs[0]], g.slotNames[wSlot], g.slotNames[bSlot]}
		p.Output = []string{g.slotNames[out]}
		on := ops.NewNode(p, conv.version)
		on.Const[1], on.Const[2] = nw, nb
		on.InputTypes[0] = g.dtypes[conv.inputs[0]]
		on.InputTypes[1], on.InputTypes[2] = tensor.Float32, tensor.Float32
		factory, found := ops.Lookup("", "Conv", conv.version)
		if !found {
			continue
		}
		k, err := factory(on)
		if err != nil {
			continue
		}
		fused := &node{label: conv.label, opType: "Conv", kernel: k, proto: p, version: conv.version,
			inputs: []int{conv.inputs[0], wSlot, bSlot}, outputs: []int{out}}
		g.nodes[i] = fused
		o.dead[ci] = true
		count++
	}
	return count
}

// bnTraining reports a BatchNormalization in training mode (opset 14+ attribute), whose output
// uses batch statistics.
func bnTraining(p *onnx.NodeProto) bool {
	for _, a := range p.GetAttribute() {
		if a.GetName() == "training_mode" && a.GetI() != 0 {
			return true
		}
	}
	return false
}

func attrFloat(p *onnx.NodeProto, name string, def float32) float32 {
	for _, a := range p.GetAttribute() {
		if a.GetName() == name {
			return a.GetF()
		}
	}
	return def
}

func attrInt(p *onnx.NodeProto, name string, def int64) int64 {
	for _, a := range p.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}
