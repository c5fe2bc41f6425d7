package ops

import (
	"cmp"
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// Comparisons (bool results), logical ops on bool tensors, and bitwise ops on integers, all with
// multidirectional broadcasting.

type compareOp int

const (
	cmpEq compareOp = iota
	cmpGt
	cmpGe
	cmpLt
	cmpLe
)

func init() {
	for op, c := range map[string]compareOp{"Equal": cmpEq, "Greater": cmpGt, "Less": cmpLt} {
		Register(DefaultDomain, op, 1, compareFactory(c))
	}
	Register(DefaultDomain, "GreaterOrEqual", 12, compareFactory(cmpGe))
	Register(DefaultDomain, "LessOrEqual", 12, compareFactory(cmpLe))

	logical := map[string]func(x, y bool) bool{
		"And": func(x, y bool) bool { return x && y },
		"Or":  func(x, y bool) bool { return x || y },
		"Xor": func(x, y bool) bool { return x != y },
	}
	for op, f := range logical {
		Register(DefaultDomain, op, 1, logicalFactory(f))
	}
	Register(DefaultDomain, "Not", 1, func(n *Node) (Kernel, error) {
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 1); err != nil {
				return nil, err
			}
			src, ok := in[0].Data.([]bool)
			if !ok {
				return nil, fmt.Errorf("Not: input must be bool, got %v", in[0].DType)
			}
			out := ctx.Alloc(tensor.Bool, in[0].Shape)
			dst := out.Data.([]bool)
			for i, v := range src {
				dst[i] = !v
			}
			return ctx.Result(out), nil
		}), nil
	})

	for op, b := range map[string]bitOp{"BitwiseAnd": bitAnd, "BitwiseOr": bitOr, "BitwiseXor": bitXor} {
		Register(DefaultDomain, op, 18, bitwiseFactory(b))
	}
	Register(DefaultDomain, "BitwiseNot", 18, func(n *Node) (Kernel, error) {
		return unaryKernel(floatUnary{}, bitwiseNot), nil
	})
	Register(DefaultDomain, "BitShift", 11, newBitShift)
}

func compareFactory(op compareOp) Factory {
	return func(n *Node) (Kernel, error) {
		legacy, axis := legacyBroadcast(n)
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 2); err != nil {
				return nil, err
			}
			a, b := in[0], in[1]
			if legacy {
				var err error
				if b, err = alignLegacy(a, b, axis); err != nil {
					return nil, err
				}
			}
			if a.DType != b.DType {
				return nil, fmt.Errorf("input types differ: %v and %v", a.DType, b.DType)
			}
			a, b = widenHalf(a), widenHalf(b)
			p, err := broadcastPlanOf(a.Shape, b.Shape)
			if err != nil {
				return nil, err
			}
			out := ctx.Alloc(tensor.Bool, p.Out)
			dst := out.Data.([]bool)
			switch x := a.Data.(type) {
			case []float32:
				compareSlices(ctx, p, op, x, b.Data.([]float32), dst)
			case []float64:
				compareSlices(ctx, p, op, x, b.Data.([]float64), dst)
			case []int8:
				compareSlices(ctx, p, op, x, b.Data.([]int8), dst)
			case []int16:
				compareSlices(ctx, p, op, x, b.Data.([]int16), dst)
			case []int32:
				compareSlices(ctx, p, op, x, b.Data.([]int32), dst)
			case []int64:
				compareSlices(ctx, p, op, x, b.Data.([]int64), dst)
			case []uint8:
				compareSlices(ctx, p, op, x, b.Data.([]uint8), dst)
			case []uint16:
				compareSlices(ctx, p, op, x, b.Data.([]uint16), dst)
			case []uint32:
				compareSlices(ctx, p, op, x, b.Data.([]uint32), dst)
			case []uint64:
				compareSlices(ctx, p, op, x, b.Data.([]uint64), dst)
			case []string:
				compareSlices(ctx, p, op, x, b.Data.([]string), dst)
			case []bool:
				if op != cmpEq {
					return nil, fmt.Errorf("ordering comparison of bool tensors is not defined")
				}
				broadcastMap2(ctx, p, x, b.Data.([]bool), dst, func(x, y bool) bool { return x == y })
			default:
				return nil, fmt.Errorf("unsupported input type %v", a.DType)
			}
			return ctx.Result(out), nil
		}), nil
	}
}

// compareSlices evaluates op with IEEE semantics (every comparison with NaN is false).
func compareSlices[T cmp.Ordered](ctx *Context, p *broadcastPlan, op compareOp, a, b []T, dst []bool) {
	var f func(x, y T) bool
	switch op {
	case cmpEq:
		f = func(x, y T) bool { return x == y }
	case cmpGt:
		f = func(x, y T) bool { return x > y }
	case cmpGe:
		f = func(x, y T) bool { return x >= y }
	case cmpLt:
		f = func(x, y T) bool { return x < y }
	default:
		f = func(x, y T) bool { return x <= y }
	}
	broadcastMap2(ctx, p, a, b, dst, f)
}

