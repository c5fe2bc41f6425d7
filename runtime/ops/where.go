package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// Where selects X where the condition holds and Y elsewhere, broadcasting all three inputs.

func init() {
	Register(DefaultDomain, "Where", 9, func(n *Node) (Kernel, error) {
		return KernelFunc(runWhere), nil
	})
}

func runWhere(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needInputs(in, 3); err != nil {
		return nil, err
	}
	cond, x, y := in[0], in[1], in[2]
	c, ok := cond.Data.([]bool)
	if !ok {
		return nil, fmt.Errorf("condition must be bool, got %v", cond.DType)
	}
	if x.DType != y.DType {
		return nil, fmt.Errorf("X and Y types differ: %v and %v", x.DType, y.DType)
	}
	p, err := broadcastPlanOf3(cond.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, err
	}
	out := ctx.Alloc(x.DType, p.Out)
	switch xs := x.Data.(type) {
	case []float32:
		whereSlices(ctx, p, c, xs, y.Data.([]float32), out.Data.([]float32))
	case []float64:
		whereSlices(ctx, p, c, xs, y.Data.([]float64), out.Data.([]float64))
	case []tensor.Float16Bits:
		whereSlices(ctx, p, c, xs, y.Data.([]tensor.Float16Bits), out.Data.([]tensor.Float16Bits))
	case []tensor.BFloat16Bits:
		whereSlices(ctx, p, c, xs, y.Data.([]tensor.BFloat16Bits), out.Data.([]tensor.BFloat16Bits))
	case []int8:
		whereSlices(ctx, p, c, xs, y.Data.([]int8), out.Data.([]int8))
	case []int16:
		whereSlices(ctx, p, c, xs, y.Data.([]int16), out.Data.([]int16))
	case []int32:
		whereSlices(ctx, p, c, xs, y.Data.([]int32), out.Data.([]int32))
	case []int64:
		whereSlices(ctx, p, c, xs, y.Data.([]int64), out.Data.([]int64))
	case []uint8:
		whereSlices(ctx, p, c, xs, y.Data.([]uint8), out.Data.([]uint8))
	case []uint16:
		whereSlices(ctx, p, c, xs, y.Data.([]uint16), out.Data.([]uint16))
	case []uint32:
		whereSlices(ctx, p, c, xs, y.Data.([]uint32), out.Data.([]uint32))
	case []uint64:
		whereSlices(ctx, p, c, xs, y.Data.([]uint64), out.Data.([]uint64))
	case []bool:
		whereSlices(ctx, p, c, xs, y.Data.([]bool), out.Data.([]bool))
	case []string:
		whereSlices(ctx, p, c, xs, y.Data.([]string), out.Data.([]string))
	default:
		return nil, fmt.Errorf("unsupported input type %v", x.DType)
	}
	return ctx.Result(out), nil
}

func whereSlices[T any](ctx *Context, p *broadcastPlan, c []bool, x, y, out []T) {
	sc, sx, sy, inner := p.InnerStride[0], p.InnerStride[1], p.InnerStride[2], p.Inner
	parallelRows(ctx, p, func(lo, hi int) {
		p.ForRows(lo, hi, func(o int, in []int) {
			dst := out[o : o+inner]
			ic, ix, iy := in[0], in[1], in[2]
			for j := range dst {
				if c[ic+j*sc] {
					dst[j] = x[ix+j*sx]
				} else {
					dst[j] = y[iy+j*sy]
				}
			}
		})
	})
}
