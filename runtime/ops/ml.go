package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// Operators of the ai.onnx.ml domain that scikit-learn and XGBoost exporters emit: LabelEncoder,
// TreeEnsemble (opset 5), Binarizer and ArrayFeatureExtractor.

// MLDomain is the domain of ONNX's classical machine-learning operators.
const MLDomain = "ai.onnx.ml"

func init() {
	Register(MLDomain, "LabelEncoder", 4, newLabelEncoder)
	Register(MLDomain, "TreeEnsemble", 5, newTreeEnsemble)
	Register(MLDomain, "Binarizer", 1, newBinarizer)
	Register(MLDomain, "ArrayFeatureExtractor", 1, newArrayFeatureExtractor)
}

// labelKey is a key or value of LabelEncoder's map: a string or a number (integers and floats
// compare by value, so an int64 key and a float key of the same value are one key).
type labelKey struct {
	s     string
	f     float64
	isStr bool
}

// labelList reads a LabelEncoder key or value list from its _strings, _int64s, _floats or _tensor
// attribute.
func labelList(n *Node, prefix string) ([]labelKey, tensor.DType, error) {
	var out []labelKey
	switch {
	case n.HasAttr(prefix + "_strings"):
		for _, s := range n.AttrStrings(prefix+"_strings", nil) {
			out = append(out, labelKey{s: s, isStr: true})
		}
		return out, tensor.String, nil
	case n.HasAttr(prefix + "_int64s"):
		for _, v := range n.AttrInts(prefix+"_int64s", nil) {
			out = append(out, labelKey{f: float64(v)})
		}
		return out, tensor.Int64, nil
	case n.HasAttr(prefix + "_floats"):
		for _, v := range n.AttrFloats(prefix+"_floats", nil) {
			out = append(out, labelKey{f: float64(v)})
		}
		return out, tensor.Float32, nil
	case n.HasAttr(prefix + "_tensor"):
		t, err := n.AttrTensor(prefix + "_tensor")
		if err != nil {
			return nil, 0, err
		}
		return tensorLabels(t), t.DType, nil
	}
	return nil, 0, fmt.Errorf("LabelEncoder: no %s_strings, %s_int64s, %s_floats or %s_tensor attribute", prefix, prefix, prefix, prefix)
}

func tensorLabels(t *tensor.Tensor) []labelKey {
	out := make([]labelKey, t.Len())
	if s, ok := t.Data.([]string); ok {
		for i, v := range s {
			out[i] = labelKey{s: v, isStr: true}
		}
		return out
	}
	for i, v := range toFloat64s(t) {
		out[i] = labelKey{f: v}
	}
	return out
}

func newLabelEncoder(n *Node) (Kernel, error) {
	keys, keyType, err := labelList(n, "keys")
	if err != nil {
		return nil, err
	}
	values, valueType, err := labelList(n, "values")
	if err != nil {
		return nil, err
	}
	if len(keys) != len(values) {
		return nil, fmt.Errorf("LabelEncoder: %d keys but %d values", len(keys), len(values))
	}
	// The default: default_tensor, or default_string / default_int64 / default_float by the
	// value type, with ONNX's defaults "_Unused", −1 and −0.
	def := labelKey{}
	switch {
	case n.HasAttr("default_tensor"):
		t, err := n.AttrTensor("default_tensor")
		if err != nil {
			return nil, err
		}
		if t.Len() != 1 {
			return nil, fmt.Errorf("LabelEncoder: default_tensor has %d values, want 1", t.Len())
		}
		def = tensorLabels(t)[0]
	case valueType == tensor.String:
		def = labelKey{s: n.AttrString("default_string", "_Unused"), isStr: true}
	case valueType == tensor.Int64:
		def = labelKey{f: float64(n.AttrInt("default_int64", -1))}
	default:
		def = labelKey{f: float64(n.AttrFloat("default_float", float32(math.Copysign(0, -1))))}
	}
	table := make(map[labelKey]labelKey, len(keys))
	nanValue, hasNaN := labelKey{}, false
	for i, k := range keys {
		if !k.isStr && math.IsNaN(k.f) {
			nanValue, hasNaN = values[i], true
			continue
		}
		table[k] = values[i]
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, fmt.Errorf("LabelEncoder: %w", err)
		}
		x := in[0]
		if (x.DType == tensor.String) != (keyType == tensor.String) {
			return nil, fmt.Errorf("LabelEncoder: input is %v, keys are %v", x.DType, keyType)
		}
		mapped := make([]labelKey, x.Len())
		for i, k := range tensorLabels(x) {
			v, ok := table[k]
			switch {
			case ok:
			case hasNaN && !k.isStr && math.IsNaN(k.f):
				v = nanValue
			default:
				v = def
			}
			mapped[i] = v
		}
		out := ctx.Alloc(valueType, x.Shape)
		if s, ok := out.Data.([]string); ok {
			for i, v := range mapped {
				s[i] = v.s
			}
		} else {
			f := make([]float64, len(mapped))
			for i, v := range mapped {
				f[i] = v.f
			}
			if err := storeFloats(f, out); err != nil {
				return nil, fmt.Errorf("LabelEncoder: %w", err)
			}
		}
		return ctx.Result(out), nil
	}), nil
}

func newBinarizer(n *Node) (Kernel, error) {
	threshold := float64(n.AttrFloat("threshold", 0))
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, fmt.Errorf("Binarizer: %w", err)
		}
		x := toFloat64s(in[0])
		for i, v := range x {
			if v > threshold {
				x[i] = 1
			} else {
				x[i] = 0
			}
		}
		out := ctx.Alloc(in[0].DType, in[0].Shape)
		if err := storeFloats(x, out); err != nil {
			return nil, fmt.Errorf("Binarizer: %w", err)
		}
		return ctx.Result(out), nil
	}), nil
}

// ArrayFeatureExtractor selects entries of X's last axis: Y[..., j] = X[..., indices[j]].
func newArrayFeatureExtractor(*Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, fmt.Errorf("ArrayFeatureExtractor: %w", err)
		}
		x := in[0]
		idx, err := toInt64s(in[1])
		if err != nil {
			return nil, fmt.Errorf("ArrayFeatureExtractor: %w", err)
		}
		if len(x.Shape) == 0 {
			return nil, fmt.Errorf("ArrayFeatureExtractor: X is a scalar")
		}
		last := x.Shape[len(x.Shape)-1]
		rows := x.Len() / max(last, 1)
		shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), len(idx))
		if len(x.Shape) == 1 {
			shape = []int{1, len(idx)}
		}
		out := ctx.Alloc(x.DType, shape)
		for r := 0; r < rows; r++ {
			for j, k := range idx {
				if k < 0 || int(k) >= last {
					return nil, fmt.Errorf("ArrayFeatureExtractor: index %d outside the last axis of %v", k, x.Shape)
				}
				tensor.CopyRange(out, r*len(idx)+j, x, r*last+int(k), 1)
			}
		}
		return ctx.Result(out), nil
	}), nil
}
