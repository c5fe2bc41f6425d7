package ops

import (
	"fmt"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// Node is what a Factory sees of a node when a session is created.
type Node struct {
	Proto   *onnx.NodeProto
	Version int // opset version in force for the node's domain
	// Const holds, per input, its value when it is known at session creation (an initializer or a
	// folded constant) and nil otherwise. Kernels may precompute from it (PWLU tables, packed
	// GEMM weights) but must not modify it.
	Const []*tensor.Tensor
	// InputTypes holds the element type of each input when the compiler knows it, else Undefined.
	InputTypes []tensor.DType
	// InputShapes holds each input's shape when the model declares it (graph input, value_info)
	// or it is a constant, with -1 for a dimension not known before Run; nil when the rank is
	// unknown. Factories use it to reject impossible inputs when the session is created.
	InputShapes [][]int
	// CompileGraph turns a graph-valued attribute (If, Loop, Scan bodies) into something runnable.
	// Values the body reads from enclosing scopes are resolved through the Context at run time.
	CompileGraph func(g *onnx.GraphProto) (Graph, error)
	attrs        map[string]*onnx.AttributeProto
}

// Graph is a compiled subgraph.
type Graph interface {
	// Run executes the graph with its formal inputs bound positionally and returns its outputs.
	Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error)
	// NumOutputs is the number of graph outputs.
	NumOutputs() int
}

// NewNode wraps a NodeProto for factories; the runtime fills the remaining fields.
func NewNode(p *onnx.NodeProto, version int) *Node {
	n := &Node{Proto: p, Version: version, attrs: map[string]*onnx.AttributeProto{}}
	for _, a := range p.Attribute {
		n.attrs[a.GetName()] = a
	}
	n.Const = make([]*tensor.Tensor, len(p.Input))
	n.InputTypes = make([]tensor.DType, len(p.Input))
	n.InputShapes = make([][]int, len(p.Input))
	return n
}

// Name, OpType and Domain forward to the proto.
func (n *Node) Name() string   { return n.Proto.GetName() }
func (n *Node) OpType() string { return n.Proto.GetOpType() }
func (n *Node) Domain() string { return n.Proto.GetDomain() }

// NumInputs counts declared inputs, including empty names for skipped optional ones.
func (n *Node) NumInputs() int { return len(n.Proto.Input) }

// NumOutputs counts declared outputs.
func (n *Node) NumOutputs() int { return len(n.Proto.Output) }

// HasInput reports whether input i is present (declared and not an empty name).
func (n *Node) HasInput(i int) bool { return i < len(n.Proto.Input) && n.Proto.Input[i] != "" }

// ConstInput returns input i's constant value: nil when the node has no such input or it is
// computed at run time.
func (n *Node) ConstInput(i int) *tensor.Tensor {
	if i < len(n.Const) {
		return n.Const[i]
	}
	return nil
}

// HasOutput reports whether output i is requested.
func (n *Node) HasOutput(i int) bool { return i < len(n.Proto.Output) && n.Proto.Output[i] != "" }

// Attr returns the raw attribute or nil.
func (n *Node) Attr(name string) *onnx.AttributeProto { return n.attrs[name] }

// HasAttr reports whether the attribute is set.
func (n *Node) HasAttr(name string) bool { return n.attrs[name] != nil }

// AttrInt returns an INT attribute or def.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.attrs[name]; a != nil {
		return a.GetI()
	}
	return def
}

// AttrFloat returns a FLOAT attribute or def.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.attrs[name]; a != nil {
		return a.GetF()
	}
	return def
}

// AttrString returns a STRING attribute or def.
func (n *Node) AttrString(name, def string) string {
	if a := n.attrs[name]; a != nil {
		return string(a.GetS())
	}
	return def
}

// AttrInts returns an INTS attribute or def.
func (n *Node) AttrInts(name string, def []int64) []int64 {
	if a := n.attrs[name]; a != nil {
		return a.GetInts()
	}
	return def
}

// AttrFloats returns a FLOATS attribute or def.
func (n *Node) AttrFloats(name string, def []float32) []float32 {
	if a := n.attrs[name]; a != nil {
		return a.GetFloats()
	}
	return def
}

// AttrStrings returns a STRINGS attribute or def.
func (n *Node) AttrStrings(name string, def []string) []string {
	a := n.attrs[name]
	if a == nil {
		return def
	}
	out := make([]string, len(a.GetStrings()))
	for i, s := range a.GetStrings() {
		out[i] = string(s)
	}
	return out
}

// AttrTensor decodes a TENSOR attribute; nil, nil when absent.
func (n *Node) AttrTensor(name string) (*tensor.Tensor, error) {
	a := n.attrs[name]
	if a == nil || a.GetT() == nil {
		return nil, nil
	}
	t, err := tensor.FromProto(a.GetT())
	if err != nil {
		return nil, fmt.Errorf("attribute %q: %w", name, err)
	}
	return t, nil
}

// AttrGraph returns a GRAPH attribute or nil.
func (n *Node) AttrGraph(name string) *onnx.GraphProto {
	if a := n.attrs[name]; a != nil {
		return a.GetG()
	}
	return nil
}
