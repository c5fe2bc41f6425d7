package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// Sequences and optionals travel through the runtime as *tensor.Tensor values so that the kernel
// interface stays one type, and the tensor package stays free of ONNX's non-tensor types:
//
//   - a sequence is a Tensor with DType Undefined, Shape nil and Data of type []*tensor.Tensor
//     (its elements, in order; never nil);
//   - an optional that holds a value is that value itself (tensor or sequence);
//   - an empty optional is a Tensor with DType Undefined, Shape nil and Data nil.
//
// Ordinary kernels never see these unless a model feeds a sequence to a tensor op, which they reject
// through their dtype checks (Undefined is no element type).

// NewSequence wraps elements (not copied) as a sequence value.
func NewSequence(elems []*tensor.Tensor) *tensor.Tensor {
	if elems == nil {
		elems = []*tensor.Tensor{}
	}
	return &tensor.Tensor{DType: tensor.Undefined, Data: elems}
}

// AsSequence returns the elements of a sequence value and whether t is one.
func AsSequence(t *tensor.Tensor) ([]*tensor.Tensor, bool) {
	if t == nil || t.DType != tensor.Undefined {
		return nil, false
	}
	elems, ok := t.Data.([]*tensor.Tensor)
	return elems, ok
}

// IsSequence reports whether t is a sequence value.
func IsSequence(t *tensor.Tensor) bool { _, ok := AsSequence(t); return ok }

// EmptyOptional returns the value of an optional that holds nothing.
func EmptyOptional() *tensor.Tensor { return &tensor.Tensor{DType: tensor.Undefined} }

// IsEmptyOptional reports whether t is an optional that holds nothing (a missing value, nil,
// counts as empty too: an omitted optional input is how ONNX spells "no value").
func IsEmptyOptional(t *tensor.Tensor) bool {
	return t == nil || (t.DType == tensor.Undefined && t.Data == nil)
}

// sequenceInput returns input i as a sequence, or an error naming the input.
func sequenceInput(inputs []*tensor.Tensor, i int) ([]*tensor.Tensor, error) {
	if i >= len(inputs) || inputs[i] == nil {
		return nil, fmt.Errorf("input %d: missing sequence", i)
	}
	elems, ok := AsSequence(inputs[i])
	if !ok {
		return nil, fmt.Errorf("input %d: expected a sequence, got tensor %v", i, inputs[i])
	}
	return elems, nil
}

func init() {
	Register(DefaultDomain, "SequenceEmpty", 11, newSequenceEmpty)
	Register(DefaultDomain, "SequenceConstruct", 11, newSequenceConstruct)
	Register(DefaultDomain, "SequenceAt", 11, newSequenceAt)
	Register(DefaultDomain, "SequenceInsert", 11, newSequenceInsert)
	Register(DefaultDomain, "SequenceErase", 11, newSequenceErase)
	Register(DefaultDomain, "SequenceLength", 11, newSequenceLength)
	Register(DefaultDomain, "SplitToSequence", 11, newSplitToSequence)
	Register(DefaultDomain, "ConcatFromSequence", 11, newConcatFromSequence)
	Register(DefaultDomain, "SequenceMap", 17, newSequenceMap)
	Register(DefaultDomain, "Optional", 15, newOptional)
	Register(DefaultDomain, "OptionalHasElement", 15, newOptionalHasElement)
	Register(DefaultDomain, "OptionalGetElement", 15, newOptionalGetElement)
}

func newSequenceEmpty(n *Node) (Kernel, error) {
	return KernelFunc(func(*Context, []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return []*tensor.Tensor{NewSequence(nil)}, nil
	}), nil
}

func newSequenceConstruct(n *Node) (Kernel, error) {
	return KernelFunc(func(_ *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		elems := make([]*tensor.Tensor, len(inputs))
		for i, t := range inputs {
			if t == nil || t.DType == tensor.Undefined {
				return nil, fmt.Errorf("input %d: expected a tensor", i)
			}
			if t.DType != inputs[0].DType {
				return nil, fmt.Errorf("input %d is %v, input 0 is %v: a sequence holds one element type", i, t.DType, inputs[0].DType)
			}
			elems[i] = t
		}
		return []*tensor.Tensor{NewSequence(elems)}, nil
	}), nil
}

