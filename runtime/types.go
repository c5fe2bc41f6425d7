package runtime

import (
	"fmt"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

type valueKind int

const (
	kindUnknown  valueKind = iota // no type declared
	kindTensor                    // tensor_type
	kindSequence                  // sequence_type
	kindOptional                  // optional_type
	kindMap                       // map_type: read and written (ZipMap's outputs), not fed
	kindOther                     // sparse, opaque: declared but not runnable
)

// valueType is what a model declares about a value; it checks values fed at Run.
type valueType struct {
	name  string
	kind  valueKind
	dtype tensor.DType // element type of a tensor (or of a sequence's/optional's tensors)
	shape []Dim        // nil: rank not declared
}

func typeFromProto(name string, tp *onnx.TypeProto) valueType {
	v := valueType{name: name}
	if tp == nil {
		return v
	}
	switch {
	case tp.GetTensorType() != nil:
		v.kind = kindTensor
		v.dtype = tensor.DType(tp.GetTensorType().GetElemType())
		if sp := tp.GetTensorType().GetShape(); sp != nil {
			v.shape = make([]Dim, len(sp.GetDim()))
			for i, d := range sp.GetDim() {
				v.shape[i] = Dim{Value: -1, Param: d.GetDimParam()}
				if _, fixed := d.GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); fixed {
					v.shape[i].Value = int(d.GetDimValue())
				}
			}
		}
	case tp.GetSequenceType() != nil:
		v.kind = kindSequence
		v.dtype = typeFromProto(name, tp.GetSequenceType().GetElemType()).dtype
	case tp.GetOptionalType() != nil:
		v.kind = kindOptional
		v.dtype = typeFromProto(name, tp.GetOptionalType().GetElemType()).dtype
	case tp.GetMapType() != nil:
		v.kind = kindMap
	default:
		v.kind = kindOther
	}
	return v
}

func (v valueType) info() ValueInfo {
	vi := ValueInfo{Name: v.name}
	if v.kind == kindTensor {
		vi.DType = v.dtype
		if v.shape != nil {
			vi.Shape = append([]Dim{}, v.shape...)
		}
	}
	return vi
}

func (v valueType) String() string {
	switch v.kind {
	case kindSequence:
		return "sequence(" + v.dtype.String() + ")"
	case kindOptional:
		return "optional(" + v.dtype.String() + ")"
	case kindMap:
		return "a map"
	case kindOther:
		return "a non-tensor type"
	case kindUnknown:
		return "any value"
	}
	return ValueInfo{DType: v.dtype, Shape: v.shape}.String()
}

// describe formats a value fed at Run the way String formats a declared type.
func describe(t *tensor.Tensor) string {
	if elems, ok := ops.AsSequence(t); ok {
		return fmt.Sprintf("a sequence of %d", len(elems))
	}
	if m, ok := ops.AsMap(t); ok {
		return fmt.Sprintf("a map of %d %v keys", m.Keys.Len(), m.Keys.DType)
	}
	if ops.IsEmptyOptional(t) {
		return "an empty optional"
	}
	return t.DType.String() + tensor.ShapeString(t.Shape)
}

// symbolBinding remembers which input first fixed a symbolic dimension.
type symbolBinding struct {
	size  int
	input string
}

// check validates a value fed for this declared type, binding symbolic dimensions in symbols so
// that "batch" means the same size across all inputs.
func (v valueType) check(name string, t *tensor.Tensor, symbols map[string]symbolBinding) error {
	switch v.kind {
	case kindUnknown:
		return nil
	case kindSequence:
		elems, ok := ops.AsSequence(t)
		if !ok {
			return fmt.Errorf("input %q: expected %s, got %s", name, v, describe(t))
		}
		for i, e := range elems {
			if v.dtype != tensor.Undefined && e.DType != v.dtype {
				return fmt.Errorf("input %q: element %d: expected %s, got %s", name, i, v.dtype, describe(e))
			}
		}
		return nil
	case kindOptional:
		if ops.IsEmptyOptional(t) || v.dtype == tensor.Undefined {
			return nil
		}
		if elems, ok := ops.AsSequence(t); ok {
			for i, e := range elems {
				if e.DType != v.dtype {
					return fmt.Errorf("input %q: element %d: expected %s, got %s", name, i, v.dtype, describe(e))
				}
			}
			return nil
		}
		if t.DType != v.dtype {
			return fmt.Errorf("input %q: expected %s, got %s", name, v, describe(t))
		}
		return nil
	case kindMap, kindOther:
		return fmt.Errorf("input %q: declared with a type actswap cannot feed (maps, sparse tensors)", name)
	}
	if t.DType == tensor.Undefined || (v.dtype != tensor.Undefined && t.DType != v.dtype) {
		return fmt.Errorf("input %q: expected %s, got %s", name, v, describe(t))
	}
	if err := checkData(t); err != nil {
		return fmt.Errorf("input %q: %w", name, err)
	}
	if v.shape == nil {
		return nil
	}
	if len(t.Shape) != len(v.shape) {
		return fmt.Errorf("input %q: expected %s, got %s (rank %d, want %d)", name, v, describe(t), len(t.Shape), len(v.shape))
	}
	for i, d := range v.shape {
		got := t.Shape[i]
		switch {
		case d.Value >= 0 && got != d.Value:
			return fmt.Errorf("input %q: expected %s, got %s (dimension %d is %d, want %d)", name, v, describe(t), i, got, d.Value)
		case d.Value < 0 && d.Param != "":
			if b, seen := symbols[d.Param]; seen && b.size != got {
				return fmt.Errorf("input %q: expected %s, got %s (dimension %d %q is %d, but input %q set it to %d)",
					name, v, describe(t), i, d.Param, got, b.input, b.size)
			} else if !seen {
				symbols[d.Param] = symbolBinding{size: got, input: name}
			}
		}
	}
	return nil
}

// checkData guards kernels against hand-built tensors whose data disagrees with their header.
func checkData(t *tensor.Tensor) error {
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
	}
	have, dt := dataLen(t.Data)
	if have < 0 {
		return fmt.Errorf("data of Go type %T does not match dtype %v", t.Data, t.DType)
	}
	if n := tensor.NumElements(t.Shape); have != n {
		return fmt.Errorf("shape %v needs %d elements, data has %d", t.Shape, n, have)
	}
	if dt != t.DType {
		return fmt.Errorf("data of Go type %T does not match dtype %v", t.Data, t.DType)
	}
	return nil
}

// dataLen returns the length of a tensor's data slice and the dtype that Go type stores, or -1
// for a Go type no dtype uses. A type switch, not fmt's %T: Run checks every input this way.
func dataLen(data any) (int, tensor.DType) {
	switch d := data.(type) {
	case []float32:
		return len(d), tensor.Float32
	case []float64:
		return len(d), tensor.Float64
	case []tensor.Float16Bits:
		return len(d), tensor.Float16
	case []tensor.BFloat16Bits:
		return len(d), tensor.BFloat16
	case []int8:
		return len(d), tensor.Int8
	case []int16:
		return len(d), tensor.Int16
	case []int32:
		return len(d), tensor.Int32
	case []int64:
		return len(d), tensor.Int64
	case []uint8:
		return len(d), tensor.Uint8
	case []uint16:
		return len(d), tensor.Uint16
	case []uint32:
		return len(d), tensor.Uint32
	case []uint64:
		return len(d), tensor.Uint64
	case []bool:
		return len(d), tensor.Bool
	case []string:
		return len(d), tensor.String
	}
	if n, dt, ok := tensor.LowBitDataType(data); ok {
		return n, dt
	}
	return -1, tensor.Undefined
}
