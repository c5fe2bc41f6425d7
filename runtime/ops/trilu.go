package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Trilu", 14, newTrilu)
}

// newTrilu keeps the upper (upper=1, the default) or lower triangle of each matrix in the last
// two axes, relative to diagonal k, and zeroes the rest.
func newTrilu(n *Node) (Kernel, error) {
	upper := n.AttrInt("upper", 1) != 0
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		if len(x.Shape) < 2 {
			return nil, fmt.Errorf("input must have rank ≥ 2, is %v", tensor.ShapeString(x.Shape))
		}
		k := int64(0)
		if len(inputs) > 1 && inputs[1] != nil {
			kv, err := moveInts(inputs[1])
			if err != nil || len(kv) != 1 {
				return nil, fmt.Errorf("input 1 (k) must be an int64 scalar")
			}
			k = kv[0]
		}
		rows, cols := x.Shape[len(x.Shape)-2], x.Shape[len(x.Shape)-1]
		k = min(max(k, -int64(rows)-1), int64(cols)+1)
		m, err := moverFor(x.DType)
		if err != nil {
			return nil, err
		}
		out := ctx.Alloc(x.DType, x.Shape)
		if out.Len() == 0 {
			return ctx.Result(out), nil
		}
		// out starts as zeros; copy the kept part of each row. Row r keeps columns c with
		// c−r ≥ k (upper) or c−r ≤ k (lower).
		for b := 0; b < x.Len(); b += rows * cols {
			for r := range rows {
				lo, hi := 0, cols
				if upper {
					lo = min(max(r+int(k), 0), cols)
				} else {
					hi = min(max(r+int(k)+1, 0), cols)
				}
				if hi > lo {
					m.copyRange(out.Data, b+r*cols+lo, x.Data, b+r*cols+lo, hi-lo)
				}
			}
		}
		return ctx.Result(out), nil
	}), nil
}
