package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Slice", 1, newSlice)
	Register(DefaultDomain, "Slice", 10, newSlice)
}

func newSlice(n *Node) (Kernel, error) {
	fromAttrs := n.Version < 10
	var attrStarts, attrEnds, attrAxes []int64
	if fromAttrs {
		if !n.HasAttr("starts") || !n.HasAttr("ends") {
			return nil, fmt.Errorf("Slice-%d needs the starts and ends attributes", n.Version)
		}
		attrStarts, attrEnds, attrAxes = n.AttrInts("starts", nil), n.AttrInts("ends", nil), n.AttrInts("axes", nil)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		starts, ends, axes := attrStarts, attrEnds, attrAxes
		var steps []int64
		if !fromAttrs {
			if starts, err = moveInput(inputs, 1, "starts"); err != nil {
				return nil, err
			}
			if ends, err = moveInput(inputs, 2, "ends"); err != nil {
				return nil, err
			}
			if starts == nil || ends == nil {
				return nil, fmt.Errorf("starts and ends inputs are required")
			}
			if axes, err = moveInput(inputs, 3, "axes"); err != nil {
				return nil, err
			}
			if steps, err = moveInput(inputs, 4, "steps"); err != nil {
				return nil, err
			}
		}
		out, err := sliceRun(ctx, x, starts, ends, axes, steps)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

// sliceRun takes x[starts:ends:steps] along axes (all leading axes when axes is nil, step 1 when
// steps is nil), with ONNX's clamping of out-of-range starts and ends.
func sliceRun(ctx *Context, x *tensor.Tensor, starts, ends, axes, steps []int64) (*tensor.Tensor, error) {
	rank := len(x.Shape)
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("starts %v and ends %v differ in length", starts, ends)
	}
	if axes != nil && len(axes) != len(starts) {
		return nil, fmt.Errorf("axes %v and starts %v differ in length", axes, starts)
	}
	if steps != nil && len(steps) != len(starts) {
		return nil, fmt.Errorf("steps %v and starts %v differ in length", steps, starts)
	}
	var ax []int
	if axes != nil {
		var err error
		if ax, err = moveAxes(axes, rank); err != nil {
			return nil, err
		}
	} else {
		if len(starts) > rank {
			return nil, fmt.Errorf("%d starts for rank %d", len(starts), rank)
		}
		ax = make([]int, len(starts))
		for i := range ax {
			ax[i] = i
		}
	}
	shape := append([]int(nil), x.Shape...)
	inStrides := tensor.Strides(x.Shape)
	srcStrides := append([]int(nil), inStrides...)
	srcOff := 0
	for i, a := range ax {
		step := int64(1)
		if steps != nil {
			step = steps[i]
		}
		if step == 0 {
			return nil, fmt.Errorf("step 0 on axis %d", a)
		}
		// A step longer than the axis takes at most one element; clamping keeps the arithmetic in range.
		dim := int64(x.Shape[a])
		step = min(max(step, -dim-1), dim+1)
		start, count := sliceRange(starts[i], ends[i], step, dim)
		shape[a] = int(count)
		srcOff += int(start) * inStrides[a]
		srcStrides[a] = inStrides[a] * int(step)
	}
	out := ctx.Alloc(x.DType, shape)
	if out.Len() == 0 {
		return out, nil
	}
	m, err := moverFor(x.DType)
	if err != nil {
		return nil, err
	}
	m.strided(out.Data, 0, tensor.Strides(shape), x.Data, srcOff, srcStrides, shape)
	return out, nil
}

// sliceRange clamps start and end for a dimension of size dim and returns the first index taken
// and how many elements the slice has.
func sliceRange(start, end, step, dim int64) (first, count int64) {
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start = min(max(start, 0), dim)
		end = min(max(end, 0), dim)
		if end <= start {
			return start, 0
		}
		return start, (end - start + step - 1) / step
	}
	start = min(max(start, -1), dim-1)
	end = min(max(end, -1), dim-1)
	if start <= end {
		return 0, 0
	}
	return start, (start - end + (-step) - 1) / (-step)
}
