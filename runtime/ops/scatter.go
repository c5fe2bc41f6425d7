package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Scatter", 9, newScatterElements)
	Register(DefaultDomain, "ScatterElements", 11, newScatterElements)
	Register(DefaultDomain, "ScatterND", 11, newScatterND)
	Register(DefaultDomain, "TensorScatter", 24, newTensorScatter)
}

// scatterReduction is how an update combines with the value already in place.
type scatterReduction int

const (
	scatterNone scatterReduction = iota
	scatterAdd
	scatterMul
	scatterMax
	scatterMin
)

func scatterParseReduction(n *Node) (scatterReduction, error) {
	name := n.AttrString("reduction", "none")
	switch name {
	case "none":
		return scatterNone, nil
	case "add":
		return scatterAdd, nil
	case "mul":
		return scatterMul, nil
	case "max":
		return scatterMax, nil
	case "min":
		return scatterMin, nil
	}
	return 0, fmt.Errorf("unknown reduction %q", name)
}

func newScatterElements(n *Node) (Kernel, error) {
	axis := n.AttrInt("axis", 0)
	red, err := scatterParseReduction(n)
	if err != nil {
		return nil, err
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, ind, upd, err := scatterInputs(inputs)
		if err != nil {
			return nil, err
		}
		if !tensor.SameShape(ind.Shape, upd.Shape) {
			return nil, fmt.Errorf("updates shape %v differs from indices shape %v", tensor.ShapeString(upd.Shape), tensor.ShapeString(ind.Shape))
		}
		offs, err := elementOffsets(x.Shape, ind, axis)
		if err != nil {
			return nil, err
		}
		out, err := scatterApply(ctx, x, upd, offs, 1, red)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

func newScatterND(n *Node) (Kernel, error) {
	red, err := scatterParseReduction(n)
	if err != nil {
		return nil, err
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, ind, upd, err := scatterInputs(inputs)
		if err != nil {
			return nil, err
		}
		offs, inner, tupleShape, err := ndOffsets(x.Shape, ind, 0)
		if err != nil {
			return nil, err
		}
		k := ind.Shape[len(ind.Shape)-1]
		want := append(append([]int(nil), tupleShape...), x.Shape[k:]...)
		if !tensor.SameShape(upd.Shape, want) {
			return nil, fmt.Errorf("updates shape %v, want %v", tensor.ShapeString(upd.Shape), tensor.ShapeString(want))
		}
		out, err := scatterApply(ctx, x, upd, offs, inner, red)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

func scatterInputs(inputs []*tensor.Tensor) (x, ind, upd *tensor.Tensor, err error) {
	if x, err = moveNeed(inputs, 0, "data"); err != nil {
		return
	}
	if ind, err = moveNeed(inputs, 1, "indices"); err != nil {
		return
	}
	if upd, err = moveNeed(inputs, 2, "updates"); err != nil {
		return
	}
	if upd.DType != x.DType {
		err = fmt.Errorf("updates are %v, data is %v", upd.DType, x.DType)
	}
	return
}

// scatterApply copies x and combines run i of updates (n elements) into it at offs[i].
func scatterApply(ctx *Context, x, upd *tensor.Tensor, offs []int, n int, red scatterReduction) (*tensor.Tensor, error) {
	out, err := moveCopy(ctx, x, x.Shape)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return out, nil
	}
	if red == scatterNone {
		m, _ := moverFor(x.DType)
		m.scatterBlocks(out.Data, upd.Data, offs, n)
		return out, nil
	}
	switch d := out.Data.(type) {
	case []float32:
		scatterCombine(d, upd.Data.([]float32), offs, n, red)
	case []float64:
		scatterCombine(d, upd.Data.([]float64), offs, n, red)
	case []int8:
		scatterCombine(d, upd.Data.([]int8), offs, n, red)
	case []int16:
		scatterCombine(d, upd.Data.([]int16), offs, n, red)
	case []int32:
		scatterCombine(d, upd.Data.([]int32), offs, n, red)
	case []int64:
		scatterCombine(d, upd.Data.([]int64), offs, n, red)
	case []uint8:
		scatterCombine(d, upd.Data.([]uint8), offs, n, red)
	case []uint16:
		scatterCombine(d, upd.Data.([]uint16), offs, n, red)
	case []uint32:
		scatterCombine(d, upd.Data.([]uint32), offs, n, red)
	case []uint64:
		scatterCombine(d, upd.Data.([]uint64), offs, n, red)
	case []tensor.Float16Bits:
		acc, u := scatterWiden(d, tensor.Float16Bits.Float32), scatterWiden(upd.Data.([]tensor.Float16Bits), tensor.Float16Bits.Float32)
		scatterCombine(acc, u, offs, n, red)
		for i, v := range acc {
			d[i] = tensor.Float16FromFloat32(v)
		}
	case []tensor.BFloat16Bits:
		acc, u := scatterWiden(d, tensor.BFloat16Bits.Float32), scatterWiden(upd.Data.([]tensor.BFloat16Bits), tensor.BFloat16Bits.Float32)
		scatterCombine(acc, u, offs, n, red)
		for i, v := range acc {
			d[i] = tensor.BFloat16FromFloat32(v)
		}
	default:
		return nil, fmt.Errorf("reduction needs a numeric type, got %v", x.DType)
	}
	return out, nil
}

func scatterWiden[T any](s []T, f func(T) float32) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

type scatterNumber interface {
	float32 | float64 | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64
}

func scatterCombine[T scatterNumber](dst, upd []T, offs []int, n int, red scatterReduction) {
	for i, o := range offs {
		d, u := dst[o:o+n], upd[i*n:(i+1)*n]
		switch red {
		case scatterAdd:
			for j, v := range u {
				d[j] += v
			}
		case scatterMul:
			for j, v := range u {
				d[j] *= v
			}
		case scatterMax:
			for j, v := range u {
				d[j] = max(d[j], v)
			}
		case scatterMin:
			for j, v := range u {
				d[j] = min(d[j], v)
			}
		}
	}
}

// newTensorScatter writes update into a copy of past_cache along the sequence axis, starting
// per batch entry at write_indices[b] (0 when absent); mode circular wraps around the axis.
// It is the functional form of an in-place KV-cache update.
func newTensorScatter(n *Node) (Kernel, error) {
	axis := n.AttrInt("axis", -2)
	circular := false
	switch m := n.AttrString("mode", "linear"); m {
	case "linear":
	case "circular":
		circular = true
	default:
		return nil, fmt.Errorf("unknown mode %q", m)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		past, err := moveNeed(inputs, 0, "past_cache")
		if err != nil {
			return nil, err
		}
		upd, err := moveNeed(inputs, 1, "update")
		if err != nil {
			return nil, err
		}
		rank := len(past.Shape)
		a, err := moveAxis(axis, rank)
		if err != nil {
			return nil, err
		}
		if a == 0 || upd.DType != past.DType || len(upd.Shape) != rank {
			return nil, fmt.Errorf("update %v does not fit past_cache %v on axis %d", upd, past, a)
		}
		for d := range rank {
			if d != a && upd.Shape[d] != past.Shape[d] || d == a && upd.Shape[d] > past.Shape[d] {
				return nil, fmt.Errorf("update shape %v does not fit past_cache shape %v on axis %d", tensor.ShapeString(upd.Shape), tensor.ShapeString(past.Shape), a)
			}
		}
		batch := past.Shape[0]
		writes, err := moveInput(inputs, 2, "write_indices")
		if err != nil {
			return nil, err
		}
		if writes != nil && len(writes) != batch {
			return nil, fmt.Errorf("write_indices has %d entries for batch %d", len(writes), batch)
		}
		out, err := moveCopy(ctx, past, past.Shape)
		if err != nil {
			return nil, err
		}
		maxLen, seqLen := past.Shape[a], upd.Shape[a]
		inner := tensor.NumElements(past.Shape[a+1:])
		prefixes := tensor.NumElements(past.Shape[:a])
		perBatch := prefixes / max(batch, 1)
		m, _ := moverFor(past.DType)
		for p := range prefixes {
			start := int64(0)
			if writes != nil {
				start = writes[p/perBatch]
			}
			for s := range seqLen {
				pos := start + int64(s)
				if circular {
					pos = (pos%int64(maxLen) + int64(maxLen)) % int64(maxLen)
				}
				if pos < 0 || pos >= int64(maxLen) {
					return nil, fmt.Errorf("write index %d + %d is outside the cache length %d", start, s, maxLen)
				}
				m.copyRange(out.Data, (p*maxLen+int(pos))*inner, upd.Data, (p*seqLen+s)*inner, inner)
			}
		}
		return ctx.Result(out), nil
	}), nil
}
