package tensor

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/onnx"
	"google.golang.org/protobuf/proto"
)

func posInf() float64 { return math.Inf(1) }

// typedProto builds the TensorProto layout the ONNX spec prescribes for each dtype's typed field,
// written out independently of ToProto.
func typedProto(t *Tensor) *onnx.TensorProto {
	tp := &onnx.TensorProto{DataType: proto.Int32(int32(t.DType))}
	for _, d := range t.Shape {
		tp.Dims = append(tp.Dims, int64(d))
	}
	switch d := t.Data.(type) {
	case []float32:
		tp.FloatData = append([]float32{}, d...)
	case []float64:
		tp.DoubleData = append([]float64{}, d...)
	case []int64:
		tp.Int64Data = append([]int64{}, d...)
	case []uint64:
		tp.Uint64Data = append([]uint64{}, d...)
	case []uint32:
		for _, v := range d {
			tp.Uint64Data = append(tp.Uint64Data, uint64(v))
		}
	case []string:
		for _, v := range d {
			tp.StringData = append(tp.StringData, []byte(v))
		}
	case []int32:
		tp.Int32Data = append([]int32{}, d...)
	case []int16:
		for _, v := range d {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	case []int8:
		for _, v := range d {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	case []uint16:
		for _, v := range d {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	case []uint8:
		for _, v := range d {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	case []bool:
		for _, v := range d {
			b := int32(0)
			if v {
				b = 1
			}
			tp.Int32Data = append(tp.Int32Data, b)
		}
	case []Float16Bits:
		for _, v := range d {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	case []BFloat16Bits:
		for _, v := range d {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	}
	return tp
}

// rawLE encodes values little-endian with encoding/binary, independently of RawBytes.
func rawLE(t *Tensor) []byte {
	var out []byte
	switch d := t.Data.(type) {
	case []bool:
		for _, v := range d {
			if v {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		}
		return out
	case []string:
		return nil
	}
	out, err := binary.Append(nil, binary.LittleEndian, t.Data)
	if err != nil {
		panic(err)
	}
	return out
}

func TestFromProtoRawAndTypedAgreeForEveryDType(t *testing.T) {
	t.Parallel()
	for _, want := range sampleTensors() {
		typed := typedProto(want)
		got, err := FromProto(typed)
		if err != nil {
			t.Fatalf("%v typed: %v", want, err)
		}
		if !sameTensor(got, want) {
			t.Errorf("%v typed fields decode to %v", want, got.Data)
		}
		if want.DType == String {
			continue
		}
		raw := &onnx.TensorProto{DataType: typed.DataType, Dims: typed.Dims, RawData: rawLE(want)}
		got, err = FromProto(raw)
		if err != nil {
			t.Fatalf("%v raw: %v", want, err)
		}
		if !sameTensor(got, want) {
			t.Errorf("%v raw_data decodes to %v", want, got.Data)
		}
		// ToProto writes raw_data exactly as the spec lays it out.
		enc := ToProto(want, "x")
		if string(enc.RawData) != string(raw.RawData) || enc.GetName() != "x" {
			t.Errorf("%v: ToProto raw_data %x, want %x", want, enc.RawData, raw.RawData)
		}
	}
}

func TestFromProtoRejectsHostileMessages(t *testing.T) {
	t.Parallel()
	f32 := proto.Int32(int32(Float32))
	cases := []struct {
		name string
		tp   *onnx.TensorProto
		want string
	}{
		{"huge dims, no data", &onnx.TensorProto{DataType: f32, Dims: []int64{1 << 16, 1 << 16}}, "float_data has 0 values"},
		{"overflowing dims", &onnx.TensorProto{DataType: f32, Dims: []int64{1<<31 - 1, 1<<31 - 1, 1<<31 - 1, 4}}, "too many elements"},
		{"wrapping product", &onnx.TensorProto{DataType: f32, Dims: []int64{1 << 31, 1 << 31, 1 << 2}}, "invalid dimension"},
		{"negative dim", &onnx.TensorProto{DataType: f32, Dims: []int64{-1}}, "invalid dimension"},
		{"short raw", &onnx.TensorProto{DataType: f32, Dims: []int64{1 << 30}, RawData: make([]byte, 8)}, "raw_data has 8 bytes"},
		{"raw string", &onnx.TensorProto{DataType: proto.Int32(int32(String)), Dims: []int64{1}, RawData: []byte{1}}, "string tensor with raw_data"},
		{"unsupported type", &onnx.TensorProto{DataType: proto.Int32(int32(onnx.TensorProto_COMPLEX64))}, "unsupported data type"},
		{"external", &onnx.TensorProto{DataType: f32, DataLocation: onnx.TensorProto_EXTERNAL.Enum()}, "external data not loaded"},
		{"typed count", &onnx.TensorProto{DataType: proto.Int32(int32(Int8)), Dims: []int64{3}, Int32Data: []int32{1}}, "int32_data has 1 values"},
	}
	for _, c := range cases {
		_, err := FromProto(c.tp)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

func TestProtoFileRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, want := range sampleTensors() {
		path := dir + "/t.pb"
		if err := WriteProtoFile(path, want, "value"); err != nil {
			t.Fatal(err)
		}
		got, name, err := ReadProtoFile(path)
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if name != "value" || !sameTensor(got, want) {
			t.Errorf("sample %d: got %q %v, want %v", i, name, got, want)
		}
	}
	for _, bad := range []struct{ path, want string }{
		{dir + "/missing.pb", "no such file"},
		{dir, "is a directory"},
	} {
		if _, _, err := ReadProtoFile(bad.path); err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), bad.path) {
			t.Errorf("ReadProtoFile(%s): %v", bad.path, err)
		}
	}
}

// A TensorProto written from a stream of raw bytes reads back as the tensor WriteProtoFile writes.
func TestWriteProtoFileFrom(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	x := New([]int{3, 2}, []float32{1, -2, 3.5, 4, 5, 6})
	path := filepath.Join(dir, "streamed.pb")
	if err := WriteProtoFileFrom(path, Float32, x.Shape, "y", bytes.NewReader(RawBytes(x))); err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(dir, "whole.pb")
	if err := WriteProtoFile(whole, x, "y"); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(whole)
	if !bytes.Equal(a, b) {
		t.Errorf("streamed file differs from WriteProtoFile's:\n%x\n%x", a, b)
	}
	if err := WriteProtoFileFrom(filepath.Join(dir, "short.pb"), Float32, []int{4, 2}, "y", bytes.NewReader(RawBytes(x))); err == nil {
		t.Error("short raw data should fail")
	}
	if _, err := os.Stat(filepath.Join(dir, "short.pb")); err == nil {
		t.Error("a failed write left a file")
	}
}
