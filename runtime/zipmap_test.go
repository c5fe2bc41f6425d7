package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// A sequence of maps is written as ONNX's numpy_helper.from_list writes a list of dicts — a
// SequenceProto of elem_type MAP holding one MapProto per row (string or int64 keys, values a
// SequenceProto of 0-d tensors) — read back as the same value, and compared key by key.
func TestZipMapOutputWrittenAsSequenceOfMapProtos(t *testing.T) {
	x := tensor.New([]int{2, 3}, []float32{0.1, 0.7, 0.2, 0.5, 0.25, 0.25})
	for _, c := range []struct {
		labels  graphtest.Attr
		keyType tensor.DType
		keys    func(*onnx.MapProto)
	}{
		{graphtest.A("classlabels_strings", []string{"cat", "dog", "eel"}), tensor.String,
			func(mp *onnx.MapProto) { mp.StringKeys = [][]byte{[]byte("cat"), []byte("dog"), []byte("eel")} }},
		{graphtest.A("classlabels_int64s", []int64{3, 1, 2}), tensor.Int64,
			func(mp *onnx.MapProto) { mp.Keys = []int64{3, 1, 2} }},
	} {
		m := graphtest.ZipMapModel(c.labels, c.keyType)
		s, err := NewSession(m)
		if err != nil {
			t.Fatal(err)
		}
		name := s.Outputs()[0].Name
		res, err := s.Run(map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "output_0.pb")
		if err := WriteValueFile(path, res[name], name); err != nil {
			t.Fatal(err)
		}

		want := &onnx.SequenceProto{Name: proto.String(name), ElemType: proto.Int32(4)} // MAP
		for r := range 2 {
			mp := &onnx.MapProto{KeyType: proto.Int32(int32(c.keyType)), Values: &onnx.SequenceProto{ElemType: proto.Int32(1)}} // TENSOR
			c.keys(mp)
			for k := range 3 {
				mp.Values.TensorValues = append(mp.Values.TensorValues, tensor.ToProto(tensor.Scalar(x.F32()[r*3+k]), ""))
			}
			want.MapValues = append(want.MapValues, mp)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := &onnx.SequenceProto{}
		if err := proto.Unmarshal(b, got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("%v keys: wrote\n%v\nwant\n%v", c.keyType, got, want)
		}

		back, err := s.ReadOutputFile(0, path)
		if err != nil {
			t.Fatal(err)
		}
		if msg := compareValues(res[name], back, 0, 0); msg != "" {
			t.Errorf("%v keys: read back: %s", c.keyType, msg)
		}
		// The comparison sees a changed score and a changed key.
		m0, _ := ops.AsMap(mustSequence(t, back)[1])
		m0.Values.F32()[2] += 0.01
		if msg := compareValues(res[name], back, 1e-3, 1e-7); !strings.Contains(msg, "element 1: values") {
			t.Errorf("a changed score: %q", msg)
		}
	}

	s, err := NewSession(graphtest.ZipMapModel(graphtest.A("classlabels_int64s", []int64{1, 2}), tensor.Int64))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(map[string]*tensor.Tensor{"x": x}); err == nil || !strings.Contains(err.Error(), "2 class labels") {
		t.Errorf("3 columns for 2 labels: %v", err)
	}
}

func mustSequence(t *testing.T, v *tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	elems, ok := ops.AsSequence(v)
	if !ok {
		t.Fatalf("%s is not a sequence", describe(v))
	}
	return elems
}

// A sequence of sequences is written with onnx.proto's SEQUENCE element type (3); 4 is MAP.
func TestNestedSequenceElemType(t *testing.T) {
	inner := ops.NewSequence([]*tensor.Tensor{tensor.Scalar(float32(1))})
	path := filepath.Join(t.TempDir(), "s.pb")
	if err := WriteValueFile(path, ops.NewSequence([]*tensor.Tensor{inner, inner}), "s"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sp := &onnx.SequenceProto{}
	if err := proto.Unmarshal(b, sp); err != nil {
		t.Fatal(err)
	}
	if sp.GetElemType() != 3 || len(sp.GetSequenceValues()) != 2 {
		t.Errorf("elem_type %d with %d sequence values, want 3 (SEQUENCE) with 2", sp.GetElemType(), len(sp.GetSequenceValues()))
	}
}
