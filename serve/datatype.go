package serve

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

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

// flushAt is how large a response chunk grows before it is written out, so a large output is
// never held as text in full.
const flushAt = 256 << 10

// appendJSONData appends t's elements, comma-separated, as V2 "data" (flat), writing b out to w
// whenever it passes flushAt; it returns what is left to write. Non-finite floats are written as
// the strings "NaN", "Infinity" and "-Infinity" (JSON has no literal for them), which requests
// accept back.
func appendJSONData(b []byte, t *tensor.Tensor, w io.Writer) ([]byte, error) {
	n := t.Len()
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONElement(b, t, i)
		if len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				return b[:0], err
			}
			b = b[:0]
		}
	}
	return b, nil
}

func appendJSONElement(b []byte, t *tensor.Tensor, i int) []byte {
	switch d := t.Data.(type) {
	case []float32:
		return appendJSONFloat(b, float64(d[i]), 32)
	case []float64:
		return appendJSONFloat(b, d[i], 64)
	case []tensor.Float16Bits:
		return appendJSONFloat(b, float64(d[i].Float32()), 32)
	case []tensor.BFloat16Bits:
		return appendJSONFloat(b, float64(d[i].Float32()), 32)
	case []int8:
		return strconv.AppendInt(b, int64(d[i]), 10)
	case []int16:
		return strconv.AppendInt(b, int64(d[i]), 10)
	case []int32:
		return strconv.AppendInt(b, int64(d[i]), 10)
	case []int64:
		return strconv.AppendInt(b, d[i], 10)
	case []uint8:
		return strconv.AppendUint(b, uint64(d[i]), 10)
	case []uint16:
		return strconv.AppendUint(b, uint64(d[i]), 10)
	case []uint32:
		return strconv.AppendUint(b, uint64(d[i]), 10)
	case []uint64:
		return strconv.AppendUint(b, d[i], 10)
	case []bool:
		return strconv.AppendBool(b, d[i])
	case []string:
		return appendJSONString(b, d[i])
	}
	panic(fmt.Sprintf("serve: no JSON form for %s tensors", V2Datatype(t.DType)))
}

// appendJSONFloat writes the shortest text that reads back as the same value of the given bit
// size; non-finite values take tensor.JSONFloat's spelling, the one every JSON writer of the
// project uses.
func appendJSONFloat(b []byte, f float64, bits int) []byte {
	if s, ok := tensor.JSONFloat(f).(string); ok {
		return strconv.AppendQuote(b, s)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
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
