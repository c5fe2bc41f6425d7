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
			whereRow(out[o:o+inner], c[in[0]:], x[in[1]:], y[in[2]:], sc, sx, sy)
		})
	})
}

// whereRow is one row of Where: dst[j] = x[j·sx] where c[j·sc], else y[j·sy], each stride 0 (a
// value repeated along the row) or 1. Each combination has its own loop over resliced inputs,
// without bounds checks or stride multiplies: a causal attention mask (a [T,T] condition, a
// scalar −∞, the scores) took 5 ns a value through the general loop (12% of a GPT-2-style
// model's run).
func whereRow[T any](dst []T, c []bool, x, y []T, sc, sx, sy int) {
	n := len(dst)
	if sc == 0 {
		src, step := y, sy // the condition holds or fails for the whole row
		if c[0] {
			src, step = x, sx
		}
		if step == 1 {
			copy(dst, src[:n])
			return
		}
		v := src[0]
		for j := range dst {
			dst[j] = v
		}
		return
	}
	c = c[:n]
	switch {
	case sx == 0 && sy == 1:
		xv, y := x[0], y[:n]
		for j, keep := range c {
			v := y[j]
			if keep {
				v = xv
			}
			dst[j] = v
		}
	case sx == 1 && sy == 0:
		x, yv := x[:n], y[0]
		for j, keep := range c {
			v := yv
			if keep {
				v = x[j]
			}
			dst[j] = v
		}
	case sx == 1 && sy == 1:
		x, y := x[:n], y[:n]
		for j, keep := range c {
			v := y[j]
			if keep {
				v = x[j]
			}
			dst[j] = v
		}
	default: // both repeated
		xv, yv := x[0], y[0]
		for j, keep := range c {
			v := yv
			if keep {
				v = xv
			}
			dst[j] = v
		}
	}
}
