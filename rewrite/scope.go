package rewrite

import (
	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
)

// scopeGraph is one graph an activation can hide in: the main graph, an If/Loop/Scan body (at any
// depth), or a model-local function's body. Sites are found and replaced in each alone; a
// function is one scope however many times it is called, so its sites get one parameter set.
type scopeGraph struct {
	scope string           // onnx scope name ("" for the main graph)
	g     *onnx.GraphProto // the graph; for a function, a graph around its body (functionGraph)
	fn    *onnx.FunctionProto
}

// scopes lists m's graphs, each enclosing graph before the graphs inside it: the main graph and
// its subgraphs, then every model-local function and its subgraphs. The ai.actswap functions
// (the bodies of the replacement operators) are left out.
func scopes(m *onnx.ModelProto) []scopeGraph {
	var out []scopeGraph
	skip := false // inside an ai.actswap function
	onnx.WalkScopes(m, func(scope string, g *onnx.GraphProto, f *onnx.FunctionProto) {
		if f != nil {
			if skip = f.GetDomain() == onnxops.Domain; !skip {
				out = append(out, scopeGraph{scope: scope, g: functionGraph(f), fn: f})
			}
			return
		}
		if !skip {
			out = append(out, scopeGraph{scope: scope, g: g})
		}
	})
	return out
}

// scopeViews indexes every scope's graph, each subgraph's view linked to its enclosing graph's, so
// that a value a body reads from outside (x of a GELU inside a Loop body, say) has the type the
// enclosing graph declares.
func scopeViews(scs []scopeGraph) []*graphView {
	views := make([]*graphView, len(scs))
	byGraph := map[*onnx.GraphProto]*graphView{}
	for i, sc := range scs {
		views[i] = newGraphView(sc.g)
		byGraph[sc.g] = views[i]
	}
	for i, sc := range scs {
		for _, n := range sc.g.GetNode() {
			onnx.Subgraphs(n, func(_ string, _ int, sub *onnx.GraphProto) {
				if child := byGraph[sub]; child != nil {
					child.parent = views[i]
				}
			})
		}
	}
	return views
}

// functionGraph wraps a function body in a graph whose inputs and outputs are the function's
// formal ones (untyped), so that the matcher and the surgery work on it as on any graph. The
// nodes are shared with f; storeFunctionBody writes an edited node list back.
func functionGraph(f *onnx.FunctionProto) *onnx.GraphProto {
	g := &onnx.GraphProto{Name: proto.String(f.GetName()), Node: f.GetNode()}
	for _, in := range f.GetInput() {
		g.Input = append(g.Input, &onnx.ValueInfoProto{Name: proto.String(in)})
	}
	for _, o := range f.GetOutput() {
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: proto.String(o)})
	}
	return g
}

// storeFunctionBody writes the edited body back into the function and, when ai.actswap nodes were
// added, imports ai.actswap there: a function body resolves operators through its own
// opset_import, not the model's.
func (s scopeGraph) storeFunctionBody(replaced bool) {
	s.fn.Node = s.g.Node
	if !replaced {
		return
	}
	for _, o := range s.fn.GetOpsetImport() {
		if o.GetDomain() == onnxops.Domain {
			return
		}
	}
	s.fn.OpsetImport = append(s.fn.OpsetImport, &onnx.OperatorSetIdProto{Domain: proto.String(onnxops.Domain), Version: proto.Int64(onnxops.Version)})
}

// constantNode turns a parameter tensor into a Constant node: a function body has no initializers,
// and a Constant keeps the parameters inside the function, fixed for every call (as the sites of
// one function share their parameters); function inputs would change every call site instead.
func constantNode(t *onnx.TensorProto, nodeName string) *onnx.NodeProto {
	return &onnx.NodeProto{
		Name:   proto.String(nodeName),
		OpType: proto.String("Constant"),
		Output: []string{t.GetName()},
		Attribute: []*onnx.AttributeProto{{
			Name: proto.String("value"),
			Type: onnx.AttributeProto_TENSOR.Enum(),
			T:    t,
		}},
	}
}
