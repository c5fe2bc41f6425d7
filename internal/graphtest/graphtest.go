// Package graphtest builds ONNX models in Go tests: graph inputs with symbolic dimensions,
// initializers, Constant nodes, nodes of any domain with attributes, and opset imports. It exists
// so differential tests can write exporter-shaped graphs (BERT, GPT-2, dynamo, CNN) compactly and
// run them in actswap and onnxruntime alike. It is for tests only; nothing here validates a graph
// beyond what the proto needs.
package graphtest

import (
	"fmt"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// Builder accumulates one graph. Value names it invents are unique ("MatMul_3").
type Builder struct {
	g         *onnx.GraphProto
	opsets    map[string]int64
	order     []string // opset domains in first-use order, for a stable model
	next      *int     // shared with Body builders: a subgraph must not reuse its enclosing graph's names
	ir        int64
	functions []*onnx.FunctionProto
}

// New starts a graph importing the default ONNX domain at opset.
func New(name string, opset int) *Builder {
	b := &Builder{g: &onnx.GraphProto{Name: proto.String(name)}, opsets: map[string]int64{}, ir: 8, next: new(int)}
	b.Opset("", opset)
	return b
}

// Opset imports domain at version (replacing an earlier version of the same domain).
func (b *Builder) Opset(domain string, version int) *Builder {
	if _, ok := b.opsets[domain]; !ok {
		b.order = append(b.order, domain)
	}
	b.opsets[domain] = int64(version)
	if version >= 21 && domain == "" {
		b.ir = max(b.ir, 10)
	}
	return b
}

// IR sets the model's IR version (default 8, 10 from opset 21).
func (b *Builder) IR(v int) *Builder { b.ir = int64(v); return b }

// Input declares a graph input. Each dim is an int (fixed size), a string (a symbolic dimension
// such as "batch") or nil (unknown).
func (b *Builder) Input(name string, dt tensor.DType, dims ...any) string {
	b.g.Input = append(b.g.Input, ValueInfo(name, dt, dims...))
	return name
}

// Output declares value as a graph output.
func (b *Builder) Output(value string, dt tensor.DType, dims ...any) {
	b.g.Output = append(b.g.Output, ValueInfo(value, dt, dims...))
}

// ValueInfo describes a tensor value; dims as for Input. No dims declares a scalar; AnyRank as the
// only dim declares a tensor of unknown rank.
func ValueInfo(name string, dt tensor.DType, dims ...any) *onnx.ValueInfoProto {
	tt := &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(dt))}
	if len(dims) != 1 || dims[0] != AnyRank {
		shape := &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{}}
		for _, d := range dims {
			dim := &onnx.TensorShapeProto_Dimension{}
			switch v := d.(type) {
			case int:
				dim.Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}
			case string:
				dim.Value = &onnx.TensorShapeProto_Dimension_DimParam{DimParam: v}
			case nil:
			default:
				panic(fmt.Sprintf("graphtest: dim %v of %q is a %T (want int, string or nil)", d, name, d))
			}
			shape.Dim = append(shape.Dim, dim)
		}
		tt.Shape = shape
	}
	return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: tt}}}
}

// AnyRank as the only dim of Input/Output/ValueInfo declares a tensor of unknown rank.
const AnyRank = anyRank(0)

type anyRank int

// Init adds t as an initializer and returns its name (a fresh one when name is "").
func (b *Builder) Init(name string, t *tensor.Tensor) string {
	if name == "" {
		name = b.fresh("init")
	}
	b.g.Initializer = append(b.g.Initializer, tensor.ToProto(t, name))
	return name
}

// F32 adds a float32 initializer of the given shape.
func (b *Builder) F32(shape []int, vals ...float32) string {
	return b.Init("", tensor.New(shape, vals))
}

// I64 adds a 1-D int64 initializer.
func (b *Builder) I64(vals ...int64) string {
	return b.Init("", tensor.New([]int{len(vals)}, vals))
}

// Const adds a Constant node holding t (its value attribute) and returns its output.
func (b *Builder) Const(t *tensor.Tensor) string {
	return b.Op("Constant", nil, Attr{Name: "value", Value: t})
}

// ConstF32 is a Constant node holding a float32 scalar.
func (b *Builder) ConstF32(v float32) string { return b.Const(tensor.Scalar(v)) }

// ConstI64 is a Constant node holding a 1-D int64 tensor.
func (b *Builder) ConstI64(vals ...int64) string {
	return b.Const(tensor.New([]int{len(vals)}, vals))
}

// ConstScalarI64 is a Constant node holding an int64 scalar.
func (b *Builder) ConstScalarI64(v int64) string { return b.Const(tensor.Scalar(v)) }

