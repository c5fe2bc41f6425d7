package runtime

import (
	"fmt"
	"strings"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"google.golang.org/protobuf/proto"
)

// maxInlineDepth stops a function that (directly or not) calls itself.
const maxInlineDepth = 32

// expandedNode is a node after function inlining, with the opset versions in force for it: a
// function body uses the function's own opset_import, which may differ from the model's.
type expandedNode struct {
	proto  *onnx.NodeProto
	opsets map[string]int
	// scope says where the node was defined (an onnx scope name): the graph being compiled, or the
	// body of the function it was inlined from; via is that inlining (nil for the graph's own
	// nodes), which renamed the node and its values. Its subgraphs' scopes are named from them,
	// as the rewriter names them.
	scope string
	via   *inlining
}

// definedName is the node's name where it was defined.
func (e expandedNode) definedName() string {
	if e.via == nil {
		return e.proto.GetName()
	}
	return strings.TrimPrefix(e.proto.GetName(), e.via.prefix)
}

// inlining is one call of a model-local function inlined into a graph: which function (its onnx
// scope) and how the body's value names became the graph's.
type inlining struct {
	scope  string
	rename map[string]string // formal inputs and outputs → the call's values
	prefix string            // every other body value: prefix + name
}

// valueName is the graph's name for the body value name (name itself without an inlining).
func (in *inlining) valueName(name string) string {
	if in == nil {
		return name
	}
	if r, ok := in.rename[name]; ok {
		return r
	}
	return in.prefix + name
}

// expand replaces calls to model-local functions by the functions' bodies, appending each call to
// inlined. A node keeps its registered kernel when there is one (unless WithFunctionBodies): a
// function is the fallback, as ONNX intends.
// scope and via describe protos' origin (see expandedNode).
func (c *compiler) expand(protos []*onnx.NodeProto, opsets map[string]int, scope string, via *inlining, depth int, inlined *[]*inlining) ([]expandedNode, error) {
	var out []expandedNode
	for _, p := range protos {
		f := c.functions[functionKey(p.GetDomain(), p.GetOpType(), p.GetOverload())]
		if f == nil || (!c.preferFunctions && hasKernel(p, opsets)) {
			out = append(out, expandedNode{proto: p, opsets: opsets, scope: scope, via: via})
			continue
		}
		if depth >= maxInlineDepth {
			return nil, nodeError(p, "local function %q nests deeper than %d calls (recursive?)", f.GetName(), maxInlineDepth)
		}
		body, fnOpsets, in, err := c.inline(p, f, opsets)
		if err != nil {
			return nil, nodeError(p, "inlining local function %q: %v", f.GetName(), err)
		}
		*inlined = append(*inlined, in)
		nested, err := c.expand(body, fnOpsets, in.scope, in, depth+1, inlined)
		if err != nil {
			return nil, err
		}
		out = append(out, nested...)
	}
	return out, nil
}

func hasKernel(p *onnx.NodeProto, opsets map[string]int) bool {
	domain := onnx.CanonicalDomain(p.GetDomain())
	v, ok := opsets[domain]
	if !ok {
		return false
	}
	_, ok = ops.Lookup(domain, p.GetOpType(), v)
	return ok
}

