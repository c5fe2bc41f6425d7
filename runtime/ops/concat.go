package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Concat", 1, newConcat)
	Register(DefaultDomain, "Split", 1, newSplit)
	Register(DefaultDomain, "Split", 2, newSplit)
	Register(DefaultDomain, "Split", 13, newSplit)
	Register(DefaultDomain, "Split", 18, newSplit)
}

func newConcat(n *Node) (Kernel, error) {
	if n.Version >= 4 && !n.HasAttr("axis") {
		return nil, fmt.Errorf("Concat needs the axis attribute")
	}
	axis := n.AttrInt("axis", 1)
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		var first *tensor.Tensor
		for _, in := range inputs {
			if in != nil {
				first = in
				break
			}
		}
		if first == nil {
			return nil, fmt.Errorf("no inputs")
		}
		rank := len(first.Shape)
		a, err := moveAxis(axis, rank)
		if err != nil {
			return nil, err
		}
		var shapeBuf [8]int // the output's shape, copied by Alloc
		shape := append(shapeBuf[:0], first.Shape...)
		shape[a] = 0
		for i, in := range inputs {
			if in == nil {
				continue
			}
			if in.DType != first.DType || len(in.Shape) != rank {
				return nil, fmt.Errorf("input %d is %v, input 0 is %v", i, in, first)
			}
			for d := range rank {
				if d != a && in.Shape[d] != first.Shape[d] {
					return nil, fmt.Errorf("input %d shape %v does not match %v outside axis %d", i, tensor.ShapeString(in.Shape), tensor.ShapeString(first.Shape), a)
				}
			}
			shape[a] += in.Shape[a]
		}
		m, err := moverFor(first.DType)
		if err != nil {
			return nil, err
		}
		out := ctx.AllocOverwrite(first.DType, shape) // the inputs cover every element
		outer := tensor.NumElements(shape[:a])
		rowLen := tensor.NumElements(shape[a:])
		offset := 0
		for _, in := range inputs {
			if in == nil {
				continue
			}
			run := tensor.NumElements(in.Shape[a:])
			switch {
			case run == 0 || outer == 0:
			case outer == 1: // the common case for exporters' shape vectors
				m.copyRange(out.Data, offset, in.Data, 0, run)
			default: // a run per outer row (stride lists for the mover would escape to the heap)
				for o := range outer {
					m.copyRange(out.Data, offset+o*rowLen, in.Data, o*run, run)
				}
			}
			offset += run
		}
		return ctx.Result(out), nil
	}), nil
}

func newSplit(n *Node) (Kernel, error) {
	axis := n.AttrInt("axis", 0)
	attrSplit := n.AttrInts("split", nil)
	numOutputs := n.AttrInt("num_outputs", 0)
	splitFromInput := n.Version >= 13 || n.Version < 2
	if n.Version >= 18 && n.HasAttr("num_outputs") {
		if n.HasInput(1) {
			return nil, fmt.Errorf("Split has both the split input and num_outputs")
		}
		if numOutputs < 1 || int(numOutputs) != n.NumOutputs() {
			return nil, fmt.Errorf("num_outputs %d does not match the node's %d outputs", numOutputs, n.NumOutputs())
		}
	}
	outputs := n.NumOutputs()
	var views subViews
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		a, err := moveAxis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		dim := x.Shape[a]
		split := attrSplit
		if splitFromInput && len(inputs) > 1 && inputs[1] != nil {
			if split, err = moveInput(inputs, 1, "split"); err != nil {
				return nil, err
			}
		}
		var sizesBuf [8]int
		sizes := sizesBuf[:0]
		if outputs > len(sizesBuf) {
			sizes = make([]int, 0, outputs)
		}
		sizes = sizes[:outputs]
		switch {
		case split != nil:
			if len(split) != outputs {
				return nil, fmt.Errorf("split %v has %d entries for %d outputs", split, len(split), outputs)
			}
			total := 0
			for i, s := range split {
				if s < 0 {
					return nil, fmt.Errorf("split %v has a negative size", split)
				}
				sizes[i] = int(s)
				total += int(s)
			}
			if total != dim {
				return nil, fmt.Errorf("split %v sums to %d, axis %d has %d", split, total, a, dim)
			}
		case numOutputs > 0:
			// Opset 18: chunks of ceil(dim/n), the last one smaller.
			chunk := (dim + outputs - 1) / outputs
			rest := dim
			for i := range sizes {
				sizes[i] = min(chunk, rest)
				rest -= sizes[i]
			}
		default:
			if dim%outputs != 0 {
				return nil, fmt.Errorf("axis %d of size %d does not split evenly into %d outputs", a, dim, outputs)
			}
			for i := range sizes {
				sizes[i] = dim / outputs
			}
		}
		m, err := moverFor(x.DType)
		if err != nil {
			return nil, err
		}
		outer := tensor.NumElements(x.Shape[:a])
		inner := tensor.NumElements(x.Shape[a+1:])
		rowLen := dim * inner
		outs := ctx.Results(outputs)
		offset := 0
		var shapeBuf [8]int
		for i, size := range sizes {
			shape := append(shapeBuf[:0], x.Shape...) // Alloc copies the shape it is given
			shape[a] = size
			run := size * inner
			if outer == 1 {
				// Every output is one contiguous run of the input: a view (see moveView).
				if view, ok := views.of(x.Data, i, offset, offset+run); ok {
					outs[i] = ctx.View(x.DType, shape, view)
					offset += run
					continue
				}
			}
			out := ctx.AllocOverwrite(x.DType, shape) // written in full below
			if run > 0 && outer > 0 {
				m.strided(out.Data, 0, []int{run, 1}, x.Data, offset, []int{rowLen, 1}, []int{outer, run})
			}
			offset += run
			outs[i] = out
		}
		return outs, nil
	}), nil
}
