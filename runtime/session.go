// Package runtime runs ONNX models with actswap's own pure-Go kernels (runtime/ops).
//
// NewSession compiles a model once: it resolves opset versions, inlines model-local functions,
// orders nodes topologically, folds nodes whose inputs are all constant, and builds one kernel per
// node from the ops registry, so that an unsupported op fails here and not halfway through a run.
// A Session holds no per-run state: Run may be called from many goroutines at once.
//
// The name shadows the standard library's runtime; it stays because it says what the package is
// (the model runtime, as in onnxruntime), its importers are outside it (serve, the CLI, tests) where
// the standard package is rarely needed, and the few files here that need both alias the standard
// one goruntime. Renaming it would touch every importer for no reader's gain.
package runtime

import (
	"context"
	"fmt"
	goruntime "runtime"
	"slices"
	"sort"
	"strings"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// Option configures a Session.
type Option func(*config)

type config struct {
	threads       int
	functionsOnly bool
	noOptimize    bool
}

// WithThreads sets how many goroutines kernels may use per Run (default GOMAXPROCS).
func WithThreads(n int) Option { return func(c *config) { c.threads = n } }

// WithFunctionBodies makes the session run a model-local function's body even where a kernel is
// registered for its op (normally the kernel wins). Rewritten models carry ai.actswap ops both
// ways, so this checks a fused kernel against its standard-op definition without onnxruntime.
func WithFunctionBodies() Option { return func(c *config) { c.functionsOnly = true } }

// Dim is one dimension of a declared shape: Value is the fixed size or -1 when not fixed; Param is
// the symbolic name ("batch") when the model gives one.
type Dim struct {
	Value int
	Param string
}

// ValueInfo describes a graph input or output as the model declares it. Shape is nil when the
// model declares no shape (any rank). DType is Undefined for non-tensor values (sequences,
// optionals).
type ValueInfo struct {
	Name  string
	DType tensor.DType
	Shape []Dim
}

// String formats the declared type like float32[batch,1,8,8] ("?" for an unknown dimension).
func (v ValueInfo) String() string {
	if v.Shape == nil {
		return v.DType.String()
	}
	parts := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		switch {
		case d.Value >= 0:
			parts[i] = fmt.Sprint(d.Value)
		case d.Param != "":
			parts[i] = d.Param
		default:
			parts[i] = "?"
		}
	}
	return v.DType.String() + "[" + strings.Join(parts, ",") + "]"
}

// Session is a compiled model, ready to run.
type Session struct {
	main    *graph
	threads int
	inputs  []valueType // declared types of main.inputs, same order
	outputs []valueType
	// optimized counts the graph optimizations applied; removed lists values they made disappear,
	// which plain (the model compiled without them) serves.
	optimized map[string]int
	removed   map[int]bool
	plain     *unoptimized
	buffers   *bufferPool          // recycles the main graph's buffers; nil when it cannot
	shapes    *shapeCache          // remembers shape-derived values per input shapes; nil when none
	defines   map[ScopedValue]bool // every value of every scope, for RunWatching's checks
	// byRows is the row split of the graph: a batch runs as one part per thread (batchsplit.go);
	// nil where the graph does not keep the batch's rows apart.
	byRows      *rowSplit
	partBuffers []*bufferPool // per part of a run split by rows, what buffers is to a whole run
}

