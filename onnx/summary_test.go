package onnx

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"google.golang.org/protobuf/proto"
)

func TestSummarizeTinyModel(t *testing.T) {
	m := tinyModel()
	m.ProducerVersion = proto.String("1.0")
	m.OpsetImport = append(m.OpsetImport, &OperatorSetIdProto{Domain: proto.String("ai.actswap"), Version: proto.Int64(1)})
	m.Graph.Node = append(m.Graph.Node, &NodeProto{OpType: proto.String("Zorro"), Domain: proto.String("ai.actswap")})
	m.Graph.Input = append(m.Graph.Input, &ValueInfoProto{Name: proto.String("W")}) // an initializer listed as input (IR 3 style)
	m.Functions = []*FunctionProto{{Domain: proto.String("ai.actswap"), Name: proto.String("ZorroFn")}}
	got := Summarize(m)
	want := Summary{
		IRVersion: 8, Producer: "actswap-test 1.0",
		Opsets:  map[string]int64{"": 17, "ai.actswap": 1},
		Inputs:  []ValueSummary{{Name: "X", DType: "float32", Shape: []any{"batch", int64(3)}}},
		Outputs: []ValueSummary{{Name: "Y", DType: "float32", Shape: []any{"batch", int64(3)}}},
		Nodes:   3, OpCounts: map[string]int{"Add": 2, "ai.actswap:Zorro": 1},
		Initializers: 2, InitializerBytes: 28,
		Functions: []string{"ai.actswap:ZorroFn"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Summarize:\n got %+v\nwant %+v", got, want)
	}
}

func TestSummarizeJSONKeys(t *testing.T) {
	b, err := json.Marshal(Summarize(tinyModel()))
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
		m, err := LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := Summarize(m)
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
