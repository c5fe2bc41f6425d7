package tensor

import (
	"bytes"
	"testing"

	"github.com/actswap/actswap/onnx"
	"google.golang.org/protobuf/proto"
)

// FuzzFromProto decodes arbitrary bytes as a TensorProto and then as a tensor: errors are fine,
// panics and huge allocations from hostile dims are not, and a decoded tensor must survive
// ToProto/FromProto unchanged. Seeds live in testdata/fuzz/FuzzFromProto.
func FuzzFromProto(f *testing.F) {
	for _, s := range sampleTensors() {
		if b, err := proto.Marshal(ToProto(s, "x")); err == nil {
			f.Add(b)
		}
		if b, err := proto.Marshal(typedProto(s)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tp := &onnx.TensorProto{}
		if proto.Unmarshal(data, tp) != nil {
			return
		}
		got, err := FromProto(tp)
		if err != nil {
			return
		}
		if dataLen(got.Data) != NumElements(got.Shape) {
			t.Fatalf("tensor %v holds %d elements", got, dataLen(got.Data))
		}
		again, err := FromProto(ToProto(got, tp.GetName()))
		if err != nil {
			t.Fatalf("re-decoding %v: %v", got, err)
		}
		if !sameTensor(got, again) {
			t.Fatalf("%v changes through ToProto/FromProto", got)
		}
	})
}

// FuzzDecodeNpy feeds arbitrary bytes to the .npy reader: errors are fine, panics are not, and a
// decoded array must re-encode and decode to the same tensor. Seeds live in
// testdata/fuzz/FuzzDecodeNpy.
func FuzzDecodeNpy(f *testing.F) {
	for _, s := range sampleTensors() {
		var buf bytes.Buffer
		if EncodeNpy(&buf, s) == nil {
			f.Add(buf.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeNpy(bytes.NewReader(data))
		if err != nil {
			return
		}
		if dataLen(got.Data) != NumElements(got.Shape) {
			t.Fatalf("tensor %v holds %d elements", got, dataLen(got.Data))
		}
		var buf bytes.Buffer
		if err := EncodeNpy(&buf, got); err != nil {
			t.Fatalf("re-encoding %v: %v", got, err)
		}
		again, err := DecodeNpy(&buf)
		if err != nil {
			t.Fatalf("re-decoding %v: %v", got, err)
		}
		if !sameTensor(got, again) {
			t.Fatalf("%v changes through EncodeNpy/DecodeNpy", got)
		}
	})
}
