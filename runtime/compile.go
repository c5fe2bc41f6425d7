package runtime

import (
	"container/heap"
	"fmt"
	"sync"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// maxFoldElements bounds constant folding: a folded output lives in the session for its whole life,
// so an op that manufactures a large tensor from a small constant (ConstantOfShape, Expand, Tile)
// is left to run per call instead.
const maxFoldElements = 1 << 20

// nondeterministic ops must draw fresh values each run, so they are never folded.
var nondeterministic = map[string]bool{
	"RandomNormal": true, "RandomUniform": true, "RandomNormalLike": true,
	"RandomUniformLike": true, "Multinomial": true, "Bernoulli": true,
}

// graph is a compiled (sub)graph. Every value has a slot; a run holds one []*tensor.Tensor.
type graph struct {
	name string
	// scope is the graph's onnx scope name; via the function inlining its names come from (a body
	// of a node inlined from a function), nil when they are its own; inlined are the function
	// calls inlined into it. A value watch (watch.go) finds values by them.
	scope     string
	via       *inlining
	inlined   []*inlining
	slotNames []string
	slotOf    map[string]int
	consts    []*tensor.Tensor // per slot: value known at creation (initializer, folded)
	dtypes    []tensor.DType   // per slot: element type when known
	declared  []valueType      // per slot: declared type (graph inputs/outputs, value_info)
	inputs    []int            // formal inputs, in order
	outer     []int            // slots read from enclosing scopes
	outputs   []int
	nodes     []*node // topological order; folded nodes are gone
	producer  []int   // per slot: index into nodes, or -1

	defaultPlan *plan
	plans       sync.Map // requested slots key -> *plan

	// constSpans are the constants' buffers as address ranges, for telling whether a returned
	// view aliases one (aliasesFeedOrConst); built on the first Run, after the optimizer.
	constSpansOnce sync.Once
	constSpans     [][2]uintptr
}

// knownShape is a slot's shape as far as it is known before Run: a constant's shape, or the
// declared one with -1 for symbolic or missing dims; nil when the rank is unknown.
func (g *graph) knownShape(slot int) []int {
	if c := g.consts[slot]; c != nil {
		return c.Shape
	}
	d := g.declared[slot]
	if d.kind != kindTensor || d.shape == nil {
		return nil
	}
	shape := make([]int, len(d.shape))
	for i, dim := range d.shape {
		shape[i] = dim.Value
	}
	return shape
}

// node is one kernel invocation.
type node struct {
	label    string // for errors: the node's name, or its first output when unnamed
	opType   string
	kernel   ops.Kernel
	inputs   []int // -1 for an omitted optional input
	implicit []int // values the node's subgraphs read from this or enclosing scopes
	outputs  []int // -1 for an output nobody asked for
	subgraph bool
	proto    *onnx.NodeProto // the node as compiled, for passes that rebuild its kernel
	version  int             // opset version of its domain
}

// scope is what a subgraph can see of its enclosing graphs while it is compiled.
type scope struct {
	g      *graph
	parent *scope
}

// lookup finds a value in the innermost enclosing graph that has it.
func (s *scope) lookup(name string) (*graph, int, bool) {
	for ; s != nil; s = s.parent {
		if slot, ok := s.g.slotOf[name]; ok {
			return s.g, slot, true
		}
	}
	return nil, -1, false
}

type compiler struct {
	functions map[string]*onnx.FunctionProto
	threads   int
	inlined   int // counter that keeps inlined value names unique
	// preferFunctions inlines local functions even for ops that have a kernel.
	preferFunctions bool
	// optimize runs the graph optimizations (optimize.go) on the main graph; optimized counts them.
	optimize  bool
	optimized map[string]int
}

func functionKey(domain, name, overload string) string {
	return onnx.CanonicalDomain(domain) + "\x00" + name + "\x00" + overload
}

// opsetMap merges opset imports over base (the enclosing map, for function bodies).
func opsetMap(imports []*onnx.OperatorSetIdProto, base map[string]int) (map[string]int, error) {
	m := map[string]int{}
	for d, v := range base {
		m[d] = v
	}
	seen := map[string]bool{}
	for _, o := range imports {
		d := onnx.CanonicalDomain(o.GetDomain())
		if seen[d] && m[d] != int(o.GetVersion()) {
			return nil, fmt.Errorf("opset_import lists domain %q twice, with versions %d and %d", d, m[d], o.GetVersion())
		}
		seen[d] = true
		m[d] = int(o.GetVersion())
	}
	return m, nil
}

// nodeLabel names a node for error messages.
func nodeLabel(p *onnx.NodeProto) string {
	if p.GetName() != "" {
		return p.GetName()
	}
	for _, o := range p.GetOutput() {
		if o != "" {
			return "<producing " + o + ">"
		}
	}
	return "<unnamed>"
}

func nodeError(p *onnx.NodeProto, format string, args ...any) error {
	return fmt.Errorf("node %q (%s): %s", nodeLabel(p), p.GetOpType(), fmt.Sprintf(format, args...))
}

// compileGraph compiles gp. top is true for the model's main graph, whose inputs that also have
// an initializer are constants rather than formal inputs. sc and via say where gp was defined
// (see expandedNode).
func (c *compiler) compileGraph(gp *onnx.GraphProto, opsets map[string]int, parent *scope, top bool, sc string, via *inlining) (*graph, error) {
	var inlined []*inlining
	protos, err := c.expand(gp.GetNode(), opsets, sc, via, 0, &inlined)
	if err != nil {
		return nil, err
	}
	g := &graph{name: gp.GetName(), slotOf: map[string]int{}, scope: sc, via: via, inlined: inlined}
	declared := map[string]valueType{}
	for _, list := range [][]*onnx.ValueInfoProto{gp.GetValueInfo(), gp.GetOutput(), gp.GetInput()} {
		for _, vi := range list {
			declared[vi.GetName()] = typeFromProto(vi.GetName(), vi.GetType())
		}
	}
	addSlot := func(name string) int {
		slot := len(g.slotNames)
		g.slotNames = append(g.slotNames, name)
		g.slotOf[name] = slot
		g.consts = append(g.consts, nil)
		t, ok := declared[name]
		if !ok {
			t = valueType{name: name}
		}
		g.declared = append(g.declared, t)
		dt := tensor.Undefined
		if t.kind == kindTensor {
			dt = t.dtype
		}
		g.dtypes = append(g.dtypes, dt)
		return slot
	}

	if len(gp.GetSparseInitializer()) > 0 {
		return nil, fmt.Errorf("graph %q: sparse initializer %q is not supported", gp.GetName(), gp.GetSparseInitializer()[0].GetValues().GetName())
	}
	inputNames := map[string]bool{}
	for _, vi := range gp.GetInput() {
		if inputNames[vi.GetName()] {
			return nil, fmt.Errorf("graph %q: input %q is declared twice", gp.GetName(), vi.GetName())
		}
		inputNames[vi.GetName()] = true
	}
	for _, tp := range gp.GetInitializer() {
		name := tp.GetName()
		if _, dup := g.slotOf[name]; dup {
			return nil, fmt.Errorf("graph %q: initializer %q is declared twice", gp.GetName(), name)
		}
		if !top && inputNames[name] {
			return nil, fmt.Errorf("subgraph %q: input %q is also an initializer", gp.GetName(), name)
		}
		t, err := tensor.FromProto(tp)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", name, err)
		}
		slot := addSlot(name)
		g.consts[slot] = t
		if d := g.declared[slot]; d.kind == kindTensor && d.dtype != tensor.Undefined && d.dtype != t.DType {
			return nil, fmt.Errorf("initializer %q is %v but the graph declares %s", name, t.DType, d)
		}
		g.dtypes[slot] = t.DType
	}
	for _, vi := range gp.GetInput() {
		if _, isInit := g.slotOf[vi.GetName()]; isInit {
			continue
		}
		g.inputs = append(g.inputs, addSlot(vi.GetName()))
	}
	for _, p := range protos {
		for _, out := range p.proto.GetOutput() {
			if out == "" {
				continue
			}
			if prev, dup := g.slotOf[out]; dup {
				what := "another node"
				if g.consts[prev] != nil {
					what = "an initializer"
				} else if inputNames[out] {
					what = "a graph input"
				}
				return nil, nodeError(p.proto, "output %q is already produced by %s", out, what)
			}
			addSlot(out)
		}
	}

	here := &scope{g: g, parent: parent}
	// resolve finds a value by name here or in an enclosing graph. An enclosing graph's constant
	// becomes a constant here too, so kernels in the subgraph see it and folding can use it.
	resolve := func(name string) (int, bool) {
		if slot, ok := g.slotOf[name]; ok {
			return slot, true
		}
		og, oslot, ok := parent.lookup(name)
		if !ok {
			return -1, false
		}
		slot := addSlot(name)
		if og.dtypes[oslot] != tensor.Undefined {
			g.dtypes[slot] = og.dtypes[oslot]
		}
		if og.consts[oslot] != nil {
			g.consts[slot] = og.consts[oslot]
		} else {
			g.outer = append(g.outer, slot)
		}
		return slot, true
	}

	nodes := make([]*node, len(protos))
	for i, p := range protos {
		n := &node{label: nodeLabel(p.proto), opType: p.proto.GetOpType()}
		for _, in := range p.proto.GetInput() {
			if in == "" {
				n.inputs = append(n.inputs, -1)
				continue
			}
			slot, ok := resolve(in)
			if !ok {
				return nil, nodeError(p.proto, "input %q is not a graph input, initializer or output of any node", in)
			}
			n.inputs = append(n.inputs, slot)
		}
		for _, name := range subgraphFreeNames(p.proto) {
			slot, ok := resolve(name)
			if !ok {
				return nil, nodeError(p.proto, "a subgraph reads %q, which no enclosing graph defines", name)
			}
			n.implicit = append(n.implicit, slot)
			n.subgraph = true
		}
		n.subgraph = n.subgraph || hasSubgraph(p.proto)
		for _, out := range p.proto.GetOutput() {
			if out == "" {
				n.outputs = append(n.outputs, -1)
			} else {
				n.outputs = append(n.outputs, g.slotOf[out])
			}
		}
		nodes[i] = n
	}
	for _, vi := range gp.GetOutput() {
		slot, ok := resolve(vi.GetName())
		if !ok {
			return nil, fmt.Errorf("graph output %q is not a graph input, initializer or output of any node", vi.GetName())
		}
		g.outputs = append(g.outputs, slot)
	}

	order, err := topoOrder(nodes, protos, len(g.slotNames), g.slotNames)
	if err != nil {
		return nil, err
	}
	for _, i := range order {
		n, p := nodes[i], protos[i]
		if err := c.buildKernel(g, n, p, here); err != nil {
			return nil, err
		}
		folded, err := c.tryFold(g, n, p)
		if err != nil {
			return nil, err
		}
		if !folded {
			g.nodes = append(g.nodes, n)
		}
	}
	if top && c.optimize {
		c.optimized = c.optimizeGraph(g)
	}
	g.producer = make([]int, len(g.slotNames))
	for i := range g.producer {
		g.producer[i] = -1
	}
	for i, n := range g.nodes {
		for _, s := range n.outputs {
			if s >= 0 {
				g.producer[s] = i
			}
		}
	}
	g.defaultPlan = g.makePlan(g.outputs)
	return g, nil
}

