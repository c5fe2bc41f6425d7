package tensor

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/actswap/actswap/onnx"
	"google.golang.org/protobuf/proto"
)

// FromProto decodes a TensorProto, from raw_data (little-endian) or from the typed fields.
// Tensors stored externally must have had their bytes resolved first (onnx.Load does this).
func FromProto(tp *onnx.TensorProto) (*Tensor, error) {
	if tp.GetDataLocation() == onnx.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: external data not loaded", tp.GetName())
	}
	dt := DType(tp.GetDataType())
	if !dt.Supported() {
		return nil, fmt.Errorf("tensor %q: unsupported data type %v", tp.GetName(), onnx.TensorProto_DataType(dt))
	}
	shape := make([]int, len(tp.Dims))
	for i, d := range tp.Dims {
		if d < 0 || d > math.MaxInt32 {
			return nil, fmt.Errorf("tensor %q: invalid dimension %d", tp.GetName(), d)
		}
		shape[i] = int(d)
	}
	n, err := checkedNumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
	}
	// The element count is checked against the data present before anything is allocated, so
	// hostile dims on a small message cannot make us allocate gigabytes.
	if tp.RawData != nil {
		if dt == String {
			return nil, fmt.Errorf("tensor %q: string tensor with raw_data", tp.GetName())
		}
		if len(tp.RawData) != dt.RawLen(n) {
			return nil, fmt.Errorf("tensor %q: raw_data has %d bytes, %v%v needs %d",
				tp.GetName(), len(tp.RawData), dt, ShapeString(shape), dt.RawLen(n))
		}
		t := Zeros(dt, shape)
		if b, ok := byteElems(t.Data); ok {
			unpackBits(b, tp.RawData, dt.Bits(), isSignedLowBit(dt))
			return t, nil
		}
		decodeRaw(t.Data, tp.RawData)
		return t, nil
	}
	if _, ok := byteElems(NewData(dt, 0)); ok {
		// int32_data holds one packed byte per value (one element per value for the 8-bit
		// formats), as onnx.helper.make_tensor writes them.
		if have, want := len(tp.Int32Data), dt.RawLen(n); have != want {
			return nil, fmt.Errorf("tensor %q: int32_data has %d values, %v%v needs %d", tp.GetName(), have, dt, ShapeString(shape), want)
		}
		packed := make([]byte, len(tp.Int32Data))
		for i, v := range tp.Int32Data {
			packed[i] = byte(v)
		}
		t := Zeros(dt, shape)
		b, _ := byteElems(t.Data)
		unpackBits(b, packed, dt.Bits(), isSignedLowBit(dt))
		return t, nil
	}
	if have, field := typedCount(dt, tp); have != n {
		return nil, fmt.Errorf("tensor %q: %s has %d values, %v%v needs %d", tp.GetName(), field, have, dt, ShapeString(shape), n)
	}
	t := Zeros(dt, shape)
	if err := decodeTyped(t, tp, n); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
	}
	return t, nil
}

// maxElements bounds any tensor actswap decodes (16 Gi elements on 64-bit platforms, MaxInt on
// 32-bit ones), far above real models and far below what would overflow a byte count.
const maxElements = min(1<<34, math.MaxInt)

// checkedNumElements multiplies out shape, refusing negative dimensions and products above
// maxElements without ever overflowing.
func checkedNumElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("invalid dimension %d in shape %v", d, shape)
		}
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range shape {
		if n > maxElements/d {
			return 0, fmt.Errorf("shape %v has too many elements (limit %d)", shape, maxElements)
		}
		n *= d
	}
	return n, nil
}

// typedCount is how many values tp carries in the typed field that holds dtype dt, and that
// field's name.
func typedCount(dt DType, tp *onnx.TensorProto) (int, string) {
	switch dt {
	case Float32:
		return len(tp.FloatData), "float_data"
	case Float64:
		return len(tp.DoubleData), "double_data"
	case Int64:
		return len(tp.Int64Data), "int64_data"
	case Uint64, Uint32:
		return len(tp.Uint64Data), "uint64_data"
	case String:
		return len(tp.StringData), "string_data"
	}
	return len(tp.Int32Data), "int32_data"
}

