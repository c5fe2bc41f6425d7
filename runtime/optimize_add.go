package runtime

import (
	"fmt"
	"slices"

	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// fuseAddActivations turns Add(a, b) followed by an activation (a residual connection then Relu,
// in ResNets) into one pass over memory: each block of the sum is activated while in cache.
// Operands of equal shape in float32 take the fused loop; anything else runs the two original
// kernels.
func fuseAddActivations(o *optimizer) int {
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
		add := o.internalFrom(prod, o.g.nodes[i].inputs[0], i)
		if add < 0 || o.dead[add] || !o.isOp(add, "Add") {
			continue
		}
		a, b, ok := o.operands(add)
		if !ok || o.g.consts[a] != nil || o.g.consts[b] != nil {
			continue
		}
		an, actNode := o.g.nodes[add], o.g.nodes[i]
		k := &addActKernel{label: an.label, act: act, relu: o.isOp(i, "Relu"), add: an.kernel, actKernel: actNode.kernel, params: params}
		o.g.nodes[i] = &node{label: an.label, opType: "Add+" + actNode.opType, kernel: k,
			inputs: []int{a, b}, outputs: []int{actNode.outputs[0]}}
		o.dead[add] = true
		count++
	}
	return count
}

// addActKernel is act(a + b).
type addActKernel struct {
	label     string
	act       func([]float32)
	relu      bool // act is a Relu node's
	add       ops.Kernel
	actKernel ops.Kernel
	params    []*tensor.Tensor // the activation node's inputs, X left nil
}

// addActBlock is how many elements are summed before they are activated: a few KiB, in L1.
const addActBlock = 2048

func (k *addActKernel) Run(ctx *ops.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) != 2 || inputs[0] == nil || inputs[1] == nil {
		return nil, fmt.Errorf("fused Add %q: needs two inputs", k.label)
	}
	a, b := inputs[0], inputs[1]
	if a.DType != tensor.Float32 || b.DType != tensor.Float32 || !slices.Equal(a.Shape, b.Shape) {
		sum, err := k.add.Run(ctx, inputs)
		if err != nil {
			return nil, fmt.Errorf("fused Add %q: %w", k.label, err)
		}
		in := slices.Clone(k.params)
		in[0] = sum[0]
		return k.actKernel.Run(ctx, in)
	}
	out := ctx.AllocOverwrite(tensor.Float32, a.Shape)
	av, bv, ov := a.F32(), b.F32(), out.F32()
	ctx.Parallel(len(ov), 1<<15, func(lo, hi int) {
		for s := lo; s < hi; s += addActBlock {
			e := min(s+addActBlock, hi)
			x, y, z := av[s:e], bv[s:e], ov[s:e]
			for j := range z {
				z[j] = x[j] + y[j]
			}
			k.act(z)
		}
	})
	return ctx.Result(out), nil
}