// UnsupportedOpError says that a node's op has no kernel at the model's opset version.
type UnsupportedOpError struct {
	Node, Domain, OpType string
	Version              int
	OtherVersions        bool // a kernel exists for other opset versions of the op
}

func (e *UnsupportedOpError) Error() string {
	domain := onnx.DomainDisplayName(e.Domain)
	if e.OtherVersions {
		return fmt.Sprintf("node %q (%s): op %s of domain %s has no kernel for opset version %d (only for later versions)", e.Node, e.OpType, e.OpType, domain, e.Version)
	}
	return fmt.Sprintf("node %q (%s): op %s of domain %s (opset version %d) is not supported", e.Node, e.OpType, e.OpType, domain, e.Version)
}

// buildKernel looks up and runs the node's kernel factory.
func (c *compiler) buildKernel(g *graph, n *node, p expandedNode, here *scope) (err error) {
	domain := onnx.CanonicalDomain(p.proto.GetDomain())
	version, imported := p.opsets[domain]
	if !imported {
		return nodeError(p.proto, "domain %q is not in the model's opset_import", onnx.DomainDisplayName(domain))
	}
	factory, ok := ops.Lookup(domain, p.proto.GetOpType(), version)
	if !ok {
		return &UnsupportedOpError{Node: nodeLabel(p.proto), Domain: domain, OpType: p.proto.GetOpType(), Version: version,
			OtherVersions: ops.Known(domain, p.proto.GetOpType())}
	}
	on := ops.NewNode(p.proto, version)
	for i, slot := range n.inputs {
		if slot >= 0 {
			on.Const[i] = g.consts[slot]
			on.InputTypes[i] = g.dtypes[slot]
			on.InputShapes[i] = g.knownShape(slot)
		}
	}
	opsets := p.opsets
	on.CompileGraph = func(sub *onnx.GraphProto) (ops.Graph, error) {
		if sub == nil {
			return nil, fmt.Errorf("missing subgraph")
		}
		subScope := ""
		onnx.Subgraphs(p.proto, func(attr string, index int, g *onnx.GraphProto) {
			if g == sub {
				subScope = onnx.SubgraphScope(p.scope, p.proto.GetOpType(), p.definedName(), attr, index)
			}
		})
		sg, err := c.compileGraph(sub, opsets, here, false, subScope, p.via)
		if err != nil {
			return nil, fmt.Errorf("subgraph %q: %w", sub.GetName(), err)
		}
		return subgraph{sg}, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("node %q (%s): kernel factory panicked: %w", nodeLabel(p.proto), p.proto.GetOpType(), newPanicError(r))
		}
	}()
	k, err := factory(on)
	if err != nil {
		return fmt.Errorf("node %q (%s): %w", n.label, n.opType, err)
	}
	if k == nil {
		return nodeError(p.proto, "kernel factory returned no kernel")
	}
	n.kernel = k
	n.proto, n.version = p.proto, version
	return nil
}