// NewSession compiles m. Every node must have a kernel for its (domain, op, opset version) or be a
// call to one of the model's local functions.
func NewSession(m *onnx.ModelProto, opts ...Option) (s *Session, err error) {
	cfg := config{threads: goruntime.GOMAXPROCS(0)}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.threads <= 0 {
		cfg.threads = goruntime.GOMAXPROCS(0)
	}
	if m == nil || m.GetGraph() == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("compiling model: internal error: %w", newPanicError(r))
		}
	}()
	c := &compiler{
		functions:       map[string]*onnx.FunctionProto{},
		threads:         cfg.threads,
		preferFunctions: cfg.functionsOnly,
		optimize:        !cfg.noOptimize,
	}
	opsets, err := opsetMap(m.GetOpsetImport(), nil)
	if err != nil {
		return nil, err
	}
	if len(m.GetOpsetImport()) == 0 {
		// IR version < 3 models carry no opset_import; they were written against opset 1.
		opsets[""] = 1
	}
	for _, f := range m.GetFunctions() {
		c.functions[functionKey(f.GetDomain(), f.GetName(), f.GetOverload())] = f
	}
	g, err := c.compileGraph(m.GetGraph(), opsets, nil, true, "", nil)
	if err != nil {
		return nil, err
	}
	s = &Session{main: g, threads: cfg.threads, defines: scopedValues(m)}
	s.byRows, _ = analyzeRowSplit(m.GetGraph(), opsets)
	s.noteOptimizations(c, m, cfg)
	for _, slot := range g.inputs {
		s.inputs = append(s.inputs, g.declared[slot])
	}
	for _, slot := range g.outputs {
		s.outputs = append(s.outputs, g.declared[slot])
	}
	return s, nil
}

// Inputs lists the graph inputs a caller must feed (those that are not initializers), in order.
func (s *Session) Inputs() []ValueInfo {
	out := make([]ValueInfo, len(s.inputs))
	for i, v := range s.inputs {
		out[i] = v.info()
	}
	return out
}

// Outputs lists the graph outputs, in order.
func (s *Session) Outputs() []ValueInfo {
	out := make([]ValueInfo, len(s.outputs))
	for i, v := range s.outputs {
		out[i] = v.info()
	}
	return out
}

// Run feeds inputs by name and returns the requested values by name. With no outputNames it
// returns every graph output; outputNames may also name any intermediate value of the graph, which
// is how the calibrator reads pre-activation tensors. Returned tensors belong to the caller.
func (s *Session) Run(inputs map[string]*tensor.Tensor, outputNames ...string) (map[string]*tensor.Tensor, error) {
	return s.RunContext(context.Background(), inputs, outputNames...)
}

// RunContext is Run that gives up between nodes once ctx is done (a server's deadline), returning
// ctx's error.
func (s *Session) RunContext(ctx context.Context, inputs map[string]*tensor.Tensor, outputNames ...string) (result map[string]*tensor.Tensor, err error) {
	if parts := s.rowParts(inputs, outputNames); parts > 1 {
		return s.runByRows(ctx, inputs, outputNames, parts)
	}
	return s.run(ctx, inputs, outputNames, s.threads, s.buffers)
}

// run is RunContext with threads threads for the kernels and buffers from pool.
func (s *Session) run(ctx context.Context, inputs map[string]*tensor.Tensor, outputNames []string, threads int, pool *bufferPool) (result map[string]*tensor.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("run: internal error: %w", newPanicError(r))
		}
	}()
	g, err := s.graphFor(outputNames)
	if err != nil {
		return nil, err
	}
	slots := g.outputs
	if len(outputNames) > 0 {
		slots = make([]int, len(outputNames))
		for i, name := range outputNames {
			slot, ok := g.slotOf[name]
			if !ok || name == "" {
				return nil, fmt.Errorf("unknown output %q: no graph input, initializer or node output has that name", name)
			}
			slots[i] = slot
		}
	}
	p := g.planFor(slots)
	kctx, arena := s.runContext(g, threads, pool)
	defer arena.finish()
	feeds, err := s.bindInputs(inputs, arena.feedSlice(len(s.main.inputs)))
	if err != nil {
		return nil, err
	}
	arena.beginShapes(s.shapes, p, feeds)
	vals, err := g.run(ctx, kctx, p, feeds)
	if err != nil {
		return nil, err
	}
	result = make(map[string]*tensor.Tensor, len(slots))
	for i, slot := range slots {
		name := g.slotNames[slot]
		if len(outputNames) > 0 {
			name = outputNames[i]
		}
		v := vals[i]
		if v == nil {
			return nil, fmt.Errorf("output %q was not produced (an optional output its node left out)", name)
		}
		switch {
		case v.DType != tensor.Undefined && (g.consts[slot] != nil || aliasesFeedOrConst(g, v, feeds)):
			// Constants are shared by every run, and a view (Reshape, Squeeze) of the caller's
			// input would tie the result to it: the caller may modify what it gets.
			v = v.Clone()
		case arena.ownsView(v):
			// The arena reuses its view headers and shapes in its next run; the buffer itself
			// stays the caller's (a returned value is never recycled).
			v = &tensor.Tensor{DType: v.DType, Shape: slices.Clone(v.Shape), Data: v.Data}
		case arena.ownsShape(v):
			v.Shape = slices.Clone(v.Shape) // v is the caller's now, its shape not yet
		}
		result[name] = v
	}
	return result, nil
}

