package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "ReverseSequence", 10, newReverseSequence)
}

// newReverseSequence reverses the first sequence_lens[b] steps along time_axis of each batch
// entry b, leaving the rest in place.
func newReverseSequence(n *Node) (Kernel, error) {
	batchAxis, timeAxis := n.AttrInt("batch_axis", 1), n.AttrInt("time_axis", 0)
	if !(batchAxis == 0 && timeAxis == 1 || batchAxis == 1 && timeAxis == 0) {
		return nil, fmt.Errorf("batch_axis %d and time_axis %d must be 0 and 1 in some order", batchAxis, timeAxis)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		if len(x.Shape) < 2 {
			return nil, fmt.Errorf("input must have rank ≥ 2, is %v", tensor.ShapeString(x.Shape))
		}
		lens, err := moveInput(inputs, 1, "sequence_lens")
		if err != nil {
			return nil, err
		}
		batch, steps := x.Shape[batchAxis], x.Shape[timeAxis]
		if len(lens) != batch {
			return nil, fmt.Errorf("sequence_lens has %d entries for batch %d", len(lens), batch)
		}
		strides := tensor.Strides(x.Shape)
		inner := strides[1]
		out, err := moveCopy(ctx, x, x.Shape)
		if err != nil {
			return nil, err
		}
		m, _ := moverFor(x.DType)
		for b, l := range lens {
			if l < 0 || l > int64(steps) {
				return nil, fmt.Errorf("sequence_lens[%d] = %d outside [0, %d]", b, l, steps)
			}
			for t := range int(l) {
				src := b*strides[batchAxis] + t*strides[timeAxis]
				dst := b*strides[batchAxis] + (int(l)-1-t)*strides[timeAxis]
				m.copyRange(out.Data, dst, x.Data, src, inner)
			}
		}
		return ctx.Result(out), nil
	}), nil
}
