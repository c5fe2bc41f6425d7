package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Pad", 1, newPad)
	Register(DefaultDomain, "Pad", 2, newPad)
	Register(DefaultDomain, "Pad", 11, newPad)
	Register(DefaultDomain, "Pad", 18, newPad)
}

type padMode int

const (
	padConstant padMode = iota
	padReflect
	padEdge
	padWrap
)

func newPad(n *Node) (Kernel, error) {
	var mode padMode
	switch m := n.AttrString("mode", "constant"); m {
	case "constant":
		mode = padConstant
	case "reflect":
		mode = padReflect
	case "edge":
		mode = padEdge
	case "wrap":
		if n.Version < 19 {
			return nil, fmt.Errorf("mode wrap needs opset 19")
		}
		mode = padWrap
	default:
		return nil, fmt.Errorf("unknown mode %q", m)
	}
	fromAttrs := n.Version < 11
	var attrPads []int64
	attrValue := float64(n.AttrFloat("value", 0))
	if fromAttrs {
		name := "pads"
		if n.Version < 2 {
			name = "paddings"
		}
		if !n.HasAttr(name) {
			return nil, fmt.Errorf("Pad-%d needs the %s attribute", n.Version, name)
		}
		attrPads = n.AttrInts(name, nil)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		rank := len(x.Shape)
		pads := attrPads
		var axes []int64
		value := tensor.Zeros(x.DType, []int{1})
		if fromAttrs {
			if err := padSetValue(value, attrValue); err != nil {
				return nil, err
			}
		} else {
			if pads, err = moveInput(inputs, 1, "pads"); err != nil {
				return nil, err
			}
			if pads == nil {
				return nil, fmt.Errorf("input 1 (pads) is missing")
			}
			if len(inputs) > 2 && inputs[2] != nil {
				c := inputs[2]
				if c.DType != x.DType || c.Len() != 1 {
					return nil, fmt.Errorf("input 2 (constant_value) is %v, want one %v", c, x.DType)
				}
				value = c
			}
			if axes, err = moveInput(inputs, 3, "axes"); err != nil {
				return nil, err
			}
		}
		for _, p := range pads {
			if p > moveMaxElements || p < -moveMaxElements {
				return nil, fmt.Errorf("pads %v out of range", pads)
			}
		}
		begin, end := make([]int, rank), make([]int, rank)
		if axes == nil {
			if len(pads) != 2*rank {
				return nil, fmt.Errorf("pads %v has %d entries for rank %d", pads, len(pads), rank)
			}
			for i := range rank {
				begin[i], end[i] = int(pads[i]), int(pads[rank+i])
			}
		} else {
			ax, err := moveAxes(axes, rank)
			if err != nil {
				return nil, err
			}
			if len(pads) != 2*len(ax) {
				return nil, fmt.Errorf("pads %v has %d entries for %d axes", pads, len(pads), len(ax))
			}
			for i, a := range ax {
				begin[a], end[a] = int(pads[i]), int(pads[len(ax)+i])
			}
		}
		out, err := padRun(ctx, x, begin, end, mode, value)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

// padSetValue stores a float attribute value into a one-element tensor of any numeric type.
func padSetValue(t *tensor.Tensor, v float64) error {
	switch d := t.Data.(type) {
	case []float32:
		d[0] = float32(v)
	case []float64:
		d[0] = v
	case []tensor.Float16Bits:
		d[0] = tensor.Float16FromFloat32(float32(v))
	case []tensor.BFloat16Bits:
		d[0] = tensor.BFloat16FromFloat32(float32(v))
	case []int8:
		d[0] = int8(v)
	case []int16:
		d[0] = int16(v)
	case []int32:
		d[0] = int32(v)
	case []int64:
		d[0] = int64(v)
	case []uint8:
		d[0] = uint8(v)
	case []uint16:
		d[0] = uint16(v)
	case []uint32:
		d[0] = uint32(v)
	case []uint64:
		d[0] = uint64(v)
	case []bool:
		d[0] = v != 0
	default:
		return fmt.Errorf("cannot pad %v with a number", t.DType)
	}
	return nil
}

// padRun pads (or, for negative amounts, crops) x by begin/end elements per axis.
func padRun(ctx *Context, x *tensor.Tensor, begin, end []int, mode padMode, value *tensor.Tensor) (*tensor.Tensor, error) {
	rank := len(x.Shape)
	shape := make([]int, rank)
	for i, d := range x.Shape {
		shape[i] = d + begin[i] + end[i]
		if shape[i] < 0 {
			return nil, fmt.Errorf("pads %v/%v remove more than axis %d's %d elements", begin, end, i, d)
		}
	}
	m, err := moverFor(x.DType)
	if err != nil {
		return nil, err
	}
	if err := moveSized(shape); err != nil {
		return nil, err
	}
	out := ctx.Alloc(x.DType, shape)
	if out.Len() == 0 {
		return out, nil
	}
	if mode == padConstant || x.Len() == 0 {
		if mode != padConstant {
			return nil, fmt.Errorf("cannot pad an empty axis by reflection, edge or wrap")
		}
		m.fill(out.Data, 0, out.Len(), value.Data)
		// Copy the part of x that survives into its place in the output.
		inStrides, outStrides := tensor.Strides(x.Shape), tensor.Strides(shape)
		region := make([]int, rank)
		srcOff, dstOff := 0, 0
		for i := range rank {
			lo := max(0, -begin[i])                  // first input index kept
			hi := min(x.Shape[i], shape[i]-begin[i]) // one past the last kept
			if hi <= lo {
				return out, nil
			}
			region[i] = hi - lo
			srcOff += lo * inStrides[i]
			dstOff += (lo + begin[i]) * outStrides[i]
		}
		m.strided(out.Data, dstOff, outStrides, x.Data, srcOff, inStrides, region)
		return out, nil
	}
	// Other modes: per-axis maps from output to input index, then one gather.
	inStrides := tensor.Strides(x.Shape)
	maps := make([][]int, rank)
	for i := range rank {
		maps[i] = make([]int, shape[i])
		dim := x.Shape[i]
		for o := range maps[i] {
			maps[i][o] = padSource(o-begin[i], dim, mode) * inStrides[i]
		}
	}
	moveByAxisMaps(m, out, x, maps)
	return out, nil
}

// padSource maps a possibly out-of-range index i on an axis of size dim (> 0) into it.
func padSource(i, dim int, mode padMode) int {
	if i >= 0 && i < dim {
		return i
	}
	switch mode {
	case padEdge:
		return min(max(i, 0), dim-1)
	case padWrap:
		return ((i % dim) + dim) % dim
	default: // reflect, without repeating the edge element
		if dim == 1 {
			return 0
		}
		period := 2 * (dim - 1)
		i = ((i % period) + period) % period
		if i >= dim {
			i = period - i
		}
		return i
	}
}
