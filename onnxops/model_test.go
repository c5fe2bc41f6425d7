package onnxops

import (
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

func TestAttachFunctions(t *testing.T) {
	t.Parallel()
	m := &onnx.ModelProto{
		IrVersion:   proto.Int64(7),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(18)}},
		Graph:       &onnx.GraphProto{},
	}
	if err := AttachFunctions(m, FamilyPWLU, FamilyZorro); err != nil {
		t.Fatal(err)
	}
	if err := AttachFunctions(m, FamilyPWLU, FamilyCRReLU); err != nil {
		t.Fatal(err)
	}
	if m.GetIrVersion() != MinIRVersion || len(m.Functions) != 3 || len(m.OpsetImport) != 2 {
		t.Fatalf("ir %d, %d functions, imports %v", m.GetIrVersion(), len(m.Functions), m.OpsetImport)
	}
	for _, f := range m.Functions {
		if f.GetDomain() != Domain || f.OpsetImport[0].GetVersion() != 18 {
			t.Errorf("function %s: domain %q, opset %v", f.GetName(), f.GetDomain(), f.OpsetImport)
		}
	}
	newer := &onnx.ModelProto{IrVersion: proto.Int64(11), OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(21)}}}
	if err := AttachFunctions(newer, FamilyCRReLU); err != nil || newer.GetIrVersion() != 11 {
		t.Fatalf("IR 11 model: %v, ir %d", err, newer.GetIrVersion())
	}
	wrong := &onnx.ModelProto{OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}, {Domain: proto.String(Domain), Version: proto.Int64(2)}}}
	if err := AttachFunctions(wrong, FamilyCRReLU); err == nil {
		t.Error("ai.actswap version 2: no error")
	}
	// Opset 13 needs the parameter type from the graph.
	old, err := SingleNodeModel(FamilyCRReLU, []Params{CRReLUParams{0.1}}, tensor.Float64, []int{4}, 1)
	if err != nil {
		t.Fatal(err)
	}
	old.OpsetImport[0].Version = proto.Int64(13)
	old.Functions = nil
	if err := AttachFunctions(old, FamilyCRReLU); err != nil {
		t.Fatal(err)
	}
	if err := AttachFunctions(&onnx.ModelProto{OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}}, Graph: &onnx.GraphProto{}}, FamilyPWLU); err == nil {
		t.Error("opset 13 without parameters: no error")
	}
}

func TestNewNodeProto(t *testing.T) {
	t.Parallel()
	n, err := NewNodeProto(FamilyZorro, "z", "x", "y", []string{"p"}, -1, true)
	if err != nil || n.GetDomain() != Domain || len(n.Attribute) != 2 || n.Attribute[1].GetI() != 1 {
		t.Fatalf("%v %v", n, err)
	}
	if _, err := NewNodeProto(FamilyPWLU, "p", "x", "y", []string{"b"}, 1, false); err == nil {
		t.Error("PWLU with one parameter input: no error")
	}
	if _, err := NewNodeProto(FamilyCRReLU, "c", "x", "y", []string{"e"}, 1, true); err == nil {
		t.Error("CRReLU with gate: no error")
	}
}

// TestRequiredIRVersion pins the IR-version policy for model-local functions (onnx.proto: functions
// arrived in IR 8, attribute_proto in 9, overload in 10).
func TestRequiredIRVersion(t *testing.T) {
	t.Parallel()
	plain := &onnx.FunctionProto{Name: proto.String("f")}
	withAttr := &onnx.FunctionProto{Name: proto.String("g"), AttributeProto: []*onnx.AttributeProto{{Name: proto.String("a")}}}
	overloaded := &onnx.FunctionProto{Name: proto.String("h"), Overload: proto.String("v2")}
	for _, c := range []struct {
		fs   []*onnx.FunctionProto
		want int64
	}{
		{nil, 0},
		{[]*onnx.FunctionProto{plain}, 8},
		{[]*onnx.FunctionProto{plain, withAttr}, 9},
		{[]*onnx.FunctionProto{overloaded, plain}, 10},
	} {
		if got := RequiredIRVersion(c.fs); got != c.want {
			t.Errorf("RequiredIRVersion(%d functions) = %d, want %d", len(c.fs), got, c.want)
		}
	}
}
