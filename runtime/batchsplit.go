package runtime

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/workers"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// Runs split by rows. A small model run on a batch with several threads gains little from
// splitting each node's work among them: each node's share is microseconds, every parallel loop
// costs a hand-off, and half of what a node reads was written by the other core in the node
// before. digits_cnn's batch of 16 took 0.068 ms on two threads against 0.099 on one (Zen 5,
// bench alone), and 0.059 split by rows. When every node treats the rows of the batch (axis 0 of
// every input) independently, the session instead cuts the batch into one part per thread and
// runs each part on one thread: one hand-off per run, and each value stays in the cache of the
// core that made it. Which models qualify is decided once, from the graph, by rules per operator
// (rowAnalysis.rule): a conservative list of the operators that cannot mix rows, each with the
// attributes and constant inputs that keep it so; any other operator on a row-carrying value
// keeps the model on the node-by-node split. The decision depends on the graph, the thread
// count and the number of rows only, never on timings: a session gives the same bits for the
// same inputs on every run, and, since each part is at least gemm.RowsSummedAlike rows and the
// convolutions choose their lowering per image, not per batch size, the same bits as one thread
// (TestThreadsGiveIdenticalOutputs, TestRowSplitKeepsTheBits). Only graphs that convolve their
// rows are split (rowSplit.convolves).

// rowSplit is what the analysis of a graph found: the values that carry the batch's rows on
// axis 0 (graph inputs and what follows from them row by row).
type rowSplit struct {
	rows map[string]bool
	// convolves: a convolution reads rows. Only such graphs are split: on a batch of images each
	// convolution's per-node split costs a hand-off and the other core's cache lines, and the
	// split by rows saves them (digits_cnn, 16 rows on 2 threads: 0.058 → 0.055 ms against
	// onnxruntime's 0.057); a graph of small products (digits_mlp_gelu, 7 µs a run) runs its
	// products on one thread anyway and only pays for the parts (7 → 7–10 µs, 2026-12-07).
	convolves bool
}

// carriesRows reports whether every named value carries the batch's rows.
func (r *rowSplit) carriesRows(names []string) bool {
	for _, n := range names {
		if !r.rows[n] {
			return false
		}
	}
	return true
}

// analyzeRowSplit returns the row split of gp, or nil and the reason the graph does not qualify.
// A graph the compiler accepts never fails because of it: a malformed node the rules did not
// foresee leaves the graph unsplit.
func analyzeRowSplit(gp *onnx.GraphProto, opsets map[string]int) (split *rowSplit, why string) {
	defer func() {
		if r := recover(); r != nil {
			split, why = nil, fmt.Sprintf("internal error: %v", r)
		}
	}()
	a := rowAnalysis{ranks: map[string]int{}, consts: map[string]*onnx.TensorProto{}, opsets: opsets}
	for _, t := range gp.GetInitializer() {
		a.consts[t.GetName()] = t
	}
	fed, convolves := 0, false
	for _, in := range gp.GetInput() {
		if a.consts[in.GetName()] != nil {
			continue // an initializer listed as an input (IR < 4): a constant
		}
		dims := in.GetType().GetTensorType().GetShape().GetDim()
		if in.GetType().GetTensorType() == nil || in.GetType().GetTensorType().GetShape() == nil || len(dims) == 0 {
			return nil, fmt.Sprintf("input %q has no declared rank ≥ 1", in.GetName())
		}
		if dims[0].GetDimValue() > 0 {
			return nil, fmt.Sprintf("input %q has a fixed first dimension (%d)", in.GetName(), dims[0].GetDimValue())
		}
		a.ranks[in.GetName()] = len(dims)
		fed++
	}
	if fed == 0 {
		return nil, "the graph has no inputs"
	}
	for _, n := range gp.GetNode() {
		if n.GetOpType() == "Constant" && onnx.IsDefaultDomain(n.GetDomain()) && len(n.GetAttribute()) == 1 && n.GetAttribute()[0].GetName() == "value" {
			if len(n.GetOutput()) == 1 {
				a.consts[n.GetOutput()[0]] = n.GetAttribute()[0].GetT()
			}
			continue
		}
		if hasSubgraph(n) {
			return nil, fmt.Sprintf("node %s has a subgraph", nodeLabel(n))
		}
		carries := false
		for _, in := range n.GetInput() {
			if _, ok := a.ranks[in]; ok {
				carries = true
			}
		}
		if !carries {
			continue // computed from constants only: the same in every part
		}
		out, why := a.rule(n)
		if why != "" {
			return nil, fmt.Sprintf("node %s (%s): %s", nodeLabel(n), n.GetOpType(), why)
		}
		convolves = convolves || onnx.IsDefaultDomain(n.GetDomain()) && (n.GetOpType() == "Conv" || n.GetOpType() == "ConvTranspose")
		for i, name := range n.GetOutput() {
			if name != "" && i < len(out) {
				a.ranks[name] = out[i]
			}
		}
	}
	r := &rowSplit{rows: map[string]bool{}, convolves: convolves}
	for name := range a.ranks {
		r.rows[name] = true
	}
	for _, o := range gp.GetOutput() {
		if !r.rows[o.GetName()] {
			return nil, fmt.Sprintf("output %q does not carry the batch's rows", o.GetName())
		}
	}
	return r, ""
}