// seqPosition reads an optional position input (int32 or int64 scalar) and normalizes it for a
// sequence of length n; insert allows position n (append).
func seqPosition(t *tensor.Tensor, def, n int, insert bool) (int, error) {
	if t == nil {
		return def, nil
	}
	var p int64
	switch d := t.Data.(type) {
	case []int64:
		if len(d) != 1 {
			return 0, fmt.Errorf("position must be a scalar, got %v", t)
		}
		p = d[0]
	case []int32:
		if len(d) != 1 {
			return 0, fmt.Errorf("position must be a scalar, got %v", t)
		}
		p = int64(d[0])
	default:
		return 0, fmt.Errorf("position must be int32 or int64, got %v", t)
	}
	limit := int64(n)
	if insert {
		limit++
	}
	if p < -int64(n) || p >= limit {
		return 0, fmt.Errorf("position %d is out of range for a sequence of %d", p, n)
	}
	if p < 0 {
		p += int64(n)
	}
	return int(p), nil
}

func newSequenceAt(n *Node) (Kernel, error) {
	return KernelFunc(func(_ *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		elems, err := sequenceInput(inputs, 0)
		if err != nil {
			return nil, err
		}
		if len(inputs) < 2 || inputs[1] == nil {
			return nil, fmt.Errorf("missing position")
		}
		p, err := seqPosition(inputs[1], 0, len(elems), false)
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{elems[p]}, nil
	}), nil
}

func newSequenceInsert(n *Node) (Kernel, error) {
	return KernelFunc(func(_ *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		elems, err := sequenceInput(inputs, 0)
		if err != nil {
			return nil, err
		}
		if len(inputs) < 2 || inputs[1] == nil || inputs[1].DType == tensor.Undefined {
			return nil, fmt.Errorf("input 1: expected the tensor to insert")
		}
		t := inputs[1]
		if len(elems) > 0 && elems[0].DType != t.DType {
			return nil, fmt.Errorf("cannot insert %v into a sequence of %v", t.DType, elems[0].DType)
		}
		var pos *tensor.Tensor
		if len(inputs) > 2 {
			pos = inputs[2]
		}
		p, err := seqPosition(pos, len(elems), len(elems), true)
		if err != nil {
			return nil, err
		}
		out := make([]*tensor.Tensor, 0, len(elems)+1)
		out = append(append(append(out, elems[:p]...), t), elems[p:]...)
		return []*tensor.Tensor{NewSequence(out)}, nil
	}), nil
}

func newSequenceErase(n *Node) (Kernel, error) {
	return KernelFunc(func(_ *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		elems, err := sequenceInput(inputs, 0)
		if err != nil {
			return nil, err
		}
		var pos *tensor.Tensor
		if len(inputs) > 1 {
			pos = inputs[1]
		}
		if len(elems) == 0 {
			return nil, fmt.Errorf("cannot erase from an empty sequence")
		}
		p, err := seqPosition(pos, len(elems)-1, len(elems), false)
		if err != nil {
			return nil, err
		}
		out := append(append([]*tensor.Tensor{}, elems[:p]...), elems[p+1:]...)
		return []*tensor.Tensor{NewSequence(out)}, nil
	}), nil
}

func newSequenceLength(n *Node) (Kernel, error) {
	return KernelFunc(func(_ *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		elems, err := sequenceInput(inputs, 0)
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{tensor.Scalar(int64(len(elems)))}, nil
	}), nil
}

