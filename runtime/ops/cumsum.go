package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// CumSum (opset 11) and CumProd (opset 26): running sum or product along the axis given by a
// scalar input, optionally exclusive (the element itself left out) and/or reversed.

func init() {
	Register(DefaultDomain, "CumSum", 11, cumFactory(false))
	Register(DefaultDomain, "CumProd", 26, cumFactory(true))
}

func cumFactory(product bool) Factory {
	return func(n *Node) (Kernel, error) {
		exclusive := n.AttrInt("exclusive", 0) != 0
		reverse := n.AttrInt("reverse", 0) != 0
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 2); err != nil {
				return nil, err
			}
			x := in[0]
			if in[1].Len() != 1 {
				return nil, fmt.Errorf("axis must be a scalar, got shape %v", in[1].Shape)
			}
			av, err := toInt64s(in[1])
			if err != nil {
				return nil, fmt.Errorf("axis: %w", err)
			}
			if x.Rank() == 0 {
				return nil, fmt.Errorf("input must have rank ≥ 1")
			}
			axis, err := normalizeAxis(av[0], x.Rank())
			if err != nil {
				return nil, err
			}
			outer, cnt, inner := axisSplit(x.Shape, axis)
			w := widenHalf(x)
			out := ctx.Alloc(w.DType, x.Shape)
			s := cumScan{outer, cnt, inner, exclusive, reverse, product}
			switch src := w.Data.(type) {
			case []float32:
				cumLanes(s, src, out.F32())
			case []float64:
				cumLanes(s, src, out.Data.([]float64))
			case []int32:
				cumLanes(s, src, out.Data.([]int32))
			case []int64:
				cumLanes(s, src, out.Data.([]int64))
			case []uint32:
				cumLanes(s, src, out.Data.([]uint32))
			case []uint64:
				cumLanes(s, src, out.Data.([]uint64))
			case []int8:
				cumLanes(s, src, out.Data.([]int8))
			case []int16:
				cumLanes(s, src, out.Data.([]int16))
			case []uint8:
				cumLanes(s, src, out.Data.([]uint8))
			case []uint16:
				cumLanes(s, src, out.Data.([]uint16))
			default:
				return nil, fmt.Errorf("unsupported input type %v", x.DType)
			}
			return []*tensor.Tensor{narrowTo(ctx, out, x.DType)}, nil
		}), nil
	}
}

type cumScan struct {
	outer, cnt, inner           int
	exclusive, reverse, product bool
}

func cumLanes[T realElem](s cumScan, src, dst []T) {
	for o := 0; o < s.outer; o++ {
		for i := 0; i < s.inner; i++ {
			base := o*s.cnt*s.inner + i
			var acc T
			if s.product {
				acc = 1
			}
			for step := 0; step < s.cnt; step++ {
				k := step
				if s.reverse {
					k = s.cnt - 1 - step
				}
				at := base + k*s.inner
				v := src[at]
				if s.exclusive {
					dst[at] = acc
				}
				if s.product {
					acc *= v
				} else {
					acc += v
				}
				if !s.exclusive {
					dst[at] = acc
				}
			}
		}
	}
}