// rowAnalysis tracks, while the nodes are visited in order, the rank of each value that carries
// rows and the constant tensors whose values the rules read.
type rowAnalysis struct {
	ranks  map[string]int
	consts map[string]*onnx.TensorProto
	opsets map[string]int
}

// Operators that map each element (or each row's elements, with constant parameters) on their
// own: their first input carries rows, their other inputs must not, the output keeps its rank.
var (
	rowUnaryOps = setOf("Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Abs", "Neg",
		"Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Softplus", "Softsign", "Elu",
		"Selu", "Celu", "LeakyRelu", "ThresholdedRelu", "HardSigmoid", "HardSwish", "Mish", "Gelu",
		"Identity", "Cast", "Not", "IsNaN", "IsInf", "Clip",
		// Per image: the batch is axis 0 by definition, the weights and statistics constants.
		"Conv", "ConvTranspose", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
		"GlobalLpPool", "InstanceNormalization", "LRN", "DepthToSpace", "SpaceToDepth")
	rowElementwiseOps = setOf("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean",
		"PRelu", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor",
		"Mod", "Where")
	rowReduceOps = setOf("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
		"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
	// rowContribOps are onnxruntime's GELU variants and actswap's own operators (their
	// parameters are constant inputs; per-channel ones along an axis that is not the batch's).
	rowContribOps = setOf("com.microsoft/Gelu", "com.microsoft/FastGelu", "com.microsoft/BiasGelu",
		"com.microsoft/QuickGelu", "ai.actswap/Zorro", "ai.actswap/PWLU", "ai.actswap/CRReLU")
)

// rule returns the ranks of n's outputs when n keeps rows apart, else why it may not.
func (a *rowAnalysis) rule(n *onnx.NodeProto) ([]int, string) {
	// in holds at least the inputs any rule below reads: a missing one is "" (no value).
	in := append(slices.Clone(n.GetInput()), "", "", "", "")
	rank0, first := a.ranks[in[0]]
	one := func(r int) []int { return []int{r} }
	op := n.GetOpType()
	domain := onnx.CanonicalDomain(n.GetDomain())
	if domain != "" {
		if !rowContribOps[domain+"/"+op] || !first || a.carriesAny(in[1:]) {
			return nil, "not an operator known to keep the batch's rows apart"
		}
		if domain == "ai.actswap" {
			for _, p := range n.GetInput()[1:] {
				c := a.consts[p]
				if c == nil {
					return nil, fmt.Sprintf("parameter %q is not a constant", p)
				}
				if d := c.GetDims(); len(d) > 0 && d[0] > 1 && normAxis(attrInt(n, "axis", 1), rank0) < 1 {
					return nil, "per-channel parameters along the batch axis"
				}
			}
		}
		return one(rank0), ""
	}
	switch {
	case rowUnaryOps[op] || op == "BatchNormalization" || op == "Dropout":
		if !first || a.carriesAny(in[1:]) {
			return nil, "only its first input may carry the batch's rows"
		}
		if op == "BatchNormalization" && len(n.GetOutput()) > 1 {
			return nil, "training outputs"
		}
		return []int{rank0, rank0}, ""
	case op == "MaxPool":
		// The optional second output holds indices into the whole tensor, batch included.
		if !first || len(n.GetOutput()) > 1 && n.GetOutput()[1] != "" {
			return nil, "indices output (counts across the batch)"
		}
		return one(rank0), ""
	case rowElementwiseOps[op]:
		return a.broadcast(n.GetInput())
	case op == "Gemm":
		if !first || a.carriesAny(in[1:]) || attrInt(n, "transA", 0) != 0 || rank0 != 2 {
			return nil, "rows must be A's (not transposed)"
		}
		if in[2] != "" {
			c := a.consts[in[2]]
			if c == nil || len(c.GetDims()) == 2 && c.GetDims()[0] != 1 {
				return nil, "C may add a different value to each row"
			}
		}
		return one(2), ""
	case op == "MatMul":
		rankB, second := a.ranks[in[1]]
		switch {
		case first && second && rank0 >= 3 && rank0 == rankB:
			return one(rank0), ""
		case first && !second && rank0 >= 2 && a.constRank(in[1]) >= 1 && a.constRank(in[1]) <= 2:
			return one(rank0 + a.constRank(in[1]) - 2), "" // a vector B drops the last axis
		case !first && second && rankB >= 3 && a.constRank(in[0]) >= 1 && a.constRank(in[0]) <= 2:
			return one(rankB + a.constRank(in[0]) - 2), "" // a vector A drops the row axis
		}
		return nil, "a product across the batch's rows"
	case op == "Flatten":
		if normAxis(attrInt(n, "axis", 1), rank0) < 1 {
			return nil, "flattens the batch axis"
		}
		return one(2), ""
	case op == "Softmax" || op == "LogSoftmax" || op == "Hardmax" || op == "ArgMax" || op == "ArgMin":
		def := int64(-1)
		if (op != "ArgMax" && op != "ArgMin") && a.opsets[""] < 13 {
			def = 1
		}
		if op == "ArgMax" || op == "ArgMin" {
			def = 0
		}
		if normAxis(attrInt(n, "axis", def), rank0) < 1 {
			return nil, "along the batch axis"
		}
		if (op == "ArgMax" || op == "ArgMin") && attrInt(n, "keepdims", 1) == 0 {
			return one(rank0 - 1), ""
		}
		return one(rank0), ""
	case op == "LayerNormalization":
		if !first || a.carriesAny(in[1:]) || normAxis(attrInt(n, "axis", -1), rank0) < 1 {
			return nil, "normalizes across the batch axis"
		}
		return []int{rank0, rank0, rank0}, ""
	case rowReduceOps[op]:
		axes, ok := a.axes(n, 1, op != "ReduceSum" && a.opsets[""] < 18 || op == "ReduceSum" && a.opsets[""] < 13)
		if !ok || len(axes) == 0 {
			return nil, "axes are not constant, or reduce every axis"
		}
		for _, x := range axes {
			if normAxis(x, rank0) < 1 {
				return nil, "reduces the batch axis"
			}
		}
		if attrInt(n, "keepdims", 1) == 0 {
			return one(rank0 - len(axes)), ""
		}
		return one(rank0), ""
	case op == "Reshape":
		shape := a.ints(in[1])
		if a.carriesAny(in[1:]) || len(shape) == 0 || shape[0] != 0 || attrInt(n, "allowzero", 0) != 0 {
			return nil, "the target shape does not keep the first dimension (0)"
		}
		return one(len(shape)), ""
	case op == "Transpose":
		perm := attrInts(n, "perm")
		if len(perm) == 0 || perm[0] != 0 {
			return nil, "moves the batch axis"
		}
		return one(rank0), ""
	case op == "Concat":
		for _, x := range n.GetInput() {
			if r, ok := a.ranks[x]; !ok || r != rank0 {
				return nil, "an input without the batch's rows"
			}
		}
		if normAxis(attrInt(n, "axis", 0), rank0) < 1 {
			return nil, "along the batch axis"
		}
		return one(rank0), ""
	case op == "Split":
		if !first || a.carriesAny(in[1:]) || normAxis(attrInt(n, "axis", 0), rank0) < 1 {
			return nil, "along the batch axis"
		}
		out := make([]int, len(n.GetOutput()))
		for i := range out {
			out[i] = rank0
		}
		return out, ""
	case op == "Slice":
		if !first || a.carriesAny(in[1:]) || in[3] == "" {
			return nil, "axes are not given"
		}
		axes := a.ints(in[3])
		if axes == nil {
			return nil, "axes are not constant"
		}
		for _, x := range axes {
			if normAxis(x, rank0) < 1 {
				return nil, "slices the batch axis"
			}
		}
		return one(rank0), ""
	case op == "Squeeze" || op == "Unsqueeze":
		axes, ok := a.axes(n, 1, a.opsets[""] < 13)
		if !first || !ok || len(axes) == 0 {
			return nil, "axes are not constant"
		}
		outRank := rank0 - len(axes)
		if op == "Unsqueeze" {
			outRank = rank0 + len(axes)
		}
		for _, x := range axes {
			if op == "Squeeze" && normAxis(x, rank0) < 1 || op == "Unsqueeze" && normAxis(x, outRank) < 1 {
				return nil, "at the batch axis"
			}
		}
		return one(outRank), ""
	case op == "Gather":
		axis := attrInt(n, "axis", 0)
		if first && !a.carriesAny(in[1:]) && normAxis(axis, rank0) >= 1 {
			if r := a.constRank(in[1]); r >= 0 {
				return one(rank0 - 1 + r), ""
			}
		}
		if !first && a.ranks[in[1]] >= 1 && a.carriesAny(in[1:]) && axis == 0 {
			if r := a.constRank(in[0]); r >= 1 {
				return one(a.ranks[in[1]] + r - 1), ""
			}
		}
		return nil, "gathers along the batch axis"
	case op == "Pad":
		pads := a.ints(in[1])
		if a.opsets[""] < 11 {
			pads = attrInts(n, "pads")
		}
		if !first || a.carriesAny(in[1:]) || len(pads) != 2*rank0 || pads[0] != 0 || pads[rank0] != 0 || in[3] != "" {
			return nil, "pads the batch axis"
		}
		return one(rank0), ""
	case op == "Tile":
		reps := a.ints(in[1])
		if !first || a.carriesAny(in[1:]) || len(reps) != rank0 || reps[0] != 1 {
			return nil, "repeats the batch axis"
		}
		return one(rank0), ""
	}
	return nil, "not an operator known to keep the batch's rows apart"
}

// broadcast is the rule of the elementwise operators: inputs that carry rows have the output's
// rank (their axis 0 is the output's), constants a lower rank or a first dimension of 1.
func (a *rowAnalysis) broadcast(in []string) ([]int, string) {
	rank := 0
	for _, x := range in {
		if r, ok := a.ranks[x]; ok {
			rank = max(rank, r)
		} else if x != "" {
			rank = max(rank, a.constRank(x))
		}
	}
	for _, x := range in {
		if x == "" {
			continue
		}
		if r, ok := a.ranks[x]; ok {
			if r != rank {
				return nil, "broadcasts a row-carrying input"
			}
			continue
		}
		c := a.consts[x]
		if c == nil {
			return nil, fmt.Sprintf("input %q is neither constant nor carries rows", x)
		}
		if d := c.GetDims(); len(d) == rank && d[0] != 1 {
			return nil, fmt.Sprintf("constant %q differs along the batch axis", x)
		}
	}
	return []int{rank}, ""
}

// carriesAny reports whether any of names carries rows.
func (a *rowAnalysis) carriesAny(names []string) bool {
	return slices.ContainsFunc(names, func(n string) bool { _, ok := a.ranks[n]; return ok })
}

// constRank is a constant's rank, −1 when name is not a constant.
func (a *rowAnalysis) constRank(name string) int {
	if c := a.consts[name]; c != nil {
		return len(c.GetDims())
	}
	return -1
}

// ints is a constant integer tensor's values, nil when name is not one.
func (a *rowAnalysis) ints(name string) []int64 {
	c := a.consts[name]
	if c == nil {
		return nil
	}
	t, err := tensor.FromProto(c)
	if err != nil {
		return nil
	}
	switch d := t.Data.(type) {
	case []int64:
		return d
	case []int32:
		out := make([]int64, len(d))
		for i, v := range d {
			out[i] = int64(v)
		}
		return out
	}
	return nil
}

// axes is a node's axes: the attribute where fromAttr, else its input at index; false when they
// are given by a value that is not constant.
func (a *rowAnalysis) axes(n *onnx.NodeProto, index int, fromAttr bool) ([]int64, bool) {
	if fromAttr {
		return attrInts(n, "axes"), true
	}
	in := n.GetInput()
	if len(in) <= index || in[index] == "" {
		return nil, true
	}
	v := a.ints(in[index])
	return v, v != nil
}

// normAxis is axis counted from the front of a rank-dimensional value.
func normAxis(axis int64, rank int) int {
	if axis < 0 {
		return int(axis) + rank
	}
	return int(axis)
}

// rowParts is how many parts a run of inputs is split into by rows: 1 (not split) unless the
// session may use several threads, its graph qualifies and convolves its rows
// (rowSplit.convolves), every requested output carries rows, and every input has the same
// number of rows, enough for two parts. A part has at least
// gemm.RowsSummedAlike rows: a product of fewer runs other kernels than the whole batch's and
// rounds differently, and the session promises the same bits on any number of threads (3 rows
// on 2 threads, as parts of 1 and 2, changed digits_mlp_gelu's output in its last bit).
func (s *Session) rowParts(inputs map[string]*tensor.Tensor, outputNames []string) int {
	if s.byRows == nil || !s.byRows.convolves || s.threads < 2 || len(outputNames) > 0 && !s.byRows.carriesRows(outputNames) {
		return 1
	}
	rows := s.rows(inputs)
	if rows < 0 {
		return 1
	}
	return max(1, min(s.threads, rows/gemm.RowsSummedAlike))
}

// rows is the number of rows every input has, −1 when they differ, one is missing or is not a
// dense tensor (the unsplit run then reports what is wrong).
func (s *Session) rows(inputs map[string]*tensor.Tensor) int {
	rows := -1
	for _, v := range s.inputs {
		t := inputs[v.name]
		if t == nil || len(t.Shape) == 0 || rows >= 0 && t.Shape[0] != rows || !denseSlice(t) {
			return -1
		}
		rows = t.Shape[0]
	}
	return rows
}

// runByRows runs inputs in parts of rows, each on one thread, and stacks the parts' outputs.
func (s *Session) runByRows(ctx context.Context, inputs map[string]*tensor.Tensor, outputNames []string, parts int) (map[string]*tensor.Tensor, error) {
	rows := s.rows(inputs)
	results := make([]map[string]*tensor.Tensor, parts)
	errs := make([]error, parts)
	workers.RunTaskOn(parts, parts, parts, workers.TaskFunc(func(lo, hi int) {
		for c := lo; c < hi; c++ {
			p := parts - 1 - c
			r0, r1 := rows*p/parts, rows*(p+1)/parts
			in := make(map[string]*tensor.Tensor, len(inputs))
			for name, t := range inputs {
				in[name] = rowsView(t, r0, r1)
			}
			var pool *bufferPool // none where the session recycles no buffers
			if p < len(s.partBuffers) {
				pool = s.partBuffers[p]
			}
			results[p], errs[p] = s.run(ctx, in, outputNames, 1, pool)
		}
	}))
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	out := make(map[string]*tensor.Tensor, len(results[0]))
	stacked := make([]*tensor.Tensor, parts)
	for name := range results[0] {
		for p := range results {
			stacked[p] = results[p][name]
			if len(stacked[p].Shape) == 0 || stacked[p].DType != stacked[0].DType || !slices.Equal(stacked[p].Shape[1:], stacked[0].Shape[1:]) {
				return nil, fmt.Errorf("output %q: the parts of the batch have different shapes (%v, %v)", name, stacked[0].Shape, stacked[p].Shape)
			}
		}
		out[name] = tensor.ConcatRows(stacked)
	}
	return out, nil
}

// denseSlice reports whether t's data is a slice holding its shape's elements (rowsView slices it).
func denseSlice(t *tensor.Tensor) bool {
	v := reflect.ValueOf(t.Data)
	return v.Kind() == reflect.Slice && v.Len() == tensor.NumElements(t.Shape)
}

// rowsView is rows [r0, r1) of t's first dimension, sharing t's data.
func rowsView(t *tensor.Tensor, r0, r1 int) *tensor.Tensor {
	row := tensor.NumElements(t.Shape[1:])
	shape := slices.Clone(t.Shape)
	shape[0] = r1 - r0
	data := reflect.ValueOf(t.Data).Slice(r0*row, r1*row).Interface()
	return &tensor.Tensor{DType: t.DType, Shape: shape, Data: data}
}