// newSplitToSequence splits along axis into pieces of the sizes in split (a scalar: equal pieces,
// the last one shorter; a list: those lengths) or, without split, into single slices whose axis is
// dropped unless keepdims is 1.
func newSplitToSequence(n *Node) (Kernel, error) {
	axisAttr := n.AttrInt("axis", 0)
	keepdims := n.AttrInt("keepdims", 1) != 0
	return KernelFunc(func(_ *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := inputs[0]
		if x == nil || x.DType == tensor.Undefined {
			return nil, fmt.Errorf("input 0: expected a tensor")
		}
		axis, err := flowAxis(axisAttr, x.Rank())
		if err != nil {
			return nil, err
		}
		dim := x.Shape[axis]
		var elems []*tensor.Tensor
		if len(inputs) < 2 || inputs[1] == nil {
			for i := 0; i < dim; i++ {
				if keepdims {
					elems = append(elems, flowSlice(x, axis, i, 1))
				} else {
					elems = append(elems, flowTake(x, axis, i))
				}
			}
			return []*tensor.Tensor{NewSequence(elems)}, nil
		}
		var sizes []int64
		switch d := inputs[1].Data.(type) {
		case []int64:
			sizes = d
		case []int32:
			for _, v := range d {
				sizes = append(sizes, int64(v))
			}
		default:
			return nil, fmt.Errorf("split must be int32 or int64, got %v", inputs[1])
		}
		var lengths []int
		if inputs[1].Rank() == 0 {
			if sizes[0] <= 0 {
				return nil, fmt.Errorf("split size %d must be positive", sizes[0])
			}
			for left := dim; left > 0; left -= int(sizes[0]) {
				lengths = append(lengths, min(left, int(sizes[0])))
			}
		} else {
			total := 0
			for _, s := range sizes {
				if s < 0 {
					return nil, fmt.Errorf("split lengths %v must not be negative", sizes)
				}
				lengths = append(lengths, int(s))
				total += int(s)
			}
			if total != dim {
				return nil, fmt.Errorf("split lengths %v sum to %d, axis %d has %d", sizes, total, axis, dim)
			}
		}
		start := 0
		for _, l := range lengths {
			elems = append(elems, flowSlice(x, axis, start, l))
			start += l
		}
		return []*tensor.Tensor{NewSequence(elems)}, nil
	}), nil
}

func newConcatFromSequence(n *Node) (Kernel, error) {
	if !n.HasAttr("axis") {
		return nil, fmt.Errorf("missing attribute axis")
	}
	axisAttr := n.AttrInt("axis", 0)
	newAxis := n.AttrInt("new_axis", 0) == 1
	return KernelFunc(func(_ *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		elems, err := sequenceInput(inputs, 0)
		if err != nil {
			return nil, err
		}
		if len(elems) == 0 {
			return nil, fmt.Errorf("cannot concatenate an empty sequence")
		}
		rank := elems[0].Rank()
		if newAxis {
			axis, err := flowAxis(axisAttr, rank+1)
			if err != nil {
				return nil, err
			}
			out, err := flowStack(elems, axis)
			return []*tensor.Tensor{out}, err
		}
		axis, err := flowAxis(axisAttr, rank)
		if err != nil {
			return nil, err
		}
		out, err := flowConcat(elems, axis)
		return []*tensor.Tensor{out}, err
	}), nil
}

// newSequenceMap runs the body once per sequence position: sequence inputs give their element at
// that position, tensor inputs are passed whole; each body output becomes a sequence.
func newSequenceMap(n *Node) (Kernel, error) {
	body, err := compileBody(n, "body")
	if err != nil {
		return nil, err
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		elems, err := sequenceInput(inputs, 0)
		if err != nil {
			return nil, err
		}
		outs := make([][]*tensor.Tensor, body.NumOutputs())
		for i := range elems {
			args := make([]*tensor.Tensor, len(inputs))
			for j, in := range inputs {
				if seq, ok := AsSequence(in); ok {
					if len(seq) != len(elems) {
						return nil, fmt.Errorf("input %d has %d elements, input 0 has %d", j, len(seq), len(elems))
					}
					args[j] = seq[i]
				} else {
					args[j] = in
				}
			}
			res, err := body.Run(ctx, args)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			for k, r := range res {
				outs[k] = append(outs[k], r)
			}
		}
		results := make([]*tensor.Tensor, len(outs))
		for k, o := range outs {
			results[k] = NewSequence(o)
		}
		return results, nil
	}), nil
}

func newOptional(n *Node) (Kernel, error) {
	return KernelFunc(func(_ *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(inputs) == 0 || inputs[0] == nil {
			return []*tensor.Tensor{EmptyOptional()}, nil
		}
		return []*tensor.Tensor{inputs[0]}, nil
	}), nil
}

func newOptionalHasElement(n *Node) (Kernel, error) {
	return KernelFunc(func(_ *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		has := len(inputs) > 0 && !IsEmptyOptional(inputs[0])
		return []*tensor.Tensor{tensor.Scalar(has)}, nil
	}), nil
}

func newOptionalGetElement(n *Node) (Kernel, error) {
	return KernelFunc(func(_ *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(inputs) == 0 || IsEmptyOptional(inputs[0]) {
			return nil, fmt.Errorf("the optional holds no value")
		}
		return []*tensor.Tensor{inputs[0]}, nil
	}), nil
}
