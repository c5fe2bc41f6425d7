package ops

import (
	"fmt"
	"sort"

	"github.com/actswap/actswap/tensor"
)

// TopK returns the k largest (or smallest) values along an axis and their int64 indices. Equal
// values keep their original order (lower index first), matching the ONNX reference; NaN counts
// as larger than every number.

func init() {
	Register(DefaultDomain, "TopK", 1, newTopK)
}

func newTopK(n *Node) (Kernel, error) {
	axisAttr := n.AttrInt("axis", -1)
	largest := n.AttrInt("largest", 1) != 0
	kAttr := n.AttrInt("k", -1)
	kFromInput := n.Version >= 10
	if !kFromInput && kAttr < 0 {
		return nil, fmt.Errorf("TopK: attribute k is required before opset 10")
	}
	// sorted=0 lets the output come in any order; the sorted order is one valid answer, so the
	// attribute needs no handling.
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		k := kAttr
		if kFromInput {
			if err := needInputs(in, 2); err != nil {
				return nil, err
			}
			kv, err := toInt64s(in[1])
			if err != nil || len(kv) != 1 {
				return nil, fmt.Errorf("K must be a single integer")
			}
			k = kv[0]
		}
		if x.Rank() == 0 {
			return nil, fmt.Errorf("input must have rank ≥ 1")
		}
		axis, err := normalizeAxis(axisAttr, x.Rank())
		if err != nil {
			return nil, err
		}
		outer, cnt, inner := axisSplit(x.Shape, axis)
		if k < 0 || k > int64(cnt) {
			return nil, fmt.Errorf("k = %d outside [0, %d]", k, cnt)
		}
		kk := int(k)
		outShape := append([]int(nil), x.Shape...)
		outShape[axis] = kk
		idxOut := ctx.Alloc(tensor.Int64, outShape)
		indices := idxOut.I64()
		var less func(a, b int) bool // a sorts before b
		var vals []float64
		var ivals []int64
		if x.DType.IsFloat() {
			vals = toFloat64s(x)
		} else if ivals, err = orderedInt64s(x); err != nil {
			return nil, fmt.Errorf("unsupported input type %v", x.DType)
		}
		order := make([]int, cnt)
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				base := o*cnt*inner + i
				if vals != nil {
					less = func(a, b int) bool {
						va, vb := vals[base+a*inner], vals[base+b*inner]
						if va != va || vb != vb {
							return (va != va) == largest && (vb == vb) == largest
						}
						if largest {
							return va > vb
						}
						return va < vb
					}
				} else {
					less = func(a, b int) bool {
						va, vb := ivals[base+a*inner], ivals[base+b*inner]
						if largest {
							return va > vb
						}
						return va < vb
					}
				}
				for j := range order {
					order[j] = j
				}
				sort.SliceStable(order, func(a, b int) bool { return less(order[a], order[b]) })
				for j := 0; j < kk; j++ {
					indices[(o*kk+j)*inner+i] = int64(order[j])
				}
			}
		}
		values, err := gatherAxis(ctx, x, indices, outShape, axis)
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{values, idxOut}, nil
	}), nil
}

// gatherAxis picks x's elements at the given positions along axis (indices laid out in outShape).
func gatherAxis(ctx *Context, x *tensor.Tensor, indices []int64, outShape []int, axis int) (*tensor.Tensor, error) {
	outer, cnt, inner := axisSplit(x.Shape, axis)
	kk := outShape[axis]
	out := ctx.Alloc(x.DType, outShape)
	src := make([]int, len(indices))
	for o := 0; o < outer; o++ {
		for j := 0; j < kk; j++ {
			for i := 0; i < inner; i++ {
				at := (o*kk+j)*inner + i
				src[at] = (o*cnt+int(indices[at]))*inner + i
			}
		}
	}
	switch d := x.Data.(type) {
	case []float32:
		pick(d, out.F32(), src)
	case []float64:
		pick(d, out.Data.([]float64), src)
	case []tensor.Float16Bits:
		pick(d, out.Data.([]tensor.Float16Bits), src)
	case []tensor.BFloat16Bits:
		pick(d, out.Data.([]tensor.BFloat16Bits), src)
	case []int8:
		pick(d, out.Data.([]int8), src)
	case []int16:
		pick(d, out.Data.([]int16), src)
	case []int32:
		pick(d, out.Data.([]int32), src)
	case []int64:
		pick(d, out.Data.([]int64), src)
	case []uint8:
		pick(d, out.Data.([]uint8), src)
	case []uint16:
		pick(d, out.Data.([]uint16), src)
	case []uint32:
		pick(d, out.Data.([]uint32), src)
	case []uint64:
		pick(d, out.Data.([]uint64), src)
	default:
		return nil, fmt.Errorf("unsupported input type %v", x.DType)
	}
	return out, nil
}

func pick[T any](src, dst []T, at []int) {
	for i, j := range at {
		dst[i] = src[j]
	}
}
