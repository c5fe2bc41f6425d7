package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// MaxUnpool (opset 9/11/22) scatters pooled values back to the positions MaxPool's Indices output
// recorded (flat indices over the whole unpooled tensor of (in−1)·stride − pads + kernel per
// spatial axis); everything else is zero. A larger output_shape gets that tensor in its leading
// corner, zeros beyond, as ONNX's reference does.

func init() {
	RegisterRange(DefaultDomain, "MaxUnpool", newMaxUnpool, 9, 11, 22)
}

func newMaxUnpool(n *Node) (Kernel, error) {
	kernel := n.AttrInts("kernel_shape", nil)
	if len(kernel) == 0 {
		return nil, fmt.Errorf("MaxUnpool: kernel_shape is required")
	}
	strides := n.AttrInts("strides", nil)
	pads := n.AttrInts("pads", nil)
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, fmt.Errorf("MaxUnpool: %w", err)
		}
		x, idxT := in[0], in[1]
		spatial := len(x.Shape) - 2
		if spatial != len(kernel) || !tensor.SameShape(x.Shape, idxT.Shape) {
			return nil, fmt.Errorf("MaxUnpool: X %v and I %v must match and have %d spatial axes", x.Shape, idxT.Shape, len(kernel))
		}
		inferred := append([]int(nil), x.Shape...)
		for i := 0; i < spatial; i++ {
			st, pb, pe := int64(1), int64(0), int64(0)
			if i < len(strides) {
				st = strides[i]
			}
			if len(pads) == 2*spatial {
				pb, pe = pads[i], pads[i+spatial]
			}
			inferred[i+2] = int((int64(x.Shape[i+2])-1)*st - pb - pe + kernel[i])
		}
		shape := inferred
		if len(in) > 2 && in[2] != nil {
			v, err := toInt64s(in[2])
			if err != nil || len(v) != len(shape) {
				return nil, fmt.Errorf("MaxUnpool: output_shape must hold %d integers", len(shape))
			}
			shape = make([]int, len(v))
			for i, d := range v {
				if shape[i] = int(d); shape[i] < inferred[i] {
					return nil, fmt.Errorf("MaxUnpool: output_shape %v is smaller than the unpooled %v", v, inferred)
				}
			}
		}
		idx, err := toInt64s(idxT)
		if err != nil {
			return nil, fmt.Errorf("MaxUnpool: %w", err)
		}
		out := ctx.Alloc(x.DType, shape)
		total := tensor.NumElements(inferred)
		outStrides, inStrides := tensor.Strides(shape), tensor.Strides(inferred)
		for j, k := range idx {
			if k < 0 || int(k) >= total {
				return nil, fmt.Errorf("MaxUnpool: index %d outside the unpooled tensor's %d elements", k, total)
			}
			// The flat index in the unpooled shape, re-laid out in the output's.
			at, rest := 0, int(k)
			for d, st := range inStrides {
				at += rest / st * outStrides[d]
				rest %= st
			}
			tensor.CopyRange(out, at, x, j, 1)
		}
		return ctx.Result(out), nil
	}), nil
}
