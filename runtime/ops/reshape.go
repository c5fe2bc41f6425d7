package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// Reshape, Flatten, Squeeze and Unsqueeze change only the shape; the elements are copied as they are.

func init() {
	Register(DefaultDomain, "Reshape", 1, newReshape)
	Register(DefaultDomain, "Reshape", 5, newReshape)
	Register(DefaultDomain, "Flatten", 1, newFlatten)
	Register(DefaultDomain, "Squeeze", 1, newSqueeze)
	Register(DefaultDomain, "Squeeze", 13, newSqueeze)
	Register(DefaultDomain, "Unsqueeze", 1, newUnsqueeze)
	Register(DefaultDomain, "Unsqueeze", 13, newUnsqueeze)
}

func newReshape(n *Node) (Kernel, error) {
	allowZero := n.AttrInt("allowzero", 0) != 0
	var attrShape []int64
	if n.Version < 5 {
		if !n.HasAttr("shape") {
			return nil, fmt.Errorf("Reshape-%d needs the shape attribute", n.Version)
		}
		attrShape = n.AttrInts("shape", nil)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		spec := attrShape
		if spec == nil {
			if spec, err = moveInput(inputs, 1, "shape"); err != nil {
				return nil, err
			}
			if spec == nil {
				return nil, fmt.Errorf("input 1 (shape) is missing")
			}
		}
		var shapeBuf [8]int
		shape, err := reshapeResolve(shapeBuf[:0], x.Shape, spec, allowZero)
		if err != nil {
			return nil, err
		}
		out, err := moveView(ctx, x, shape)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

// reshapeResolve applies Reshape's rules: 0 copies the input dimension (unless allowzero), one -1
// is inferred from the element count. The shape is built in dst's array when it is long enough;
// errors format in with ShapeString so that in, often built on the caller's stack, does not escape.
func reshapeResolve(dst, in []int, spec []int64, allowZero bool) ([]int, error) {
	shape := dst[:0]
	if cap(shape) < len(spec) {
		shape = make([]int, len(spec))
	}
	shape = shape[:len(spec)]
	infer := -1
	known := 1
	for i, d := range spec {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", spec)
			}
			infer = i
			continue
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v: 0 at position %d beyond input rank %d", spec, i, len(in))
			}
			shape[i] = in[i]
		case d < 0:
			return nil, fmt.Errorf("shape %v has negative dimension %d", spec, d)
		case d > moveMaxElements:
			return nil, fmt.Errorf("shape %v has dimension %d beyond %d", spec, d, moveMaxElements)
		default:
			shape[i] = int(d)
		}
		known *= shape[i]
	}
	total := tensor.NumElements(in)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot infer -1 in %v for input %v", spec, tensor.ShapeString(in))
		}
		shape[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("cannot reshape %v to %v", tensor.ShapeString(in), spec)
	}
	return shape, nil
}

func newFlatten(n *Node) (Kernel, error) {
	axis := n.AttrInt("axis", 1)
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		a := axis
		if a < 0 {
			a += int64(len(x.Shape))
		}
		if a < 0 || a > int64(len(x.Shape)) {
			return nil, fmt.Errorf("axis %d out of range for rank %d", axis, len(x.Shape))
		}
		outer := tensor.NumElements(x.Shape[:a])
		out, err := moveView(ctx, x, []int{outer, tensor.NumElements(x.Shape[a:])})
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

func newSqueeze(n *Node) (Kernel, error) {
	attrAxes := n.AttrInts("axes", nil)
	fromInput := n.Version >= 13
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		axes := attrAxes
		if fromInput {
			if axes, err = moveInput(inputs, 1, "axes"); err != nil {
				return nil, err
			}
		}
		// Shapes, axes and flags on the stack for the usual ranks (moveView copies the shape): a
		// Squeeze per attention head is common.
		var shapeBuf, axesBuf [8]int
		var dropBuf [8]bool
		shape := shapeBuf[:0]
		if len(axes) == 0 {
			for _, d := range x.Shape {
				if d != 1 {
					shape = append(shape, d)
				}
			}
		} else {
			axBuf := axesBuf[:]
			if len(axes) > len(axBuf) {
				axBuf = make([]int, len(axes))
			}
			ax, err := moveAxesInto(axBuf, axes, len(x.Shape))
			if err != nil {
				return nil, err
			}
			drop := dropBuf[:]
			if len(x.Shape) > len(drop) {
				drop = make([]bool, len(x.Shape))
			}
			drop = drop[:len(x.Shape)]
			for _, a := range ax {
				if x.Shape[a] != 1 {
					return nil, fmt.Errorf("cannot squeeze axis %d of size %d", a, x.Shape[a])
				}
				drop[a] = true
			}
			for i, d := range x.Shape {
				if !drop[i] {
					shape = append(shape, d)
				}
			}
		}
		out, err := moveView(ctx, x, shape)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

func newUnsqueeze(n *Node) (Kernel, error) {
	attrAxes := n.AttrInts("axes", nil)
	fromInput := n.Version >= 13
	if !fromInput && len(attrAxes) == 0 {
		return nil, fmt.Errorf("Unsqueeze-%d needs the axes attribute", n.Version)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		axes := attrAxes
		if fromInput {
			if axes, err = moveInput(inputs, 1, "axes"); err != nil {
				return nil, err
			}
			if axes == nil {
				return nil, fmt.Errorf("input 1 (axes) is missing")
			}
		}
		rank := len(x.Shape) + len(axes)
		var axBuf, shapeBuf [8]int // on the stack for the usual ranks, as in Squeeze
		ax := axBuf[:]
		if len(axes) > len(ax) {
			ax = make([]int, len(axes))
		}
		ax, err = moveAxesInto(ax, axes, rank)
		if err != nil {
			return nil, err
		}
		shape := shapeBuf[:0]
		if rank > len(shapeBuf) {
			shape = make([]int, 0, rank)
		}
		shape = shape[:rank]
		clear(shape)
		for _, a := range ax {
			shape[a] = 1
		}
		next := 0
		for i := range shape {
			if shape[i] == 1 && unsqueezeHas(ax, i) {
				continue
			}
			shape[i] = x.Shape[next]
			next++
		}
		out, err := moveView(ctx, x, shape)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

func unsqueezeHas(axes []int, i int) bool {
	for _, a := range axes {
		if a == i {
			return true
		}
	}
	return false
}
