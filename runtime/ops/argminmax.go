package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// ArgMax and ArgMin return int64 indices along one axis; ties go to the first occurrence unless
// select_last_index is set (opset 12).

func init() {
	Register(DefaultDomain, "ArgMax", 1, argFactory(true))
	Register(DefaultDomain, "ArgMin", 1, argFactory(false))
}

// axisSplit views shape as [outer, n, inner] around axis.
func axisSplit(shape []int, axis int) (outer, n, inner int) {
	outer, inner = 1, 1
	for i, d := range shape {
		switch {
		case i < axis:
			outer *= d
		case i > axis:
			inner *= d
		}
	}
	return outer, shape[axis], inner
}

func argFactory(isMax bool) Factory {
	return func(n *Node) (Kernel, error) {
		axisAttr := n.AttrInt("axis", 0)
		keepdims := n.AttrInt("keepdims", 1) != 0
		last := n.AttrInt("select_last_index", 0) != 0
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 1); err != nil {
				return nil, err
			}
			x := in[0]
			if x.DType == tensor.String || x.DType == tensor.Bool {
				return nil, fmt.Errorf("unsupported input type %v", x.DType)
			}
			if x.Rank() == 0 {
				return nil, fmt.Errorf("input must have rank ≥ 1")
			}
			axis, err := normalizeAxis(axisAttr, x.Rank())
			if err != nil {
				return nil, err
			}
			outer, cnt, inner := axisSplit(x.Shape, axis)
			if cnt == 0 {
				return nil, fmt.Errorf("cannot take the arg-extremum of an empty axis")
			}
			mask := make([]bool, x.Rank())
			mask[axis] = true
			_, outShape := reduceShapes(x.Shape, mask, keepdims)
			out := ctx.Alloc(tensor.Int64, outShape)
			dst := out.I64()
			var vals []float64
			var ivals []int64
			if x.DType.IsFloat() {
				vals = toFloat64s(x)
			} else if ivals, err = orderedInt64s(x); err != nil {
				return nil, err
			}
			for o := 0; o < outer; o++ {
				for i := 0; i < inner; i++ {
					base := o*cnt*inner + i
					if vals != nil {
						dst[o*inner+i] = argExtremum(vals, base, cnt, inner, isMax, last)
					} else {
						dst[o*inner+i] = argExtremum(ivals, base, cnt, inner, isMax, last)
					}
				}
			}
			return ctx.Result(out), nil
		}), nil
	}
}

// argExtremum scans cnt elements from base with the given stride. A NaN wins over numbers, as in
// NumPy's argmax/argmin.
func argExtremum[T float64 | int64](v []T, base, cnt, stride int, isMax, last bool) int64 {
	best := 0
	bv := v[base]
	for k := 1; k < cnt; k++ {
		x := v[base+k*stride]
		if bv != bv {
			break
		}
		better := x != x
		if !better {
			if isMax {
				better = x > bv || (last && x == bv)
			} else {
				better = x < bv || (last && x == bv)
			}
		}
		if better {
			best, bv = k, x
		}
	}
	return int64(best)
}

// orderedInt64s maps integer data to int64 keys with the same order: uint64 values have their
// top bit flipped so that values above 2^63 still sort above the rest.
func orderedInt64s(t *tensor.Tensor) ([]int64, error) {
	if u, ok := t.Data.([]uint64); ok {
		keys := make([]int64, len(u))
		for i, v := range u {
			keys[i] = int64(v ^ 1<<63)
		}
		return keys, nil
	}
	return toInt64s(t)
}
