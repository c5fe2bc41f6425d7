package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"google.golang.org/protobuf/proto"
)

func TestSummarizeTinyModel(t *testing.T) {
	m := tinyModel()
	m.ProducerVersion = proto.String("1.0")
	m.OpsetImport = append(m.OpsetImport, &onnx.OperatorSetIdProto{Domain: proto.String("ai.actswap"), Version: proto.Int64(1)})
	m.Graph.Node = append(m.Graph.Node, &onnx.NodeProto{OpType: proto.String("Zorro"), Domain: proto.String("ai.actswap")})
	m.Graph.Input = append(m.Graph.Input, &onnx.ValueInfoProto{Name: proto.String("W")}) // an initializer listed as input (IR 3 style)
	m.Functions = []*onnx.FunctionProto{{Domain: proto.String("ai.actswap"), Name: proto.String("ZorroFn")}}
	got := summarize(m)
	want := summaryInfo{
		IRVersion: 8, Producer: "actswap-test 1.0",
		Opsets:  map[string]int64{"": 17, "ai.actswap": 1},
		Inputs:  []valueSummary{{Name: "X", DType: "float32", Shape: []any{"batch", int64(3)}}},
		Outputs: []valueSummary{{Name: "Y", DType: "float32", Shape: []any{"batch", int64(3)}}},
		Nodes:   3, OpCounts: map[string]int{"Add": 2, "ai.actswap:Zorro": 1},
		Initializers: 2, InitializerBytes: 28,
		Functions: []string{"ai.actswap:ZorroFn"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summarize:\n got %+v\nwant %+v", got, want)
	}
}

func TestSummarizeJSONKeys(t *testing.T) {
	b, err := json.Marshal(summarize(tinyModel()))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ir_version", "producer", "opsets", "inputs", "outputs", "nodes", "op_counts", "initializers", "initializer_bytes", "functions"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON summary lacks %q: %s", k, b)
		}
	}
	if len(keys) != 10 {
		t.Errorf("JSON summary has %d keys, want 10 (activations omitted when empty): %s", len(keys), b)
	}
}

// Figures checked against the reference models' README (activation sites, opsets, dynamic batch).
func TestSummarizeReferenceModels(t *testing.T) {
	models := testutil.SharedPath(t, "models")
	cases := []struct {
		name           string
		nodes, opset   int
		ops            map[string]int
		inShape        []any
		initializerMin int64
	}{
		{"resnet18", 65, 17, map[string]int{"Relu": 17, "Conv": 20}, []any{"batch", int64(3), int64(224), int64(224)}, 40 << 20},
		{"digits_cnn", -1, 17, map[string]int{"Relu": 3}, []any{"batch", int64(1), int64(8), int64(8)}, 1000},
		{"digits_mlp_gelu_op20", -1, 20, map[string]int{"Gelu": 2}, nil, 1000},
		{"digits_vit_op20", -1, 20, map[string]int{"Gelu": 2}, nil, 1000},
	}
	for _, c := range cases {
		path := filepath.Join(models, c.name, "model.onnx")
		m, err := onnx.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := summarize(m)
		if c.nodes >= 0 && s.Nodes != c.nodes {
			t.Errorf("%s: %d nodes, want %d", c.name, s.Nodes, c.nodes)
		}
		if s.Opsets[""] != int64(c.opset) {
			t.Errorf("%s: default opset %d, want %d", c.name, s.Opsets[""], c.opset)
		}
		for op, n := range c.ops {
			if s.OpCounts[op] != n {
				t.Errorf("%s: %d %s, want %d", c.name, s.OpCounts[op], op, n)
			}
		}
		if len(s.Inputs) != 1 || (c.inShape != nil && !reflect.DeepEqual(s.Inputs[0].Shape, c.inShape)) {
			t.Errorf("%s: inputs %+v, want one of shape %v", c.name, s.Inputs, c.inShape)
		}
		if s.InitializerBytes < c.initializerMin || s.Initializers == 0 {
			t.Errorf("%s: %d initializers, %d bytes", c.name, s.Initializers, s.InitializerBytes)
		}
	}
}

// tinyModel (as in package onnx's tests) is Y = X + W with W a 2×3 float initializer (24 bytes) and a 1-element bias B.
func tinyModel() *onnx.ModelProto {
	f32 := int32(onnx.TensorProto_FLOAT)
	vi := func(name string) *onnx.ValueInfoProto {
		return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(f32), Shape: &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{
				{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
				{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 3}},
			}}},
		}}}
	}
	return &onnx.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("actswap-test"),
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnx.GraphProto{
			Name: proto.String("tiny"),
			Node: []*onnx.NodeProto{
				{OpType: proto.String("Add"), Input: []string{"X", "W"}, Output: []string{"S"}},
				{OpType: proto.String("Add"), Input: []string{"S", "B"}, Output: []string{"Y"}},
			},
			Initializer: []*onnx.TensorProto{
				{Name: proto.String("W"), DataType: proto.Int32(f32), Dims: []int64{2, 3}, RawData: bytes.Repeat([]byte{0, 0, 0x80, 0x3f}, 6)},
				{Name: proto.String("B"), DataType: proto.Int32(f32), Dims: []int64{1}, RawData: []byte{0, 0, 0, 0x40}},
			},
			Input:  []*onnx.ValueInfoProto{vi("X")},
			Output: []*onnx.ValueInfoProto{vi("Y")},
		},
	}
}