func logicalFactory(f func(x, y bool) bool) Factory {
	return func(n *Node) (Kernel, error) {
		legacy, axis := legacyBroadcast(n)
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 2); err != nil {
				return nil, err
			}
			a, b := in[0], in[1]
			if legacy {
				var err error
				if b, err = alignLegacy(a, b, axis); err != nil {
					return nil, err
				}
			}
			x, ok1 := a.Data.([]bool)
			y, ok2 := b.Data.([]bool)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("inputs must be bool, got %v and %v", a.DType, b.DType)
			}
			p, err := broadcastPlanOf(a.Shape, b.Shape)
			if err != nil {
				return nil, err
			}
			out := ctx.Alloc(tensor.Bool, p.Out)
			broadcastMap2(ctx, p, x, y, out.Data.([]bool), f)
			return ctx.Result(out), nil
		}), nil
	}
}

type bitOp int

const (
	bitAnd bitOp = iota
	bitOr
	bitXor
	bitShl
	bitShr
)

func bitwiseFactory(op bitOp) Factory {
	return func(n *Node) (Kernel, error) {
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 2); err != nil {
				return nil, err
			}
			out, err := bitwise(ctx, op, in[0], in[1])
			if err != nil {
				return nil, err
			}
			return ctx.Result(out), nil
		}), nil
	}
}

func newBitShift(n *Node) (Kernel, error) {
	var op bitOp
	switch d := n.AttrString("direction", ""); d {
	case "LEFT":
		op = bitShl
	case "RIGHT":
		op = bitShr
	default:
		return nil, fmt.Errorf("BitShift: direction must be LEFT or RIGHT, got %q", d)
	}
	return bitwiseFactory(op)(n)
}

func bitwise(ctx *Context, op bitOp, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if a.DType != b.DType {
		return nil, fmt.Errorf("input types differ: %v and %v", a.DType, b.DType)
	}
	p, err := broadcastPlanOf(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	out := ctx.Alloc(a.DType, p.Out)
	switch x := a.Data.(type) {
	case []int8:
		bitwiseSlices(ctx, p, op, x, b.Data.([]int8), out.Data.([]int8))
	case []int16:
		bitwiseSlices(ctx, p, op, x, b.Data.([]int16), out.Data.([]int16))
	case []int32:
		bitwiseSlices(ctx, p, op, x, b.Data.([]int32), out.Data.([]int32))
	case []int64:
		bitwiseSlices(ctx, p, op, x, b.Data.([]int64), out.Data.([]int64))
	case []uint8:
		bitwiseSlices(ctx, p, op, x, b.Data.([]uint8), out.Data.([]uint8))
	case []uint16:
		bitwiseSlices(ctx, p, op, x, b.Data.([]uint16), out.Data.([]uint16))
	case []uint32:
		bitwiseSlices(ctx, p, op, x, b.Data.([]uint32), out.Data.([]uint32))
	case []uint64:
		bitwiseSlices(ctx, p, op, x, b.Data.([]uint64), out.Data.([]uint64))
	default:
		return nil, fmt.Errorf("unsupported input type %v (want an integer type)", a.DType)
	}
	return out, nil
}

func bitwiseSlices[T integerElem](ctx *Context, p *broadcastPlan, op bitOp, a, b, out []T) {
	var f func(x, y T) T
	switch op {
	case bitAnd:
		f = func(x, y T) T { return x & y }
	case bitOr:
		f = func(x, y T) T { return x | y }
	case bitXor:
		f = func(x, y T) T { return x ^ y }
	case bitShl:
		f = func(x, y T) T {
			if y < 0 {
				return 0
			}
			return x << uint64(y)
		}
	default:
		f = func(x, y T) T {
			if y < 0 {
				return 0
			}
			return x >> uint64(y)
		}
	}
	broadcastMap2(ctx, p, a, b, out, f)
}

func bitwiseNot(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, bool) {
	out := ctx.Alloc(x.DType, x.Shape)
	switch src := x.Data.(type) {
	case []int8:
		notSlice(src, out.Data.([]int8))
	case []int16:
		notSlice(src, out.Data.([]int16))
	case []int32:
		notSlice(src, out.Data.([]int32))
	case []int64:
		notSlice(src, out.Data.([]int64))
	case []uint8:
		notSlice(src, out.Data.([]uint8))
	case []uint16:
		notSlice(src, out.Data.([]uint16))
	case []uint32:
		notSlice(src, out.Data.([]uint32))
	case []uint64:
		notSlice(src, out.Data.([]uint64))
	default:
		return nil, false
	}
	return out, true
}

func notSlice[T integerElem](src, dst []T) {
	for i, v := range src {
		dst[i] = ^v
	}
}
