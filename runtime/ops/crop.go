package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "CenterCropPad", 18, newCenterCropPad)
}

// newCenterCropPad crops or zero-pads each listed axis to the requested size around its centre;
// the extra element of an odd difference goes to the end.
func newCenterCropPad(n *Node) (Kernel, error) {
	attrAxes := n.AttrInts("axes", nil)
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input_data")
		if err != nil {
			return nil, err
		}
		target, err := moveInput(inputs, 1, "shape")
		if err != nil {
			return nil, err
		}
		rank := len(x.Shape)
		axes := make([]int, rank)
		for i := range axes {
			axes[i] = i
		}
		if attrAxes != nil {
			if axes, err = moveAxes(attrAxes, rank); err != nil {
				return nil, err
			}
		}
		if len(target) != len(axes) {
			return nil, fmt.Errorf("shape has %d entries for %d axes", len(target), len(axes))
		}
		begin, end := make([]int, rank), make([]int, rank)
		for i, a := range axes {
			if target[i] < 0 {
				return nil, fmt.Errorf("shape %v has a negative entry", target)
			}
			diff := int(target[i]) - x.Shape[a]
			if diff >= 0 {
				begin[a] = diff / 2
			} else {
				begin[a] = -((-diff) / 2)
			}
			end[a] = diff - begin[a]
		}
		out, err := padRun(ctx, x, begin, end, padConstant, tensor.Zeros(x.DType, []int{1}))
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}
