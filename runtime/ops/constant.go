package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Constant", 1, newConstant)
}

// newConstant builds the value once; the runtime folds Constant nodes at session creation, so
// Run is only reached from graphs compiled without folding.
func newConstant(n *Node) (Kernel, error) {
	var value *tensor.Tensor
	set := 0
	for _, a := range n.Proto.GetAttribute() {
		if a.GetRefAttrName() != "" {
			continue
		}
		var t *tensor.Tensor
		switch a.GetName() {
		case "value":
			v, err := n.AttrTensor("value")
			if err != nil {
				return nil, err
			}
			if v == nil {
				return nil, fmt.Errorf("attribute value holds no tensor")
			}
			t = v
		case "sparse_value":
			return nil, fmt.Errorf("attribute sparse_value: sparse constants are not supported")
		case "value_float":
			t = tensor.Scalar(a.GetF())
		case "value_floats":
			t = tensor.New([]int{len(a.GetFloats())}, append([]float32{}, a.GetFloats()...))
		case "value_int":
			t = tensor.Scalar(a.GetI())
		case "value_ints":
			t = tensor.New([]int{len(a.GetInts())}, append([]int64{}, a.GetInts()...))
		case "value_string":
			t = tensor.Scalar(string(a.GetS()))
		case "value_strings":
			s := make([]string, len(a.GetStrings()))
			for i, b := range a.GetStrings() {
				s[i] = string(b)
			}
			t = tensor.New([]int{len(s)}, s)
		default:
			return nil, fmt.Errorf("unknown attribute %q", a.GetName())
		}
		value = t
		set++
	}
	if set != 1 {
		return nil, fmt.Errorf("needs exactly one value attribute (value, value_float(s), value_int(s), value_string(s)), has %d", set)
	}
	return KernelFunc(func(*Context, []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return []*tensor.Tensor{value}, nil
	}), nil
}
