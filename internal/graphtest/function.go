package graphtest

import (
	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
)

// Ref is an attribute value inside a function body that refers to the calling node's attribute
// of that name (AttributeProto.ref_attr_name), as onnxscript's torch_lib functions use.
type Ref struct {
	Name string
	Type onnx.AttributeProto_AttributeType
}

// Function turns a builder's nodes into a model-local function domain.name with the given formal
// inputs, outputs and attribute names; the builder's opset imports become the function's. The
// builder's graph inputs, outputs and initializers are ignored (functions have none: use
// Constant nodes).
func (b *Builder) Function(domain, name string, inputs, outputs, attrs []string) *onnx.FunctionProto {
	f := &onnx.FunctionProto{Name: proto.String(name), Domain: proto.String(domain), Input: inputs, Output: outputs,
		Attribute: attrs, Node: b.g.Node}
	for _, d := range b.order {
		f.OpsetImport = append(f.OpsetImport, &onnx.OperatorSetIdProto{Domain: proto.String(d), Version: proto.Int64(b.opsets[d])})
	}
	return f
}

// AddFunction attaches f to the model the builder makes and imports its domain.
func (b *Builder) AddFunction(f *onnx.FunctionProto) {
	b.functions = append(b.functions, f)
	if _, ok := b.opsets[f.GetDomain()]; !ok {
		b.Opset(f.GetDomain(), 1)
	}
}
