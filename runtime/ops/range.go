package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// Range, ConstantOfShape, EyeLike and OneHot create tensors from a few numbers.

func init() {
	Register(DefaultDomain, "Range", 11, newRange)
	Register(DefaultDomain, "ConstantOfShape", 9, newConstantOfShape)
	Register(DefaultDomain, "EyeLike", 9, newEyeLike)
	Register(DefaultDomain, "OneHot", 9, newOneHot)
}

func newRange(n *Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		var args [3]*tensor.Tensor
		for i, what := range []string{"start", "limit", "delta"} {
			t, err := moveNeed(inputs, i, what)
			if err != nil {
				return nil, err
			}
			if t.Len() != 1 || t.DType != inputs[0].DType {
				return nil, fmt.Errorf("input %d (%s) is %v, want a scalar %v", i, what, t, inputs[0].DType)
			}
			args[i] = t
		}
		var out *tensor.Tensor
		var err error
		switch d := args[0].Data.(type) {
		case []float32:
			out, err = rangeFill(ctx, d[0], args[1].F32()[0], args[2].F32()[0])
		case []float64:
			out, err = rangeFill(ctx, d[0], args[1].Data.([]float64)[0], args[2].Data.([]float64)[0])
		case []int16:
			out, err = rangeFill(ctx, d[0], args[1].Data.([]int16)[0], args[2].Data.([]int16)[0])
		case []int32:
			out, err = rangeFill(ctx, d[0], args[1].Data.([]int32)[0], args[2].Data.([]int32)[0])
		case []int64:
			out, err = rangeFill(ctx, d[0], args[1].I64()[0], args[2].I64()[0])
		case []tensor.Float16Bits:
			out, err = rangeHalf(ctx, args, tensor.Float16Bits.Float32, tensor.Float16FromFloat32)
		case []tensor.BFloat16Bits:
			out, err = rangeHalf(ctx, args, tensor.BFloat16Bits.Float32, tensor.BFloat16FromFloat32)
		default:
			return nil, fmt.Errorf("unsupported type %v", args[0].DType)
		}
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

func rangeFill[T float32 | float64 | int16 | int32 | int64](ctx *Context, start, limit, delta T) (*tensor.Tensor, error) {
	if delta == 0 {
		return nil, fmt.Errorf("delta is 0")
	}
	count := math.Ceil((float64(limit) - float64(start)) / float64(delta))
	if math.IsNaN(count) || count > math.MaxInt32 {
		return nil, fmt.Errorf("range(%v, %v, %v) is too long", start, limit, delta)
	}
	out := ctx.Alloc(tensor.DTypeOf[T](), []int{max(int(count), 0)})
	d := tensor.Data[T](out)
	for i := range d {
		d[i] = start + T(i)*delta
	}
	return out, nil
}

// rangeHalf computes a 16-bit float range in float32 and rounds each element.
func rangeHalf[H tensor.Float16Bits | tensor.BFloat16Bits](ctx *Context, args [3]*tensor.Tensor, widen func(H) float32, narrow func(float32) H) (*tensor.Tensor, error) {
	wide, err := rangeFill(ctx, widen(tensor.Data[H](args[0])[0]), widen(tensor.Data[H](args[1])[0]), widen(tensor.Data[H](args[2])[0]))
	if err != nil {
		return nil, err
	}
	out := ctx.Alloc(args[0].DType, wide.Shape)
	d := tensor.Data[H](out)
	for i, v := range wide.F32() {
		d[i] = narrow(v)
	}
	return out, nil
}

func newConstantOfShape(n *Node) (Kernel, error) {
	value, err := n.AttrTensor("value")
	if err != nil {
		return nil, err
	}
	if value == nil {
		value = tensor.New([]int{1}, []float32{0})
	}
	if value.Len() != 1 {
		return nil, fmt.Errorf("value must hold one element, has %d", value.Len())
	}
	m, err := moverFor(value.DType)
	if err != nil {
		return nil, err
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		spec, err := moveInput(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		shape := make([]int, len(spec))
		for i, d := range spec {
			if d < 0 {
				return nil, fmt.Errorf("shape %v has a negative dimension", spec)
			}
			shape[i] = int(d)
		}
		if err := moveSized(shape); err != nil {
			return nil, err
		}
		out := ctx.Alloc(value.DType, shape)
		m.fill(out.Data, 0, out.Len(), value.Data)
		return ctx.Result(out), nil
	}), nil
}

func newEyeLike(n *Node) (Kernel, error) {
	dtype := tensor.DType(n.AttrInt("dtype", 0))
	k := int(n.AttrInt("k", 0))
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		if len(x.Shape) != 2 {
			return nil, fmt.Errorf("input must be 2-D, is %v", tensor.ShapeString(x.Shape))
		}
		dt := dtype
		if dt == tensor.Undefined {
			dt = x.DType
		}
		one := tensor.Zeros(dt, []int{1})
		if err := padSetValue(one, 1); err != nil {
			return nil, err
		}
		m, err := moverFor(dt)
		if err != nil {
			return nil, err
		}
		out := ctx.Alloc(dt, x.Shape)
		rows, cols := x.Shape[0], x.Shape[1]
		for r := range rows {
			if c := r + k; c >= 0 && c < cols {
				m.fill(out.Data, r*cols+c, 1, one.Data)
			}
		}
		return ctx.Result(out), nil
	}), nil
}