// inline returns copies of f's nodes for one call: formal inputs and outputs become the call's
// actual values, every other value and node gets a prefix unique to this call, and attribute
// references (ref_attr_name) take the call's attribute or the function's default.
func (c *compiler) inline(call *onnx.NodeProto, f *onnx.FunctionProto, opsets map[string]int) ([]*onnx.NodeProto, map[string]int, *inlining, error) {
	if len(call.GetInput()) > len(f.GetInput()) {
		return nil, nil, nil, fmt.Errorf("call has %d inputs, function takes %d", len(call.GetInput()), len(f.GetInput()))
	}
	if len(call.GetOutput()) > len(f.GetOutput()) {
		return nil, nil, nil, fmt.Errorf("call has %d outputs, function has %d", len(call.GetOutput()), len(f.GetOutput()))
	}
	fnOpsets, err := opsetMap(f.GetOpsetImport(), opsets)
	if err != nil {
		return nil, nil, nil, err
	}
	c.inlined++
	prefix := fmt.Sprintf("%s#%d/", f.GetName(), c.inlined)
	rename := map[string]string{"": ""}
	for i, formal := range f.GetInput() {
		actual := ""
		if i < len(call.GetInput()) {
			actual = call.GetInput()[i]
		}
		rename[formal] = actual
	}
	for i, formal := range f.GetOutput() {
		if i < len(call.GetOutput()) && call.GetOutput()[i] != "" {
			rename[formal] = call.GetOutput()[i]
		}
	}
	renamed := func(name string) string {
		if r, ok := rename[name]; ok {
			return r
		}
		return prefix + name
	}

	attrs := map[string]*onnx.AttributeProto{}
	for _, a := range f.GetAttributeProto() {
		attrs[a.GetName()] = a
	}
	for _, a := range call.GetAttribute() {
		attrs[a.GetName()] = a
	}
	known := map[string]bool{}
	for _, name := range f.GetAttribute() {
		known[name] = true
	}
	for _, a := range f.GetAttributeProto() {
		known[a.GetName()] = true
	}
	for _, a := range call.GetAttribute() {
		if !known[a.GetName()] {
			return nil, nil, nil, fmt.Errorf("attribute %q is not a parameter of the function", a.GetName())
		}
	}

	body := make([]*onnx.NodeProto, len(f.GetNode()))
	for i, n := range f.GetNode() {
		body[i] = renameNode(n, renamed, prefix, attrs)
	}
	return body, fnOpsets, &inlining{scope: onnx.FunctionScope(f), rename: rename, prefix: prefix}, nil
}

// renameNode copies n with every value name mapped through renamed, including inside subgraphs,
// and attribute references bound from attrs (a reference with no binding drops the attribute).
func renameNode(n *onnx.NodeProto, renamed func(string) string, prefix string, attrs map[string]*onnx.AttributeProto) *onnx.NodeProto {
	m := proto.Clone(n).(*onnx.NodeProto)
	if m.Name != nil {
		m.Name = proto.String(prefix + m.GetName())
	}
	for i, in := range m.Input {
		m.Input[i] = renamed(in)
	}
	for i, out := range m.Output {
		m.Output[i] = renamed(out)
	}
	var kept []*onnx.AttributeProto
	for _, a := range m.Attribute {
		if ref := a.GetRefAttrName(); ref != "" {
			bound := attrs[ref]
			if bound == nil {
				continue
			}
			b := proto.Clone(bound).(*onnx.AttributeProto)
			b.Name = proto.String(a.GetName())
			a = b
		}
		if a.GetG() != nil {
			renameGraph(a.G, renamed, prefix, attrs)
		}
		for _, sub := range a.GetGraphs() {
			renameGraph(sub, renamed, prefix, attrs)
		}
		kept = append(kept, a)
	}
	m.Attribute = kept
	return m
}

// renameGraph renames, in place, the values of a subgraph inside an inlined function body. Its
// own values get the prefix too, so they cannot clash with the caller's.
func renameGraph(g *onnx.GraphProto, renamed func(string) string, prefix string, attrs map[string]*onnx.AttributeProto) {
	for _, vi := range g.Input {
		vi.Name = proto.String(renamed(vi.GetName()))
	}
	for _, vi := range g.Output {
		vi.Name = proto.String(renamed(vi.GetName()))
	}
	for _, vi := range g.ValueInfo {
		vi.Name = proto.String(renamed(vi.GetName()))
	}
	for _, tp := range g.Initializer {
		tp.Name = proto.String(renamed(tp.GetName()))
	}
	for i, n := range g.Node {
		g.Node[i] = renameNode(n, renamed, prefix, attrs)
	}
}
