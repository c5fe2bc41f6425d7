package onnx

import (
	"fmt"
	"strings"
)

// A scope names a graph of a model that nodes live in: "" for the main graph, the body of an
// If/Loop/Scan attribute, or a model-local function's body. The rewriter reports activation sites
// and the runtime's value watch resolves values by the same scope strings, so both are built here.
//
//	""                                  the main graph
//	Loop "/loop"/body                   the body of node "/loop" of the main graph
//	Loop "/loop"/body/If "/if"/then_branch
//	function local.MLP                  the body of model-local function MLP of domain "local"
//	function local.MLP/Loop "l"/body    a Loop body inside that function
//
// A function is one scope wherever it is called from: it has one body, however many call sites.

// SubgraphScope names the graph held by attribute attr of a node (op type opType, name nodeName)
// of scope parent. index is the graph's position in a list-valued (GRAPHS) attribute, or -1 for a
// single graph.
func SubgraphScope(parent, opType, nodeName, attr string, index int) string {
	s := fmt.Sprintf("%s %q/%s", opType, nodeName, attr)
	if index >= 0 {
		s += fmt.Sprintf("[%d]", index)
	}
	return ScopedName(parent, s)
}

// FunctionScope names the body of a model-local function: "function DOMAIN.NAME", with
// ":OVERLOAD" appended when the function has an overload.
func FunctionScope(f *FunctionProto) string {
	s := "function " + DomainDisplayName(f.GetDomain()) + "." + f.GetName()
	if f.GetOverload() != "" {
		s += ":" + f.GetOverload()
	}
	return s
}

// ScopedName is a name inside a scope as reports show it: the name itself in the main graph,
// "SCOPE/NAME" elsewhere.
func ScopedName(scope, name string) string {
	if scope == "" {
		return name
	}
	return scope + "/" + name
}

// SplitScopedName undoes ScopedName for a name known to lie in scope: it returns the name inside
// the scope, and false when scoped is not a name of that scope.
func SplitScopedName(scope, scoped string) (string, bool) {
	if scope == "" {
		return scoped, true
	}
	return strings.CutPrefix(scoped, scope+"/")
}

// Subgraphs calls fn for each graph attribute of n, with its attribute name and index (-1 for a
// single-graph attribute).
func Subgraphs(n *NodeProto, fn func(attr string, index int, g *GraphProto)) {
	for _, a := range n.GetAttribute() {
		if a.GetG() != nil {
			fn(a.GetName(), -1, a.GetG())
		}
		for i, g := range a.GetGraphs() {
			fn(a.GetName(), i, g)
		}
	}
}

// WalkScopes calls fn for every scope of m, each enclosing graph before the graphs inside it: the
// main graph and its subgraphs (g set, f nil), then each model-local function (f set, g nil) and
// the subgraphs of its body (g set).
func WalkScopes(m *ModelProto, fn func(scope string, g *GraphProto, f *FunctionProto)) {
	var graph func(scope string, g *GraphProto)
	nodes := func(scope string, ns []*NodeProto) {
		for _, n := range ns {
			Subgraphs(n, func(attr string, index int, sub *GraphProto) {
				graph(SubgraphScope(scope, n.GetOpType(), n.GetName(), attr, index), sub)
			})
		}
	}
	graph = func(scope string, g *GraphProto) {
		fn(scope, g, nil)
		nodes(scope, g.GetNode())
	}
	if m.GetGraph() != nil {
		graph("", m.GetGraph())
	}
	for _, f := range m.GetFunctions() {
		scope := FunctionScope(f)
		fn(scope, nil, f)
		nodes(scope, f.GetNode())
	}
}