// tryFold runs a node whose inputs are all constant once, now, and keeps its outputs as constants.
func (c *compiler) tryFold(g *graph, n *node, p expandedNode) (bool, error) {
	if nondeterministic[n.opType] {
		return false, nil
	}
	for _, list := range [][]int{n.inputs, n.implicit} {
		for _, s := range list {
			if s >= 0 && g.consts[s] == nil {
				return false, nil
			}
		}
	}
	inputs := make([]*tensor.Tensor, len(n.inputs))
	for i, s := range n.inputs {
		if s >= 0 {
			inputs[i] = g.consts[s]
		}
	}
	ctx := ops.NewContext(c.threads)
	ctx.Outer = func(name string) (*tensor.Tensor, bool) {
		if s, ok := g.slotOf[name]; ok && g.consts[s] != nil {
			return g.consts[s], true
		}
		return nil, false
	}
	outs, err := runKernel(n, ctx, inputs)
	if err != nil {
		return false, fmt.Errorf("constant folding: %w", err)
	}
	for i, s := range n.outputs {
		if s < 0 {
			continue
		}
		if i >= len(outs) || outs[i] == nil || outs[i].Len() > maxFoldElements {
			return false, nil
		}
	}
	for i, s := range n.outputs {
		if s >= 0 {
			g.consts[s] = outs[i]
			g.dtypes[s] = outs[i].DType
		}
	}
	return true, nil
}

