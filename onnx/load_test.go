package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// tinyModel is Y = X + W with W a 2×3 float initializer (24 bytes) and a 1-element bias B.
func tinyModel() *ModelProto {
	f32 := int32(TensorProto_FLOAT)
	vi := func(name string) *ValueInfoProto {
		return &ValueInfoProto{Name: proto.String(name), Type: &TypeProto{Value: &TypeProto_TensorType{
			TensorType: &TypeProto_Tensor{ElemType: proto.Int32(f32), Shape: &TensorShapeProto{Dim: []*TensorShapeProto_Dimension{
				{Value: &TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
				{Value: &TensorShapeProto_Dimension_DimValue{DimValue: 3}},
			}}},
		}}}
	}
	return &ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("actswap-test"),
		OpsetImport:  []*OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &GraphProto{
			Name: proto.String("tiny"),
			Node: []*NodeProto{
				{OpType: proto.String("Add"), Input: []string{"X", "W"}, Output: []string{"S"}},
				{OpType: proto.String("Add"), Input: []string{"S", "B"}, Output: []string{"Y"}},
			},
			Initializer: []*TensorProto{
				{Name: proto.String("W"), DataType: proto.Int32(f32), Dims: []int64{2, 3}, RawData: bytes.Repeat([]byte{0, 0, 0x80, 0x3f}, 6)},
				{Name: proto.String("B"), DataType: proto.Int32(f32), Dims: []int64{1}, RawData: []byte{0, 0, 0, 0x40}},
			},
			Input:  []*ValueInfoProto{vi("X")},
			Output: []*ValueInfoProto{vi("Y")},
		},
	}
}

func writeTemp(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileErrorsAreOneLineAndNamePath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, err := Marshal(tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.onnx"), "no such file"},
		{"directory", dir, "is a directory"},
		{"empty", writeTemp(t, dir, "empty.onnx", nil), "empty file"},
		{"garbage", writeTemp(t, dir, "garbage.onnx", []byte("this is not a protobuf \xff\xff\xff\xff")), "not a valid ONNX model"},
		{"text", writeTemp(t, dir, "text.onnx", []byte("hello")), "not a valid ONNX model"},
		{"truncated", writeTemp(t, dir, "trunc.onnx", good[:len(good)/2]), "not a valid ONNX model"},
		{"cut before opsets", writeTemp(t, dir, "cut.onnx", cutBeforeOpsets(t, good)), "opset_import"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadFile(c.path)
			if err == nil {
				t.Fatal("expected an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "load "+c.path+": ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line starting with %q containing %q", msg, "load "+c.path+": ", c.want)
			}
		})
	}
}

// cutBeforeOpsets encodes the model without opset_import, as a file cut right after the graph
// field would look (ModelProto fields are written in number order: graph 7, opset_import 8).
func cutBeforeOpsets(t *testing.T, good []byte) []byte {
	m, err := LoadBytes(good)
	if err != nil {
		t.Fatal(err)
	}
	m.OpsetImport = nil
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(good, b) {
		t.Fatal("model without opsets is not a prefix of the full model; test premise broken")
	}
	return b
}

func TestLoadFileResolvesExternalData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	weights := []byte("padding!" + "\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40\x00\x00\xa0\x40\x00\x00\xc0\x40")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTemp(t, dir, "data/weights.bin", weights)
	m := tinyModel()
	w := m.Graph.Initializer[0]
	w.RawData = nil
	w.DataLocation = TensorProto_EXTERNAL.Enum()
	w.ExternalData = []*StringStringEntryProto{
		{Key: proto.String("location"), Value: proto.String("data/weights.bin")},
		{Key: proto.String("offset"), Value: proto.String("8")},
		{Key: proto.String("length"), Value: proto.String("24")},
	}
	// A Constant node's tensor attribute may be external too; no length means "to the end".
	m.Graph.Node = append(m.Graph.Node, &NodeProto{OpType: proto.String("Constant"), Output: []string{"C"},
		Attribute: []*AttributeProto{{Name: proto.String("value"), Type: AttributeProto_TENSOR.Enum(), T: &TensorProto{
			DataType: proto.Int32(int32(TensorProto_FLOAT)), Dims: []int64{2}, DataLocation: TensorProto_EXTERNAL.Enum(),
			ExternalData: []*StringStringEntryProto{
				{Key: proto.String("location"), Value: proto.String("data/weights.bin")},
				{Key: proto.String("offset"), Value: proto.String("24")},
			}}}}})
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, dir, "model.onnx", b)
	got, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gw := got.Graph.Initializer[0]
	if !bytes.Equal(gw.RawData, weights[8:]) || gw.ExternalData != nil || gw.DataLocation != nil {
		t.Errorf("initializer W not resolved to an ordinary tensor: %v", gw)
	}
	gc := got.Graph.Node[2].Attribute[0].T
	if !bytes.Equal(gc.RawData, weights[24:]) || gc.DataLocation != nil {
		t.Errorf("Constant value not resolved: %v", gc)
	}
}

func TestLoadFileRefusesEscapingExternalData(t *testing.T) {
	t.Parallel()
	outer := t.TempDir()
	dir := filepath.Join(outer, "model")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := writeTemp(t, outer, "secret.bin", make([]byte, 24))
	if err := os.Symlink(secret, filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	writeTemp(t, dir, "short.bin", make([]byte, 10))
	cases := []struct{ location, offset, want string }{
		{secret, "0", "absolute path"},
		{"../secret.bin", "0", "leaves the model's folder"},
		{"a/../../secret.bin", "0", "leaves the model's folder"},
		{"link.bin", "0", "external data \"link.bin\""},
		{"missing.bin", "0", "no such file"},
		{"short.bin", "0", "past the end"},
		{"short.bin", "x", "bad offset"},
		{"short.bin", "-4", "negative"},
	}
	for _, c := range cases {
		m := tinyModel()
		w := m.Graph.Initializer[0]
		w.RawData = nil
		w.DataLocation = TensorProto_EXTERNAL.Enum()
		w.ExternalData = []*StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String(c.location)},
			{Key: proto.String("offset"), Value: proto.String(c.offset)},
			{Key: proto.String("length"), Value: proto.String("24")},
		}
		b, _ := Marshal(m)
		path := writeTemp(t, dir, "model.onnx", b)
		_, err := LoadFile(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("location %q offset %s: error %v, want one naming %s and containing %q", c.location, c.offset, err, path, c.want)
		}
	}
}