// Attr is one node attribute. Value is int, int64, float32, float64, string, []int64, []float32,
// []string, *tensor.Tensor or *onnx.GraphProto.
type Attr struct {
	Name  string
	Value any
}

// A is shorthand for Attr{name, value}.
func A(name string, value any) Attr { return Attr{Name: name, Value: value} }

// Op adds a default-domain node with one output and returns that output.
func (b *Builder) Op(op string, inputs []string, attrs ...Attr) string {
	return b.Node("", op, inputs, 1, attrs...)[0]
}

// Node adds a node of domain with nOut outputs and returns them.
func (b *Builder) Node(domain, op string, inputs []string, nOut int, attrs ...Attr) []string {
	return b.NamedNode(b.fresh(op), domain, op, inputs, nOut, attrs...)
}

// NamedNode is Node with the node's name given (its outputs are NAME_out0, …).
func (b *Builder) NamedNode(name, domain, op string, inputs []string, nOut int, attrs ...Attr) []string {
	outs := make([]string, nOut)
	for i := range outs {
		outs[i] = fmt.Sprintf("%s_out%d", name, i)
	}
	n := &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: inputs, Output: outs}
	if domain != "" {
		n.Domain = proto.String(domain)
		if _, ok := b.opsets[domain]; !ok {
			b.Opset(domain, 1)
		}
	}
	for _, a := range attrs {
		n.Attribute = append(n.Attribute, attribute(a))
	}
	b.g.Node = append(b.g.Node, n)
	return outs
}

func attribute(a Attr) *onnx.AttributeProto {
	p := &onnx.AttributeProto{Name: proto.String(a.Name)}
	switch v := a.Value.(type) {
	case int:
		p.Type, p.I = onnx.AttributeProto_INT.Enum(), proto.Int64(int64(v))
	case int64:
		p.Type, p.I = onnx.AttributeProto_INT.Enum(), proto.Int64(v)
	case float32:
		p.Type, p.F = onnx.AttributeProto_FLOAT.Enum(), proto.Float32(v)
	case float64:
		p.Type, p.F = onnx.AttributeProto_FLOAT.Enum(), proto.Float32(float32(v))
	case string:
		p.Type, p.S = onnx.AttributeProto_STRING.Enum(), []byte(v)
	case []int64:
		p.Type, p.Ints = onnx.AttributeProto_INTS.Enum(), v
	case []float32:
		p.Type, p.Floats = onnx.AttributeProto_FLOATS.Enum(), v
	case []string:
		p.Type = onnx.AttributeProto_STRINGS.Enum()
		for _, s := range v {
			p.Strings = append(p.Strings, []byte(s))
		}
	case *tensor.Tensor:
		p.Type, p.T = onnx.AttributeProto_TENSOR.Enum(), tensor.ToProto(v, "")
	case *onnx.GraphProto:
		p.Type, p.G = onnx.AttributeProto_GRAPH.Enum(), v
	case Ref:
		p.Type, p.RefAttrName = v.Type.Enum(), proto.String(v.Name)
	default:
		panic(fmt.Sprintf("graphtest: attribute %q has unsupported type %T", a.Name, a.Value))
	}
	return p
}

func (b *Builder) fresh(base string) string {
	*b.next++
	return fmt.Sprintf("%s_%d", base, *b.next)
}

// Body starts a subgraph (an If/Loop/Scan body) whose invented names stay distinct from b's; its
// nodes use b's opset imports. Graph returns it, to pass as a graph attribute (Attr value
// *onnx.GraphProto).
func (b *Builder) Body(name string) *Builder {
	return &Builder{g: &onnx.GraphProto{Name: proto.String(name)}, opsets: b.opsets, ir: b.ir, next: b.next}
}

// Graph returns the builder's graph itself (for a Body: the subgraph).
func (b *Builder) Graph() *onnx.GraphProto { return b.g }

// Model returns the model (the builder's graph itself, not a copy).
func (b *Builder) Model() *onnx.ModelProto {
	m := &onnx.ModelProto{IrVersion: proto.Int64(b.ir), ProducerName: proto.String("graphtest"), Graph: b.g, Functions: b.functions}
	for _, d := range b.order {
		m.OpsetImport = append(m.OpsetImport, &onnx.OperatorSetIdProto{Domain: proto.String(d), Version: proto.Int64(b.opsets[d])})
	}
	return m
}

// Save writes m under t's temporary directory as name.onnx and returns the path.
func Save(t testing.TB, m *onnx.ModelProto, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".onnx")
	if err := onnx.SaveFile(m, path); err != nil {
		t.Fatalf("save %s: %v", name, err)
	}
	return path
}
