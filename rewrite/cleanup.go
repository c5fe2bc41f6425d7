package rewrite

import (
	"fmt"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// snapshot remembers what was in use before a rewrite, so the cleanup removes only what the
// rewrite made dead and leaves nodes and initializers that were already unused alone.
type snapshot struct {
	liveNodes map[*onnx.NodeProto]bool
	usedInits map[string]bool
}

func takeSnapshot(g *onnx.GraphProto) snapshot {
	return snapshot{liveNodes: liveNodes(g), usedInits: usedValues(g)}
}

// liveNodes marks the nodes that contribute to a graph output.
func liveNodes(g *onnx.GraphProto) map[*onnx.NodeProto]bool {
	producer := map[string]*onnx.NodeProto{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				producer[o] = n
			}
		}
	}
	live := map[*onnx.NodeProto]bool{}
	var stack []string
	for _, o := range g.GetOutput() {
		stack = append(stack, o.GetName())
	}
	seen := map[string]bool{}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[v] {
			continue
		}
		seen[v] = true
		n := producer[v]
		if n == nil || live[n] {
			continue
		}
		live[n] = true
		stack = append(stack, n.GetInput()...)
		stack = append(stack, capturedValues(n)...)
	}
	return live
}

// usedValues is every value name a node reads (subgraph captures included) or the graph outputs.
func usedValues(g *onnx.GraphProto) map[string]bool {
	used := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			used[in] = true
		}
		for _, in := range capturedValues(n) {
			used[in] = true
		}
	}
	for _, o := range g.GetOutput() {
		used[o.GetName()] = true
	}
	return used
}

// pruneNewlyDead removes the nodes that were live before the rewrite and are dead now (the
// constants of a matched chain), then the initializers that were used before and are unused now.
// It returns the nodes removed.
func pruneNewlyDead(g *onnx.GraphProto, before snapshot) []*onnx.NodeProto {
	live := liveNodes(g)
	var kept, gone []*onnx.NodeProto
	for _, n := range g.Node {
		if !live[n] && before.liveNodes[n] {
			gone = append(gone, n)
			continue
		}
		kept = append(kept, n)
	}
	g.Node = kept
	used := usedValues(g)
	inputs := map[string]bool{}
	for _, vi := range g.GetInput() {
		inputs[vi.GetName()] = true
	}
	var inits []*onnx.TensorProto
	for _, t := range g.Initializer {
		name := t.GetName()
		if before.usedInits[name] && !used[name] && !inputs[name] {
			continue
		}
		inits = append(inits, t)
	}
	g.Initializer = inits
	return gone
}

// dropStaleValueInfo removes value_info entries for values only the removed nodes produced.
func dropStaleValueInfo(g *onnx.GraphProto, gone []*onnx.NodeProto) {
	produced := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			produced[o] = true
		}
	}
	stale := map[string]bool{}
	for _, n := range gone {
		for _, o := range n.GetOutput() {
			if !produced[o] {
				stale[o] = true
			}
		}
	}
	var kept []*onnx.ValueInfoProto
	for _, vi := range g.GetValueInfo() {
		if !stale[vi.GetName()] {
			kept = append(kept, vi)
		}
	}
	g.ValueInfo = kept
}

// nameSet hands out names not yet used by any node, value or initializer of a graph.
type nameSet map[string]bool

// addGraph takes every name of g (its subgraphs are added as scopes of their own): a new name
// must be unique across scopes, since a subgraph sees, and must not shadow, its enclosing graphs.
func (s nameSet) addGraph(g *onnx.GraphProto) {
	for _, n := range g.GetNode() {
		s[n.GetName()] = true
		for _, v := range n.GetInput() {
			s[v] = true
		}
		for _, v := range n.GetOutput() {
			s[v] = true
		}
	}
	for _, t := range g.GetInitializer() {
		s[t.GetName()] = true
	}
	for _, vis := range [][]*onnx.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, vi := range vis {
			s[vi.GetName()] = true
		}
	}
}

func (s nameSet) unique(base string) string {
	name := base
	for i := 1; s[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	s[name] = true
	return name
}

// maxTypeDepth bounds the walk of inferElemType.
const maxTypeDepth = 64

// inferElemType finds a value's element type: declared (graph inputs/outputs, value_info,
// initializers), or else the type that the producing node passes through from its first input,
// which holds for the convolutions, matmuls, normalisations and elementwise ops that feed
// activations. It returns Undefined when the walk finds nothing.
func (v *graphView) inferElemType(value string, depth int) tensor.DType {
	if dt, ok := v.elemType[value]; ok {
		return dt
	}
	_, n := v.producerOf(value)
	if n == nil && v.parent != nil && !v.graphInput[value] && depth <= maxTypeDepth {
		return v.parent.inferElemType(value, depth+1) // read from an enclosing graph
	}
	if n == nil || depth > maxTypeDepth || !isStandardDomain(n.GetDomain()) {
		return tensor.Undefined
	}
	switch n.GetOpType() {
	case "Cast":
		if a := attribute(n, "to"); a != nil {
			return tensor.DType(a.GetI())
		}
		return tensor.Undefined
	case "CastLike":
		if len(n.GetInput()) > 1 {
			return v.inferElemType(n.GetInput()[1], depth+1)
		}
		return tensor.Undefined
	case "Constant":
		if a := attribute(n, "value"); a != nil {
			return tensor.DType(a.GetT().GetDataType())
		}
		return tensor.Undefined
	case "Where":
		// The condition (input 0) is bool; the output has the type of the values chosen.
		if len(n.GetInput()) > 1 {
			return v.inferElemType(n.GetInput()[1], depth+1)
		}
		return tensor.Undefined
	case "Shape", "Size", "ArgMax", "ArgMin", "NonZero", "Equal", "Less", "Greater", "LessOrEqual",
		"GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf", "QuantizeLinear", "DequantizeLinear",
		"DynamicQuantizeLinear", "ConstantOfShape", "RandomNormal", "RandomUniform", "EyeLike":
		return tensor.Undefined // output type is not the first input's
	}
	if len(n.GetInput()) == 0 || n.GetInput()[0] == "" {
		return tensor.Undefined
	}
	return v.inferElemType(n.GetInput()[0], depth+1)
}
