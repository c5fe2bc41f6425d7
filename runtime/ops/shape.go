package ops

import (
	"github.com/actswap/actswap/tensor"
)

// Shape and Size read only the input's shape, never its elements.

func init() {
	Register(DefaultDomain, "Shape", 1, newShape) // start/end (opset 15) are read whenever set
	Register(DefaultDomain, "Size", 1, newSize)
}

func newShape(n *Node) (Kernel, error) {
	start := n.AttrInt("start", 0)
	end, hasEnd := int64(0), n.HasAttr("end")
	if hasEnd {
		end = n.AttrInt("end", 0)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		rank := int64(len(x.Shape))
		lo, hi := shapeClamp(start, rank), rank
		if hasEnd {
			hi = shapeClamp(end, rank)
		}
		if hi < lo {
			hi = lo
		}
		out := ctx.Alloc(tensor.Int64, []int{int(hi - lo)})
		dims := out.I64()
		for i := range dims {
			dims[i] = int64(x.Shape[lo+int64(i)])
		}
		return ctx.Result(out), nil
	}), nil
}

// shapeClamp applies Shape's start/end rule: negative counts from the back, then clamp to [0, rank].
func shapeClamp(v, rank int64) int64 {
	if v < 0 {
		v += rank
	}
	return min(max(v, 0), rank)
}

func newSize(n *Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		out := ctx.Alloc(tensor.Int64, nil)
		out.I64()[0] = int64(x.Len())
		return ctx.Result(out), nil
	}), nil
}
