package runtime

import (
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
)

// fuseMatMulTransposes lets a MatMul read its right operand through a Transpose that swaps the
// last two axes and nothing else — attention's Kᵀ before Q·Kᵀ, in every exporter's form — so the
// transposed copy is never written and the GEMM packs B straight from the untransposed tensor
// (onnxruntime's MatMul + Transpose fusion does the same). The Transpose must be read only by
// the MatMul and carry an explicit perm. PyTorch's scaled-dot-product attention puts a Mul by a
// scale between the two (Kᵀ·√(1/√d)); that Mul, read only by the MatMul, is fused as well and its
// scale becomes the product's alpha (ops.NewMatMulTransposedBScaled).
func fuseMatMulTransposes(o *optimizer) int {
	count := 0
	prod := o.producers()
	for i, n := range o.g.nodes {
		if o.dead[i] || !o.isOp(i, "MatMul") || len(n.inputs) != 2 || n.inputs[0] < 0 || n.inputs[1] < 0 {
			continue
		}
		if _, ok := n.kernel.(ops.ActivationFuser); !ok { // not the standard float MatMul kernel
			continue
		}
		inputs, kernel := []int{n.inputs[0], -1}, ops.NewMatMulTransposedB()
		t := o.internalFrom(prod, n.inputs[1], i)
		mul := -1
		if t >= 0 && o.isOp(t, "Mul") {
			mul, t = t, -1
			if x, scale, ok := o.operands(mul); ok {
				for _, pair := range [][2]int{{x, scale}, {scale, x}} {
					if tt := o.internalFrom(prod, pair[0], mul); tt >= 0 && o.isOp(tt, "Transpose") {
						t = tt
						inputs = append(inputs, pair[1])
						kernel = ops.NewMatMulTransposedBScaled()
						break
					}
				}
			}
		}
		if t < 0 || !o.isOp(t, "Transpose") || len(o.g.nodes[t].inputs) != 1 || !swapsLastTwo(attrInts(o.g.nodes[t].proto, "perm")) {
			continue
		}
		inputs[1] = o.g.nodes[t].inputs[0]
		o.g.nodes[i] = &node{label: n.label, opType: "MatMul", kernel: kernel, proto: n.proto,
			version: n.version, inputs: inputs, outputs: n.outputs}
		o.dead[t] = true
		if mul >= 0 {
			o.dead[mul] = true
		}
		count++
	}
	return count
}

// swapsLastTwo reports whether perm exchanges the last two axes and keeps the others in place.
func swapsLastTwo(perm []int64) bool {
	r := len(perm)
	if r < 2 || perm[r-1] != int64(r-2) || perm[r-2] != int64(r-1) {
		return false
	}
	for j, p := range perm[:r-2] {
		if p != int64(j) {
			return false
		}
	}
	return true
}

// attrInts returns an INTS attribute, nil when absent.
func attrInts(p *onnx.NodeProto, name string) []int64 {
	for _, a := range p.GetAttribute() {
		if a.GetName() == name {
			return a.GetInts()
		}
	}
	return nil
}
