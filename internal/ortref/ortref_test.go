package ortref

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// A one-node Add model checks the round trip of inputs and outputs through onnxruntime.
func TestRunAdd(t *testing.T) {
	if why := Unavailable(); why != "" {
		testutil.SkipMissing(t, "onnxruntime not available: "+why)
	}
	vi := func(name string) *onnx.ValueInfoProto {
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(tensor.Float32)), Shape: &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{
				{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 2}}, {Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 3}}}}}}}}
	}
	m := &onnx.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnx.GraphProto{
			Name:   proto.String("add"),
			Node:   []*onnx.NodeProto{{OpType: proto.String("Add"), Input: []string{"A", "B"}, Output: []string{"C"}}},
			Input:  []*onnx.ValueInfoProto{vi("A"), vi("B")},
			Output: []*onnx.ValueInfoProto{vi("C")},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "add.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	a := tensor.New([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	bb := tensor.New([]int{2, 3}, []float32{0.5, -2, 10, 0, 1e30, -7})
	out, err := Run(path, map[string]*tensor.Tensor{"A": a, "B": bb})
	if err != nil {
		t.Fatal(err)
	}
	c := out["C"]
	if c == nil || !tensor.SameShape(c.Shape, []int{2, 3}) {
		t.Fatalf("output %v", c)
	}
	for i, v := range c.F32() {
		if want := a.F32()[i] + bb.F32()[i]; v != want {
			t.Errorf("C[%d] = %v, want %v", i, v, want)
		}
	}
	if _, err := Run(filepath.Join(t.TempDir(), "missing.onnx"), nil); err == nil {
		t.Error("missing model: no error")
	}
}
