package runtime

import (
	"fmt"
	"sync"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// Graph optimizations run once at session creation, after constant folding, on the compiled main
// graph. Each pass is small and counted; Session.Optimizations reports how often each fired so
// tests can tell that a model got the rewrites it should. The passes (one file each):
//
//	identity_removal       Identity and inference Dropout disappear           optimize_identity.go
//	batchnorm_folding      BatchNormalization folded into the Conv before it  optimize_batchnorm.go
//	gelu_fusion            erf/tanh GELU chains become one Gelu node          optimize_gelu.go
//	silu_fusion            x·Sigmoid(x) becomes one SiLU node                  optimize_silu.go
//	matmul_bias_fusion     MatMul + Add(bias) as one GEMM with a bias epilogue optimize_matmul.go
//	matmul_transpose_fusion MatMul reads B through a last-two-axes Transpose   optimize_matmul_transpose.go
//	activation_fusion      Relu/Clip/Gelu/ai.actswap ops in GEMM epilogues     optimize_activation.go
//	add_activation_fusion  Add then activation in one pass                     optimize_add.go
//	conv_residual_fusion   Conv → Add(shortcut) [→ act] in the Conv's epilogue optimize_residual.go
//	conv_channel_scale_fusion Mul(x, per-channel s) → 1×1 Conv: W's columns scaled optimize_channel_scale.go
//	layernorm_fusion       ReduceMean/Sub/Pow/Sqrt/Div LayerNorm as one kernel optimize_layernorm_chain.go
//	layernorm_kernel       float32 vector LayerNormalization                   optimize_layernorm.go
//	shape_caching          shape-only subgraphs remembered per input shapes   optimize_shapes.go
//
// Buffers are recycled between values whose lifetimes do not overlap (optimize_memory.go).
//
// A pass may remove intermediate values (a fused chain's inner results). Run can still be asked
// for them by name, as the calibrator does for pre-activation tensors: such a request is served
// by an unoptimized compilation of the same model, built on first need.

// optimizationPasses run in this order: removing Identity first exposes chains to the fusions,
// BatchNormalization folds into Conv before Conv takes an activation, and the GELU chain becomes
// one node before it is fused into the MatMul that feeds it.
var optimizationPasses = []struct {
	name string
	run  func(o *optimizer) int
}{
	{"identity_removal", removeIdentities},
	{"batchnorm_folding", foldBatchNorms},
	{"gelu_fusion", fuseGelus},
	{"silu_fusion", fuseSiLUs},
	{"matmul_bias_fusion", fuseMatMulBias},
	{"matmul_transpose_fusion", fuseMatMulTransposes},
	{"activation_fusion", fuseActivations},
	{"add_activation_fusion", fuseAddActivations},
	{"conv_residual_fusion", fuseConvResiduals},
	{"expand_depthwise_fusion", fuseExpandDepthwise},
	{"conv_channel_scale_fusion", fuseConvChannelScales},
	{"layernorm_fusion", fuseLayerNormChains},
	{"layernorm_kernel", fastLayerNorms},
}

// WithoutOptimizations compiles the model as written (constant folding still happens): for
// checking that the optimized graph computes the same values.
func WithoutOptimizations() Option { return func(c *config) { c.noOptimize = true } }

// Optimizations reports how many times each graph optimization fired when the session was
// created, by pass name (a pass that never fired is listed with 0). It is empty for a session
// made WithoutOptimizations.
func (s *Session) Optimizations() map[string]int {
	out := make(map[string]int, len(s.optimized))
	for k, v := range s.optimized {
		out[k] = v
	}
	return out
}

// optimizer edits one compiled graph. Nodes are removed by marking them dead and compacting at
// the end, so indices stay valid while passes look around.
type optimizer struct {
	c     *compiler
	g     *graph
	dead  []bool
	fixed []bool // per slot: a graph output or read by a subgraph; it must survive as is
	uses  [][]int
}

// optimizeGraph runs every pass over g and returns the counts. It must run before g.producer and
// the plans are computed.
func (c *compiler) optimizeGraph(g *graph) map[string]int {
	o := &optimizer{c: c, g: g}
	counts := map[string]int{}
	for _, p := range optimizationPasses {
		o.refresh()
		counts[p.name] = p.run(o)
		o.compact()
	}
	return counts
}

// refresh recomputes who reads each value.
func (o *optimizer) refresh() {
	g := o.g
	o.dead = make([]bool, len(g.nodes))
	o.fixed = make([]bool, len(g.slotNames))
	o.uses = make([][]int, len(g.slotNames))
	for _, s := range g.outputs {
		o.fixed[s] = true
	}
	for i, n := range g.nodes {
		for _, s := range n.inputs {
			if s >= 0 {
				o.uses[s] = append(o.uses[s], i)
			}
		}
		for _, s := range n.implicit {
			o.fixed[s] = true
		}
	}
}

// compact drops dead nodes, keeping order.
func (o *optimizer) compact() {
	live := o.g.nodes[:0]
	for i, n := range o.g.nodes {
		if !o.dead[i] {
			live = append(live, n)
		}
	}
	for i := len(live); i < len(o.g.nodes); i++ {
		o.g.nodes[i] = nil
	}
	o.g.nodes = live
}

// producers maps each slot to the live node producing it (-1 for none).
func (o *optimizer) producers() []int {
	prod := make([]int, len(o.g.slotNames))
	for i := range prod {
		prod[i] = -1
	}
	for i, n := range o.g.nodes {
		if o.dead[i] {
			continue
		}
		for _, s := range n.outputs {
			if s >= 0 {
				prod[s] = i
			}
		}
	}
	return prod
}

// internal reports whether value s can disappear into a fusion: one reader, not a graph output,
// not seen by a subgraph.
func (o *optimizer) internal(s int) bool {
	return s >= 0 && !o.fixed[s] && len(o.uses[s]) == 1 && o.g.consts[s] == nil
}

// soleReader returns the node that reads internal value s, or -1.
func (o *optimizer) soleReader(s int) int {
	if !o.internal(s) || o.dead[o.uses[s][0]] {
		return -1
	}
	return o.uses[s][0]
}

// singleOutput reports whether node i produces exactly one value (others unrequested) and returns it.
func (o *optimizer) singleOutput(i int) (int, bool) {
	n := o.g.nodes[i]
	if len(n.outputs) == 0 || n.outputs[0] < 0 {
		return -1, false
	}
	for _, s := range n.outputs[1:] {
		if s >= 0 {
			return -1, false
		}
	}
	return n.outputs[0], true
}

// isOp reports whether node i is the standard op opType.
func (o *optimizer) isOp(i int, opType string) bool {
	n := o.g.nodes[i]
	return n.opType == opType && n.proto != nil && onnx.IsDefaultDomain(n.proto.GetDomain())
}

// constInput returns node i's input j when it is a constant.
func (o *optimizer) constInput(i, j int) *tensor.Tensor {
	n := o.g.nodes[i]
	if j >= len(n.inputs) || n.inputs[j] < 0 {
		return nil
	}
	return o.g.consts[n.inputs[j]]
}

// addConst gives a new constant a slot of its own.
func (o *optimizer) addConst(name string, t *tensor.Tensor) int {
	g := o.g
	for base, k := name, 1; ; k++ {
		if _, taken := g.slotOf[name]; !taken {
			break
		}
		name = fmt.Sprintf("%s_%d", base, k)
	}
	slot := len(g.slotNames)
	g.slotNames = append(g.slotNames, name)
	g.slotOf[name] = slot
	g.consts = append(g.consts, t)
	g.dtypes = append(g.dtypes, t.DType)
	g.declared = append(g.declared, valueType{name: name})
	o.fixed = append(o.fixed, false)
	o.uses = append(o.uses, nil)
	return slot
}

// near compares a constant with the value an exporter meant, at float32 precision.
func near(v, want float64) bool {
	d := v - want
	return d < 1e-5*max(1, want) && d > -1e-5*max(1, want)
}

// removedValues lists the main graph's values an optimization made disappear (no producer, not a
// constant nor an input): asking Run for one goes to the unoptimized graph.
func removedValues(g *graph) map[int]bool {
	produced := make([]bool, len(g.slotNames))
	for _, n := range g.nodes {
		for _, s := range n.outputs {
			if s >= 0 {
				produced[s] = true
			}
		}
	}
	for _, s := range g.inputs {
		produced[s] = true
	}
	for _, s := range g.outer {
		produced[s] = true
	}
	removed := map[int]bool{}
	for s := range g.slotNames {
		if !produced[s] && g.consts[s] == nil {
			removed[s] = true
		}
	}
	return removed
}

// unoptimized is the lazily compiled plain graph that serves requests for removed values.
type unoptimized struct {
	model *onnx.ModelProto
	cfg   config
	once  sync.Once
	s     *Session
	err   error
}

func (u *unoptimized) session() (*Session, error) {
	u.once.Do(func() {
		cfg := u.cfg
		u.s, u.err = NewSession(u.model, func(c *config) { *c = cfg; c.noOptimize = true })
	})
	return u.s, u.err
}

// graphFor picks the graph that can answer a request: the optimized one unless a requested name
// was optimized away.
func (s *Session) graphFor(outputNames []string) (*graph, error) {
	if s.plain == nil || len(s.removed) == 0 {
		return s.main, nil
	}
	for _, name := range outputNames {
		if slot, ok := s.main.slotOf[name]; ok && s.removed[slot] {
			ps, err := s.plain.session()
			if err != nil {
				return nil, fmt.Errorf("compiling the unoptimized graph for value %q: %w", name, err)
			}
			return ps.main, nil
		}
	}
	return s.main, nil
}

// noteOptimizations records what the compiler's passes did on the session.
func (s *Session) noteOptimizations(c *compiler, m *onnx.ModelProto, cfg config) {
	s.optimized = c.optimized
	if !c.optimize {
		return
	}
	s.buffers = newBufferPool(s.main)
	if s.buffers != nil && s.byRows != nil && s.threads > 1 {
		// Each part of a run split by rows draws from its own pool: its buffers stay in the cache
		// of the thread that ran that part before, and the parts never wait on one pool's lock.
		s.partBuffers = make([]*bufferPool, s.threads)
		for i := range s.partBuffers {
			s.partBuffers[i] = newBufferPool(s.main)
		}
	}
	s.optimized["shape_caching"] = 0
	if s.buffers != nil { // cached shape values must stay out of reach of sequences and subgraphs too
		s.optimized["shape_caching"], s.shapes = cacheShapes(s.main)
	}
	s.removed = removedValues(s.main)
	if len(s.removed) > 0 {
		s.plain = &unoptimized{model: m, cfg: cfg}
	}
}

// operands returns a binary node's two inputs.
func (o *optimizer) operands(i int) (int, int, bool) {
	n := o.g.nodes[i]
	if len(n.inputs) != 2 || n.inputs[0] < 0 || n.inputs[1] < 0 {
		return -1, -1, false
	}
	return n.inputs[0], n.inputs[1], true
}

// constNear reports whether slot s is a one-element constant close to want.
func (o *optimizer) constNear(s int, want float64) bool {
	v, ok := tensor.ScalarValue(o.g.consts[s])
	return ok && near(v, want)
}

// internalFrom returns the producer of s when s is read only by node reader.
func (o *optimizer) internalFrom(prod []int, s, reader int) int {
	if s < 0 || prod[s] < 0 || o.soleReader(s) != reader {
		return -1
	}
	if _, ok := o.singleOutput(prod[s]); !ok {
		return -1
	}
	return prod[s]
}
