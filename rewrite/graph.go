package rewrite

import (
	"strconv"

	"github.com/actswap/actswap/internal/pattern"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// graphView indexes a graph for matching: which node produces a value, which nodes consume it,
// which values are initializers or graph outputs, and which values are scalar constants.
// It is built once and read only; a rewrite edits the proto and builds a new view.
type graphView struct {
	g           *onnx.GraphProto
	producer    map[string]int   // value name → index of the node that outputs it
	consumers   map[string][]int // value name → indexes of nodes that read it (subgraph captures included)
	initializer map[string]*onnx.TensorProto
	graphInput  map[string]bool
	graphOutput map[string]bool
	elemType    map[string]tensor.DType // from graph inputs/outputs, value_info and initializers
	shape       map[string][]int64      // declared shapes; -1 marks a symbolic or unknown dimension
	scalars     map[string]scalarResult // memo of scalarConst
	// parent is the enclosing graph's view for a subgraph (nil for the main graph and function
	// bodies): values the subgraph reads from outside are typed there.
	parent *graphView
}

type scalarResult struct {
	v  float64
	ok bool
}

func newGraphView(g *onnx.GraphProto) *graphView {
	v := &graphView{
		g:           g,
		producer:    map[string]int{},
		consumers:   map[string][]int{},
		initializer: map[string]*onnx.TensorProto{},
		graphInput:  map[string]bool{},
		graphOutput: map[string]bool{},
		elemType:    map[string]tensor.DType{},
		shape:       map[string][]int64{},
		scalars:     map[string]scalarResult{},
	}
	for _, t := range g.GetInitializer() {
		v.initializer[t.GetName()] = t
		v.elemType[t.GetName()] = tensor.DType(t.GetDataType())
	}
	for _, vi := range g.GetInput() {
		v.graphInput[vi.GetName()] = true
		v.noteType(vi)
	}
	for _, vi := range g.GetOutput() {
		v.graphOutput[vi.GetName()] = true
		v.noteType(vi)
	}
	for _, vi := range g.GetValueInfo() {
		v.noteType(vi)
	}
	for i, n := range g.GetNode() {
		for _, out := range n.GetOutput() {
			if out != "" {
				v.producer[out] = i
			}
		}
		seen := map[string]bool{}
		for _, in := range append(append([]string{}, n.GetInput()...), capturedValues(n)...) {
			if in == "" || seen[in] {
				continue
			}
			seen[in] = true
			v.consumers[in] = append(v.consumers[in], i)
		}
	}
	return v
}

func (v *graphView) noteType(vi *onnx.ValueInfoProto) {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return
	}
	if tt.GetElemType() != 0 {
		v.elemType[vi.GetName()] = tensor.DType(tt.GetElemType())
	}
	if tt.GetShape() != nil {
		dims := make([]int64, len(tt.GetShape().GetDim()))
		for i, d := range tt.GetShape().GetDim() {
			dims[i] = -1
			if dv, ok := d.GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); ok {
				dims[i] = dv.DimValue
			}
		}
		v.shape[vi.GetName()] = dims
	}
}

// node returns the node at index i.
func (v *graphView) node(i int) *onnx.NodeProto { return v.g.GetNode()[i] }

// producerOf returns the node that outputs value, or nil for graph inputs and initializers.
func (v *graphView) producerOf(value string) (int, *onnx.NodeProto) {
	i, ok := v.producer[value]
	if !ok {
		return -1, nil
	}
	return i, v.node(i)
}

// The graph view is a pattern.Graph over value names.

// Producer implements pattern.Graph.
func (v *graphView) Producer(value string) (pattern.Node[string], bool) {
	i, n := v.producerOf(value)
	if n == nil {
		return pattern.Node[string]{}, false
	}
	return pattern.Node[string]{Index: i, OpType: n.GetOpType(), Domain: n.GetDomain(), Proto: n, Inputs: presentInputs(n), Outputs: len(n.GetOutput())}, true
}

// ScalarConst implements pattern.Graph.
func (v *graphView) ScalarConst(value string) (float64, bool) { return v.scalarConst(value) }

// Omitted implements pattern.Graph: ONNX marks an omitted optional input with an empty name.
func (v *graphView) Omitted(value string) bool { return value == "" }

// Describe implements pattern.Graph.
func (v *graphView) Describe(value string) string { return strconv.Quote(value) }

// presentInputs drops trailing empty names: ONNX marks an omitted optional input that way.
func presentInputs(n *onnx.NodeProto) []string {
	in := n.GetInput()
	for len(in) > 0 && in[len(in)-1] == "" {
		in = in[:len(in)-1]
	}
	return in
}

// opName is a node's op type as messages show it.
func opName(n *onnx.NodeProto) string { return pattern.OpName(n) }

// capturedValues lists the outer-scope values that the subgraphs of n (If/Loop/Scan bodies) read,
// so that a value used only inside a subgraph still counts as used by n.
func capturedValues(n *onnx.NodeProto) []string {
	var out []string
	for _, a := range n.GetAttribute() {
		graphs := a.GetGraphs()
		if a.GetG() != nil {
			graphs = append(graphs, a.GetG())
		}
		for _, sub := range graphs {
			out = append(out, subgraphFreeValues(sub)...)
		}
	}
	return out
}

// subgraphFreeValues returns the values a subgraph reads but does not define itself.
func subgraphFreeValues(g *onnx.GraphProto) []string {
	defined := map[string]bool{}
	for _, vi := range g.GetInput() {
		defined[vi.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		defined[t.GetName()] = true
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			defined[o] = true
		}
	}
	var free []string
	use := func(name string) {
		if name != "" && !defined[name] {
			free = append(free, name)
		}
	}
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			use(in)
		}
		for _, in := range capturedValues(n) {
			use(in)
		}
	}
	for _, vi := range g.GetOutput() {
		use(vi.GetName())
	}
	return free
}

// isStandardDomain reports whether a node's domain is the default ONNX operator set.
func isStandardDomain(d string) bool { return onnx.IsDefaultDomain(d) }
