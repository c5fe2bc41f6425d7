package calibrate

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// Sequential calibration scores candidate parameters of one site by the model's outputs. Re-running
// the whole model per candidate would repeat the part above the site every time, so the graph is
// cut at the site's output: the upstream part (every node the site's output depends on) runs once
// per batch in the partly rewritten model, and a "tail" model made of the remaining nodes takes the
// values crossing the cut as graph inputs, the site's output among them.

// graphCut is the tail of a graph below one value.
type graphCut struct {
	tail *onnx.ModelProto
	// feeds are the values the tail takes from upstream (or from the model's inputs), the cut
	// value itself among them.
	feeds []string
	// outputs are the graph outputs the tail computes; outputs that do not depend on the cut
	// value are left out (no candidate changes them).
	outputs []string
}

// referencedNames lists every value name a node reads, including the outer-scope values its
// subgraphs (If, Loop, Scan bodies) read.
func referencedNames(n *onnx.NodeProto, into map[string]bool) {
	for _, in := range n.GetInput() {
		if in != "" {
			into[in] = true
		}
	}
	for _, a := range n.GetAttribute() {
		graphs := a.GetGraphs()
		if a.GetG() != nil {
			graphs = append(graphs, a.GetG())
		}
		for _, g := range graphs {
			for _, sub := range g.GetNode() {
				referencedNames(sub, into)
			}
		}
	}
}

// cutBelow builds the tail of m below value cut: the nodes that cut does not depend on, fed with
// the values they read from the nodes it does depend on (and the model's own inputs). dtypes gives
// the element type of each value that may become a tail input (observed on a batch).
func cutBelow(m *onnx.ModelProto, cut string, dtypes func(name string) (tensor.DType, bool)) (*graphCut, error) {
	g := m.GetGraph()
	nodes := g.GetNode()
	producer := map[string]int{}
	for i, n := range nodes {
		for _, out := range n.GetOutput() {
			if out != "" {
				producer[out] = i
			}
		}
	}
	if _, ok := producer[cut]; !ok {
		return nil, fmt.Errorf("no node produces %q", cut)
	}
	// upstream: every node cut depends on (including the one producing it).
	upstream := map[int]bool{}
	stack := []int{producer[cut]}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if upstream[i] {
			continue
		}
		upstream[i] = true
		refs := map[string]bool{}
		referencedNames(nodes[i], refs)
		for name := range refs {
			if j, ok := producer[name]; ok && !upstream[j] {
				stack = append(stack, j)
			}
		}
	}
	initializers := map[string]bool{}
	for _, t := range g.GetInitializer() {
		initializers[t.GetName()] = true
	}
	tail := &onnx.GraphProto{Name: proto.String(g.GetName() + "_tail"), Initializer: g.GetInitializer(), SparseInitializer: g.GetSparseInitializer()}
	needed := map[string]bool{}
	var feeds []string
	feed := func(name string) {
		if needed[name] || initializers[name] {
			return
		}
		if j, ok := producer[name]; ok && !upstream[j] {
			return // computed by the tail itself
		}
		needed[name] = true
		feeds = append(feeds, name)
	}
	feed(cut)
	for i, n := range nodes {
		if upstream[i] {
			continue
		}
		tail.Node = append(tail.Node, n)
		refs := map[string]bool{}
		referencedNames(n, refs)
		// Feed in the node's input order first, so that the tail's inputs come in a stable order.
		for _, in := range n.GetInput() {
			if in != "" {
				feed(in)
			}
		}
		for name := range refs {
			if !needed[name] {
				// Outer-scope references of subgraphs: a subgraph's own values are produced
				// inside it and never by a main-graph node, so only main-graph values matter.
				if _, isMain := producer[name]; isMain || isGraphInput(g, name) {
					feed(name)
				}
			}
		}
	}
	out := &graphCut{feeds: feeds}
	for _, o := range g.GetOutput() {
		if j, ok := producer[o.GetName()]; ok && !upstream[j] {
			tail.Output = append(tail.Output, o)
			out.outputs = append(out.outputs, o.GetName())
		}
	}
	if len(out.outputs) == 0 {
		return nil, fmt.Errorf("no graph output depends on %q", cut)
	}
	for _, name := range feeds {
		dt, ok := dtypes(name)
		if !ok {
			return nil, fmt.Errorf("the element type of %q, which the tail below %q reads, is unknown", name, cut)
		}
		tail.Input = append(tail.Input, &onnx.ValueInfoProto{
			Name: proto.String(name),
			Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(dt))}}},
		})
	}
	out.tail = &onnx.ModelProto{
		IrVersion: m.IrVersion, OpsetImport: m.GetOpsetImport(), Functions: m.GetFunctions(),
		ProducerName: proto.String("actswap calibrate (sequential tail)"), Graph: tail,
	}
	return out, nil
}

func isGraphInput(g *onnx.GraphProto, name string) bool {
	for _, in := range g.GetInput() {
		if in.GetName() == name {
			return true
		}
	}
	return false
}