// bindInputs checks the caller's inputs against the declared types and orders them like g.inputs,
// in feeds when it is given (len(g.inputs), zeroed), in a new slice otherwise.
func (s *Session) bindInputs(inputs map[string]*tensor.Tensor, feeds []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g := s.main
	if feeds == nil {
		feeds = make([]*tensor.Tensor, len(g.inputs))
	}
	matched := 0
	for i, slot := range g.inputs {
		if t, ok := inputs[g.slotNames[slot]]; ok {
			feeds[i] = t
			matched++
		}
	}
	if matched != len(inputs) {
		if err := s.unknownInput(inputs); err != nil {
			return nil, err
		}
	}
	symbols := map[string]symbolBinding{}
	for i, slot := range g.inputs {
		want := s.inputs[i]
		if feeds[i] == nil {
			if want.kind == kindOptional {
				feeds[i] = ops.EmptyOptional()
				continue
			}
			return nil, fmt.Errorf("missing input %q: expected %s", g.slotNames[slot], want)
		}
		if err := want.check(g.slotNames[slot], feeds[i], symbols); err != nil {
			return nil, err
		}
	}
	return feeds, nil
}

// unknownInput names the first fed input (in name order) that the model cannot take.
func (s *Session) unknownInput(inputs map[string]*tensor.Tensor) error {
	g := s.main
	position := make(map[string]bool, len(g.inputs))
	for _, slot := range g.inputs {
		position[g.slotNames[slot]] = true
	}
	names := make([]string, 0, len(inputs))
	for name := range inputs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if position[name] {
			continue
		}
		if slot, isValue := g.slotOf[name]; isValue && g.consts[slot] != nil {
			return fmt.Errorf("input %q is an initializer of the model and cannot be fed", name)
		}
		return fmt.Errorf("unknown input %q (the model's inputs are %s)", name, s.inputList())
	}
	return nil
}

func (s *Session) inputList() string {
	var parts []string
	for _, v := range s.inputs {
		parts = append(parts, fmt.Sprintf("%q %s", v.name, v))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// aliasesFeedOrConst reports whether v's elements lie in the buffer of one of the run's inputs or
// of a constant, as a view returned by Reshape or Squeeze can.
func aliasesFeedOrConst(g *graph, v *tensor.Tensor, feeds []*tensor.Tensor) bool {
	lo, hi, ok := tensor.DataRange(v.Data)
	if !ok {
		return false
	}
	for _, f := range feeds {
		if f == nil {
			continue
		}
		if l, h, ok := tensor.DataRange(f.Data); ok && l < hi && lo < h {
			return true
		}
	}
	g.constSpansOnce.Do(func() {
		for _, c := range g.consts {
			if c == nil {
				continue
			}
			if l, h, ok := tensor.DataRange(c.Data); ok {
				g.constSpans = append(g.constSpans, [2]uintptr{l, h})
			}
		}
	})
	for _, span := range g.constSpans {
		if span[0] < hi && lo < span[1] {
			return true
		}
	}
	return false
}