func decodeRaw(dst any, raw []byte) {
	le := binary.LittleEndian
	switch d := dst.(type) {
	case []float32:
		for i := range d {
			d[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case []float64:
		for i := range d {
			d[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
	case []Float16Bits:
		for i := range d {
			d[i] = Float16Bits(le.Uint16(raw[2*i:]))
		}
	case []BFloat16Bits:
		for i := range d {
			d[i] = BFloat16Bits(le.Uint16(raw[2*i:]))
		}
	case []int8:
		for i := range d {
			d[i] = int8(raw[i])
		}
	case []uint8:
		copy(d, raw)
	case []bool:
		for i := range d {
			d[i] = raw[i] != 0
		}
	case []int16:
		for i := range d {
			d[i] = int16(le.Uint16(raw[2*i:]))
		}
	case []uint16:
		for i := range d {
			d[i] = le.Uint16(raw[2*i:])
		}
	case []int32:
		for i := range d {
			d[i] = int32(le.Uint32(raw[4*i:]))
		}
	case []uint32:
		for i := range d {
			d[i] = le.Uint32(raw[4*i:])
		}
	case []int64:
		for i := range d {
			d[i] = int64(le.Uint64(raw[8*i:]))
		}
	case []uint64:
		for i := range d {
			d[i] = le.Uint64(raw[8*i:])
		}
	}
}

func decodeTyped(t *Tensor, tp *onnx.TensorProto, n int) error {
	count := func(field string, have int) error {
		if have != n {
			return fmt.Errorf("%s has %d values, %v%v needs %d", field, have, t.DType, ShapeString(t.Shape), n)
		}
		return nil
	}
	switch d := t.Data.(type) {
	case []float32:
		if err := count("float_data", len(tp.FloatData)); err != nil {
			return err
		}
		copy(d, tp.FloatData)
	case []float64:
		if err := count("double_data", len(tp.DoubleData)); err != nil {
			return err
		}
		copy(d, tp.DoubleData)
	case []int64:
		if err := count("int64_data", len(tp.Int64Data)); err != nil {
			return err
		}
		copy(d, tp.Int64Data)
	case []uint64:
		if err := count("uint64_data", len(tp.Uint64Data)); err != nil {
			return err
		}
		copy(d, tp.Uint64Data)
	case []uint32:
		if err := count("uint64_data", len(tp.Uint64Data)); err != nil {
			return err
		}
		for i, v := range tp.Uint64Data {
			d[i] = uint32(v)
		}
	case []string:
		if err := count("string_data", len(tp.StringData)); err != nil {
			return err
		}
		for i, v := range tp.StringData {
			d[i] = string(v)
		}
	default:
		// Every other type travels in int32_data, one element per value.
		if err := count("int32_data", len(tp.Int32Data)); err != nil {
			return err
		}
		for i, v := range tp.Int32Data {
			switch d := d.(type) {
			case []int32:
				d[i] = v
			case []int16:
				d[i] = int16(v)
			case []int8:
				d[i] = int8(v)
			case []uint16:
				d[i] = uint16(v)
			case []uint8:
				d[i] = uint8(v)
			case []bool:
				d[i] = v != 0
			case []Float16Bits:
				d[i] = Float16Bits(v)
			case []BFloat16Bits:
				d[i] = BFloat16Bits(v)
			}
		}
	}
	return nil
}

// ToProto encodes t as a TensorProto named name, numbers in raw_data (as numpy_helper does),
// strings in string_data.
func ToProto(t *Tensor, name string) *onnx.TensorProto {
	tp := &onnx.TensorProto{DataType: proto.Int32(int32(t.DType)), Dims: make([]int64, len(t.Shape))}
	if name != "" {
		tp.Name = proto.String(name)
	}
	for i, d := range t.Shape {
		tp.Dims[i] = int64(d)
	}
	if s, ok := t.Data.([]string); ok {
		tp.StringData = make([][]byte, len(s))
		for i, v := range s {
			tp.StringData[i] = []byte(v)
		}
		return tp
	}
	tp.RawData = RawBytes(t)
	return tp
}

// RawBytes returns t's elements as little-endian bytes, sub-byte types packed (nil for strings).
func RawBytes(t *Tensor) []byte {
	if b, ok := byteElems(t.Data); ok {
		return packBits(b, t.DType.Bits())
	}
	le := binary.LittleEndian
	raw := make([]byte, t.Len()*t.DType.Size())
	switch d := t.Data.(type) {
	case []float32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case []float64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case []Float16Bits:
		for i, v := range d {
			le.PutUint16(raw[2*i:], uint16(v))
		}
	case []BFloat16Bits:
		for i, v := range d {
			le.PutUint16(raw[2*i:], uint16(v))
		}
	case []int8:
		for i, v := range d {
			raw[i] = byte(v)
		}
	case []uint8:
		copy(raw, d)
	case []bool:
		for i, v := range d {
			if v {
				raw[i] = 1
			}
		}
	case []int16:
		for i, v := range d {
			le.PutUint16(raw[2*i:], uint16(v))
		}
	case []uint16:
		for i, v := range d {
			le.PutUint16(raw[2*i:], v)
		}
	case []int32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], uint32(v))
		}
	case []uint32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], v)
		}
	case []int64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], uint64(v))
		}
	case []uint64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], v)
		}
	default:
		return nil
	}
	return raw
}
