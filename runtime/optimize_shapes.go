package runtime

import (
	"slices"
	"strings"
	"sync"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// Shape caching. Exporters compute reshape targets at run time from Shape(x) of values whose
// shape has a dynamic batch dimension: Shape → Gather → Unsqueeze → Concat → Reshape. Constant
// folding cannot remove these (the batch size is unknown at creation), yet for a given set of
// input shapes they always compute the same small tensors, and in a small model they are most
// of the nodes. The session remembers their outputs per input shapes: a node whose every input
// is a constant or such a shape-derived value is wrapped in a caching kernel that, on a later
// run with the same input shapes, returns what it computed before.
//
// "Depends only on the input shapes" needs each Shape(x) to read an x whose shape is itself a
// function of the input shapes: that is tracked per value, conservatively, through ops whose
// output shape follows from their inputs' shapes (and constant or shape-derived parameters).

// shapeOnlyOps have output shapes determined by their inputs' shapes and attributes.
var shapeOnlyOps = setOf("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Equal", "Less", "Greater",
	"LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Where", "Min", "Max", "Sum", "Mean",
	"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs",
	"Floor", "Ceil", "Round", "Sign", "Cast", "CastLike", "Clip", "Gelu", "Softmax", "LogSoftmax",
	"LayerNormalization", "BatchNormalization", "InstanceNormalization", "MatMul", "Gemm", "Conv",
	"ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Transpose",
	"Concat", "Flatten", "Identity", "Dropout", "Gather", "GatherElements", "Shape", "Size",
	"HardSigmoid", "HardSwish", "Softplus", "Elu", "Selu", "PRelu", "DepthToSpace", "SpaceToDepth",
	"LRN", "Einsum", "SkipLayerNormalization", "RMSNormalization")

// paramShapeOps have output shapes determined by their first input's shape and the values of the
// other inputs (target shapes, axes, pads), which must then be constant or shape-derived.
var paramShapeOps = setOf("Reshape", "Expand", "Slice", "Squeeze", "Unsqueeze", "Tile", "Pad",
	"Split", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "TopK",
	"Resize")

func setOf(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// maxShapeEntries bounds how many sets of input shapes a session remembers.
const maxShapeEntries = 8

// shapeCache is a session's memory of shape-derived values.
type shapeCache struct {
	inputs  []int  // graph input slots, in order
	derived []bool // per slot: output of a cached node
	nodes   int    // number of nodes, for entry sizing

	mu      sync.Mutex
	entries []*shapeEntry
	next    int // entry to replace when full
}

// shapeEntry holds the cached outputs for one set of input shapes. It is immutable once stored.
type shapeEntry struct {
	dtypes []tensor.DType
	shapes [][]int
	outs   [][]*tensor.Tensor // per cached node id
}

// cachedShapeKernel wraps a shape-derived node's kernel.
type cachedShapeKernel struct {
	inner ops.Kernel
	id    int
}

// cacheShapes wraps every shape-derived node of g and returns how many it wrapped and the cache
// (nil when none).
func cacheShapes(g *graph) (int, *shapeCache) {
	for _, s := range g.inputs {
		if g.declared[s].kind != kindTensor {
			return 0, nil
		}
	}
	static := make([]bool, len(g.slotNames))  // shape is a function of the input shapes
	derived := make([]bool, len(g.slotNames)) // value is a function of the input shapes
	for _, s := range g.inputs {
		static[s] = true
	}
	for s, c := range g.consts {
		if c != nil {
			static[s] = true
		}
	}
	known := func(s int) bool { return s < 0 || g.consts[s] != nil || derived[s] }
	c := &shapeCache{inputs: g.inputs, derived: derived}
	for _, n := range g.nodes {
		if n.subgraph || len(n.implicit) > 0 || nondeterministic[n.opType] {
			continue
		}
		op, domain := n.opType, ""
		if n.proto != nil {
			domain = n.proto.GetDomain()
		}
		standard := onnx.IsDefaultDomain(domain)
		allKnown, anyDerived, allStatic := true, false, true
		for _, s := range n.inputs {
			allKnown = allKnown && known(s)
			anyDerived = anyDerived || s >= 0 && derived[s]
			allStatic = allStatic && (s < 0 || static[s])
		}
		isDerived := allKnown && anyDerived ||
			standard && (op == "Shape" || op == "Size") && len(n.inputs) == 1 && n.inputs[0] >= 0 && static[n.inputs[0]]
		isStatic := isDerived
		switch {
		case isStatic:
		case standard && shapeOnlyOps[op], domain == "ai.actswap", n.proto == nil && (op == "Gelu" || strings.Contains(op, "+")):
			isStatic = allStatic
		case standard && paramShapeOps[op] && len(n.inputs) > 0:
			isStatic = n.inputs[0] >= 0 && static[n.inputs[0]]
			for _, s := range n.inputs[1:] {
				isStatic = isStatic && known(s)
			}
		}
		for _, s := range n.outputs {
			if s >= 0 {
				static[s] = isStatic
				derived[s] = isDerived
			}
		}
		if isDerived {
			n.kernel = &cachedShapeKernel{inner: n.kernel, id: c.nodes}
			c.nodes++
		}
	}
	if c.nodes == 0 {
		return 0, nil
	}
	return c.nodes, c
}

// shapeRun is one run's use of the cache: the entry for its input shapes when there is one,
// else the entry it fills.
type shapeRun struct {
	cache     *shapeCache
	hit       *shapeEntry
	recording *shapeEntry
}

// begin finds the entry for feeds. A run that asks for a shape-derived value gets no cache: the
// caller may modify what it gets, and cached tensors are shared.
func (c *shapeCache) begin(r *shapeRun, p *plan, feeds []*tensor.Tensor) *shapeRun {
	if c == nil {
		return nil
	}
	for _, s := range p.slots {
		if c.derived[s] {
			return nil
		}
	}
	c.mu.Lock()
	for _, e := range c.entries {
		if e.matches(feeds) {
			c.mu.Unlock()
			*r = shapeRun{cache: c, hit: e}
			return r
		}
	}
	c.mu.Unlock()
	e := &shapeEntry{outs: make([][]*tensor.Tensor, c.nodes)}
	for _, f := range feeds {
		e.dtypes = append(e.dtypes, f.DType)
		e.shapes = append(e.shapes, slices.Clone(f.Shape))
	}
	*r = shapeRun{cache: c, recording: e}
	return r
}

func (e *shapeEntry) matches(feeds []*tensor.Tensor) bool {
	for i, f := range feeds {
		if f.DType != e.dtypes[i] || !slices.Equal(f.Shape, e.shapes[i]) {
			return false
		}
	}
	return true
}

// end stores what the run recorded.
func (r *shapeRun) end() {
	if r == nil || r.recording == nil {
		return
	}
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) < maxShapeEntries {
		c.entries = append(c.entries, r.recording)
		return
	}
	c.entries[c.next] = r.recording
	c.next = (c.next + 1) % maxShapeEntries
}

func (k *cachedShapeKernel) Run(ctx *ops.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	var r *shapeRun
	if a := arenaOf(ctx); a != nil {
		r = a.shapes
	}
	if r != nil && r.hit != nil {
		if outs := r.hit.outs[k.id]; outs != nil {
			return outs, nil
		}
	}
	// Outputs that may be cached must not come from the arena, which would recycle them, nor sit
	// in the context's reused result slice.
	plain := *ctx
	plain.Allocator, plain.ReuseResults = nil, false
	outs, err := k.inner.Run(&plain, inputs)
	if err == nil && r != nil && r.recording != nil {
		r.recording.outs[k.id] = outs
	}
	return outs, err
}