// topoOrder sorts nodes so every value is produced before it is read, keeping the model's order
// where it already is one. A cycle is reported with a value on it.
func topoOrder(nodes []*node, protos []expandedNode, nslots int, names []string) ([]int, error) {
	producer := make([]int, nslots)
	for i := range producer {
		producer[i] = -1
	}
	for i, n := range nodes {
		for _, s := range n.outputs {
			if s >= 0 {
				producer[s] = i
			}
		}
	}
	pending := make([]int, len(nodes))
	consumers := make([][]int, len(nodes))
	for i, n := range nodes {
		for _, list := range [][]int{n.inputs, n.implicit} {
			for _, s := range list {
				if s >= 0 && producer[s] >= 0 {
					pending[i]++
					consumers[producer[s]] = append(consumers[producer[s]], i)
				}
			}
		}
	}
	// Always taking the lowest-numbered ready node reproduces the model's order when it is
	// already topological, which is the order the exporter chose for memory.
	ready := &intHeap{}
	var order []int
	for i := range nodes {
		if pending[i] == 0 {
			heap.Push(ready, i)
		}
	}
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, i)
		for _, j := range consumers[i] {
			pending[j]--
			if pending[j] == 0 {
				heap.Push(ready, j)
			}
		}
	}
	if len(order) == len(nodes) {
		return order, nil
	}
	for i, n := range nodes {
		if pending[i] == 0 {
			continue
		}
		for _, s := range append(append([]int{}, n.inputs...), n.implicit...) {
			if s >= 0 && producer[s] >= 0 && pending[producer[s]] > 0 {
				return nil, nodeError(protos[i].proto, "the graph has a cycle through value %q", names[s])
			}
		}
	}
	return nil, fmt.Errorf("the graph has a cycle")
}

