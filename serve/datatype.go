package serve

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// V2 datatype names (Open Inference Protocol) for the element types actswap runs.
var v2Names = map[tensor.DType]string{
	tensor.Bool: "BOOL", tensor.Uint8: "UINT8", tensor.Uint16: "UINT16", tensor.Uint32: "UINT32",
	tensor.Uint64: "UINT64", tensor.Int8: "INT8", tensor.Int16: "INT16", tensor.Int32: "INT32",
	tensor.Int64: "INT64", tensor.Float16: "FP16", tensor.Float32: "FP32", tensor.Float64: "FP64",
	tensor.BFloat16: "BF16", tensor.String: "BYTES",
}

// V2Datatype names a dtype the way V2 clients expect.
func V2Datatype(d tensor.DType) string {
	if n, ok := v2Names[d]; ok {
		return n
	}
	return d.String()
}

// ParseV2Datatype maps a V2 datatype name to a dtype.
func ParseV2Datatype(name string) (tensor.DType, error) {
	for d, n := range v2Names {
		if n == name {
			return d, nil
		}
	}
	return tensor.Undefined, fmt.Errorf("unknown datatype %q", name)
}

// tensorFromJSON builds a tensor from a V2 JSON "data" value, flat or nested, checking the element
// count against shape.
func tensorFromJSON(dt tensor.DType, shape []int, raw json.RawMessage) (*tensor.Tensor, error) {
	var nested any
	if err := json.Unmarshal(raw, &nested); err != nil {
		return nil, fmt.Errorf("data: %v", err)
	}
	var flat []any
	flatten(nested, &flat)
	n := tensor.NumElements(shape)
	if len(flat) != n {
		return nil, fmt.Errorf("data has %d elements, shape %v needs %d", len(flat), shape, n)
	}
	t := tensor.Zeros(dt, shape)
	for i, v := range flat {
		if err := setElement(t, i, v); err != nil {
			return nil, fmt.Errorf("data[%d]: %v", i, err)
		}
	}
	return t, nil
}

func flatten(v any, out *[]any) {
	if list, ok := v.([]any); ok {
		for _, e := range list {
			flatten(e, out)
		}
		return
	}
	*out = append(*out, v)
}

func setElement(t *tensor.Tensor, i int, v any) error {
	if s, ok := v.(string); ok {
		d, ok := t.Data.([]string)
		if !ok {
			return fmt.Errorf("string %q for a %s tensor", s, V2Datatype(t.DType))
		}
		d[i] = s
		return nil
	}
	if b, ok := v.(bool); ok {
		d, ok := t.Data.([]bool)
		if !ok {
			return fmt.Errorf("boolean for a %s tensor", V2Datatype(t.DType))
		}
		d[i] = b
		return nil
	}
	f, ok := v.(float64)
	if !ok {
		return fmt.Errorf("%v is not a number", v)
	}
	isInt := f == math.Trunc(f)
	switch d := t.Data.(type) {
	case []float32:
		d[i] = float32(f)
	case []float64:
		d[i] = f
	case []tensor.Float16Bits:
		d[i] = tensor.Float16FromFloat32(float32(f))
	case []tensor.BFloat16Bits:
		d[i] = tensor.BFloat16FromFloat32(float32(f))
	case []int8:
		return setInt(d, i, f, isInt, math.MinInt8, math.MaxInt8)
	case []int16:
		return setInt(d, i, f, isInt, math.MinInt16, math.MaxInt16)
	case []int32:
		return setInt(d, i, f, isInt, math.MinInt32, math.MaxInt32)
	case []int64:
		return setInt(d, i, f, isInt, math.MinInt64, math.MaxInt64)
	case []uint8:
		return setInt(d, i, f, isInt, 0, math.MaxUint8)
	case []uint16:
		return setInt(d, i, f, isInt, 0, math.MaxUint16)
	case []uint32:
		return setInt(d, i, f, isInt, 0, math.MaxUint32)
	case []uint64:
		return setInt(d, i, f, isInt, 0, math.MaxUint64)
	default:
		return fmt.Errorf("number for a %s tensor", V2Datatype(t.DType))
	}
	return nil
}

func setInt[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](d []T, i int, f float64, isInt bool, lo, hi float64) error {
	if !isInt || f < lo || f > hi {
		return fmt.Errorf("%v is not a valid %T", f, d[0])
	}
	d[i] = T(f)
	return nil
}

// jsonData returns t's elements as a flat slice that encoding/json writes as V2 "data".
func jsonData(t *tensor.Tensor) any {
	switch d := t.Data.(type) {
	case []float32:
		out := make([]any, len(d))
		for i, v := range d {
			out[i] = jsonFloat(float64(v))
		}
		return out
	case []float64:
		out := make([]any, len(d))
		for i, v := range d {
			out[i] = jsonFloat(v)
		}
		return out
	case []tensor.Float16Bits:
		out := make([]any, len(d))
		for i, v := range d {
			out[i] = jsonFloat(float64(v.Float32()))
		}
		return out
	case []tensor.BFloat16Bits:
		out := make([]any, len(d))
		for i, v := range d {
			out[i] = jsonFloat(float64(v.Float32()))
		}
		return out
	case []uint8:
		// encoding/json would write []byte as base64; V2 wants numbers.
		out := make([]int, len(d))
		for i, v := range d {
			out[i] = int(v)
		}
		return out
	}
	return t.Data
}

// jsonFloat keeps NaN and ±Inf representable: JSON has no literal for them, so they travel as
// strings, as other V2 servers do.
func jsonFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// tensorFromRaw decodes the binary tensor extension's little-endian bytes (BYTES elements are a
// 4-byte length then the bytes).
func tensorFromRaw(dt tensor.DType, shape []int, raw []byte) (*tensor.Tensor, error) {
	n := tensor.NumElements(shape)
	if dt == tensor.String {
		t := tensor.Zeros(dt, shape)
		d := t.Data.([]string)
		for i := 0; i < n; i++ {
			if len(raw) < 4 {
				return nil, fmt.Errorf("binary data ends inside element %d", i)
			}
			l := int(binary.LittleEndian.Uint32(raw))
			if len(raw)-4 < l {
				return nil, fmt.Errorf("binary data ends inside element %d", i)
			}
			d[i], raw = string(raw[4:4+l]), raw[4+l:]
		}
		if len(raw) != 0 {
			return nil, fmt.Errorf("binary data has %d bytes past the last element", len(raw))
		}
		return t, nil
	}
	if len(raw) != n*dt.Size() {
		return nil, fmt.Errorf("binary data has %d bytes, %s%v needs %d", len(raw), V2Datatype(dt), shape, n*dt.Size())
	}
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	return tensor.FromProto(&onnx.TensorProto{DataType: proto.Int32(int32(dt)), Dims: dims, RawData: raw})
}

// rawBytes encodes t for the binary tensor extension.
func rawBytes(t *tensor.Tensor) []byte {
	if s, ok := t.Data.([]string); ok {
		var out []byte
		for _, v := range s {
			out = binary.LittleEndian.AppendUint32(out, uint32(len(v)))
			out = append(out, v...)
		}
		return out
	}
	return tensor.RawBytes(t)
}
