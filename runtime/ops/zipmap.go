package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// A map value (ONNX map(K, V), as ZipMap makes them) travels like sequences do (sequence.go): a
// Tensor with DType Undefined, Shape nil and Data of type *Map.

// Map holds a map value's entries in order: Keys is 1-D int64 or string, Values 1-D of the same
// length (the value of Keys[i] is Values[i]).
type Map struct {
	Keys, Values *tensor.Tensor
}

// NewMap wraps keys and values (not copied) as a map value.
func NewMap(keys, values *tensor.Tensor) *tensor.Tensor {
	return &tensor.Tensor{DType: tensor.Undefined, Data: &Map{Keys: keys, Values: values}}
}

// AsMap returns the entries of a map value and whether t is one.
func AsMap(t *tensor.Tensor) (*Map, bool) {
	if t == nil || t.DType != tensor.Undefined {
		return nil, false
	}
	m, ok := t.Data.(*Map)
	return m, ok
}

func init() {
	Register(MLDomain, "ZipMap", 1, newZipMap)
}

// newZipMap: ZipMap (ai.onnx.ml 1) turns class scores X [N, C] (or [C], one row) into a
// sequence of N maps from the C class labels (classlabels_strings or classlabels_int64s) to the
// row's scores, as classifiers exported from scikit-learn end.
func newZipMap(n *Node) (Kernel, error) {
	var labels *tensor.Tensor
	switch {
	case n.HasAttr("classlabels_strings") && n.HasAttr("classlabels_int64s"):
		return nil, fmt.Errorf("ZipMap: both classlabels_strings and classlabels_int64s are set")
	case n.HasAttr("classlabels_strings"):
		s := n.AttrStrings("classlabels_strings", nil)
		labels = tensor.New([]int{len(s)}, s)
	case n.HasAttr("classlabels_int64s"):
		v := n.AttrInts("classlabels_int64s", nil)
		labels = tensor.New([]int{len(v)}, v)
	default:
		return nil, fmt.Errorf("ZipMap: neither classlabels_strings nor classlabels_int64s is set")
	}
	classes := labels.Shape[0]
	return KernelFunc(func(_ *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := in[0]
		if x == nil || x.DType != tensor.Float32 {
			return nil, fmt.Errorf("ZipMap: input X must be float32, got %v", x)
		}
		rows := 1
		switch {
		case x.Rank() == 2:
			rows = x.Shape[0]
		case x.Rank() != 1:
			return nil, fmt.Errorf("ZipMap: input X must be [N, C] or [C], got %v", x.Shape)
		}
		if x.Shape[x.Rank()-1] != classes {
			return nil, fmt.Errorf("ZipMap: input X has %d columns, but there are %d class labels", x.Shape[x.Rank()-1], classes)
		}
		xs := x.F32()
		maps := make([]*tensor.Tensor, rows)
		for r := range maps {
			row := make([]float32, classes)
			copy(row, xs[r*classes:(r+1)*classes])
			maps[r] = NewMap(labels, tensor.New([]int{classes}, row))
		}
		return []*tensor.Tensor{NewSequence(maps)}, nil
	}), nil
}