// intHeap is a min-heap of node indices.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// hasSubgraph reports whether a node carries a graph attribute.
func hasSubgraph(p *onnx.NodeProto) bool {
	for _, a := range p.GetAttribute() {
		if a.GetG() != nil || len(a.GetGraphs()) > 0 {
			return true
		}
	}
	return false
}

// subgraphFreeNames lists the values a node's subgraphs read from outside themselves, in first-use
// order without repeats. They are implicit inputs of the node: ordering and freeing must see them.
func subgraphFreeNames(p *onnx.NodeProto) []string {
	var names []string
	seen := map[string]bool{}
	for _, a := range p.GetAttribute() {
		graphs := a.GetGraphs()
		if a.GetG() != nil {
			graphs = append([]*onnx.GraphProto{a.GetG()}, graphs...)
		}
		for _, sub := range graphs {
			for _, name := range graphFreeNames(sub) {
				if !seen[name] {
					seen[name] = true
					names = append(names, name)
				}
			}
		}
	}
	return names
}

func graphFreeNames(gp *onnx.GraphProto) []string {
	defined := map[string]bool{"": true}
	for _, vi := range gp.GetInput() {
		defined[vi.GetName()] = true
	}
	for _, tp := range gp.GetInitializer() {
		defined[tp.GetName()] = true
	}
	for _, n := range gp.GetNode() {
		for _, o := range n.GetOutput() {
			defined[o] = true
		}
	}
	var free []string
	seen := map[string]bool{}
	use := func(name string) {
		if !defined[name] && !seen[name] {
			seen[name] = true
			free = append(free, name)
		}
	}
	for _, n := range gp.GetNode() {
		for _, in := range n.GetInput() {
			use(in)
		}
		for _, name := range subgraphFreeNames(n) {
			use(name)
		}
	}
	for _, vi := range gp.GetOutput() {
		use(vi.GetName())
	}
	return free
}

// subgraph adapts a compiled graph to ops.Graph for If, Loop and Scan kernels.
type subgraph struct{ g *graph }

func (s subgraph) NumOutputs() int { return len(s.g.outputs) }

// OutputType returns the declared element type and shape of output i (Undefined and nil where the
// body declares none), so Loop can shape the scan outputs of a loop that ran zero times.
func (s subgraph) OutputType(i int) (tensor.DType, []int) {
	if i < 0 || i >= len(s.g.outputs) {
		return tensor.Undefined, nil
	}
	slot := s.g.outputs[i]
	var shape []int
	if d := s.g.declared[slot]; d.kind == kindTensor && d.shape != nil {
		shape = make([]int, len(d.shape))
		for j, dim := range d.shape {
			if dim.Value < 0 {
				shape = nil
				break
			}
			shape[j] = dim.Value
		}
	}
	return s.g.dtypes[slot], shape
}

func (s subgraph) Run(ctx *ops.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) != len(s.g.inputs) {
		return nil, fmt.Errorf("subgraph %q takes %d inputs, got %d", s.g.name, len(s.g.inputs), len(inputs))
	}
	// Bodies run to the end: ops.Context carries no cancellation, and a body is one step of its
	// node. Only a value watch reaches into them.
	return s.g.run(watchContext(watchOf(ctx.Run)), ctx, s.g.defaultPlan, inputs)
}