func newOneHot(n *Node) (Kernel, error) {
	axis := n.AttrInt("axis", -1)
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		ind, err := moveNeed(inputs, 0, "indices")
		if err != nil {
			return nil, err
		}
		depthT, err := moveNeed(inputs, 1, "depth")
		if err != nil {
			return nil, err
		}
		values, err := moveNeed(inputs, 2, "values")
		if err != nil {
			return nil, err
		}
		if values.Len() != 2 {
			return nil, fmt.Errorf("values must hold [off, on], has %d elements", values.Len())
		}
		depthF := onehotFloat64s(depthT)
		idxF := onehotFloat64s(ind)
		if depthF == nil || idxF == nil || len(depthF) != 1 {
			return nil, fmt.Errorf("indices and depth must be numeric, depth a single value")
		}
		depth := int(depthF[0])
		if depth < 1 {
			return nil, fmt.Errorf("depth %v must be positive", depthF[0])
		}
		rank := len(ind.Shape) + 1
		a, err := moveAxis(axis, rank)
		if err != nil {
			return nil, err
		}
		shape := make([]int, 0, rank)
		shape = append(append(append(shape, ind.Shape[:a]...), depth), ind.Shape[a:]...)
		m, err := moverFor(values.DType)
		if err != nil {
			return nil, err
		}
		if depthF[0] > moveMaxElements {
			return nil, fmt.Errorf("depth %v too large", depthF[0])
		}
		if err := moveSized(shape); err != nil {
			return nil, err
		}
		out := ctx.Alloc(values.DType, shape)
		m.fill(out.Data, 0, out.Len(), values.Data)
		on := onehotSecond(values)
		inner := tensor.NumElements(ind.Shape[a:])
		for p, v := range idxF {
			i := int(v)
			if i < 0 {
				i += depth
			}
			if i < 0 || i >= depth {
				continue
			}
			o, r := p/inner, p%inner
			m.fill(out.Data, (o*depth+i)*inner+r, 1, on)
		}
		return ctx.Result(out), nil
	}), nil
}

// onehotSecond returns values[1:] as a slice of the same element type.
func onehotSecond(values *tensor.Tensor) any {
	m, _ := moverFor(values.DType)
	one := tensor.Zeros(values.DType, []int{1})
	m.copyRange(one.Data, 0, values.Data, 1, 1)
	return one.Data
}

// onehotFloat64s reads a numeric tensor as float64s (nil for bool and string). Index-like inputs of
// any numeric type (OneHot's indices and depth) go through it.
func onehotFloat64s(t *tensor.Tensor) []float64 {
	switch d := t.Data.(type) {
	case []float32:
		return onehotWiden(d)
	case []float64:
		return d
	case []int8:
		return onehotWiden(d)
	case []int16:
		return onehotWiden(d)
	case []int32:
		return onehotWiden(d)
	case []int64:
		return onehotWiden(d)
	case []uint8:
		return onehotWiden(d)
	case []uint16:
		return onehotWiden(d)
	case []uint32:
		return onehotWiden(d)
	case []uint64:
		return onehotWiden(d)
	case []tensor.Float16Bits:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
		return out
	case []tensor.BFloat16Bits:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
		return out
	}
	return nil
}

func onehotWiden[T float32 | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](s []T) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}
