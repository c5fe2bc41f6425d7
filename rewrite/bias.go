package rewrite

import (
	"fmt"
	"slices"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// A constant bias added in front of a site, x = m + b with b constant along every axis but one, is
// absorbed into the new node's parameters: the node reads m, and its parameter set for channel c
// is onnxops.ShiftInput(set, b_c), which computes f(m + b_c) exactly (PWLU moves its bounds by
// −b_c, ungated Zorro its in_shift by in_scale·b_c). That is one memory pass fewer in every
// runtime: the MatMul+Add before each GELU of a transformer, or a convolution bias exported as an
// Add. Per-tensor parameters become per-channel ones along the bias's axis.

// bias is a per-channel constant added to a site's input.
type bias struct {
	node   int    // index of the Add node, −1 for FastGelu/BiasGelu's bias input (no Add yet)
	name   string // the Add node's name, or the bias value's name without an Add
	input  string // m, the value the bias is added to
	values []float64
	axis   int // the bias's channel axis, counted from the end (−1 for a [C] bias); 0 when len(values) == 1
}

// AbsorbedBias says which bias a replaced site's new node absorbed: the Add node it replaced (or
// FastGelu/BiasGelu's bias value, which then gets no Add), the axis, counted from the end, along
// which the bias varies (0 for one value), and its channel count.
type AbsorbedBias struct {
	Node     string `json:"node"`
	Axis     int    `json:"axis"`
	Channels int    `json:"channels"`
}

// findBias returns the constant bias in front of site s that a rewrite could absorb, or the reason
// there is none ("" when there is simply no Add in front).
func (g *graphView) findBias(s Site) (bias, string) {
	if s.Bias != "" { // FastGelu/BiasGelu: x + bias, no Add node in the graph
		return g.biasValues(bias{node: -1, name: s.Bias, input: s.Input}, s.Bias)
	}
	i, add := g.producerOf(s.Input)
	if add == nil || add.GetOpType() != "Add" || !isStandardDomain(add.GetDomain()) || len(add.GetInput()) != 2 {
		return bias{}, ""
	}
	if g.graphOutput[s.Input] {
		return bias{}, fmt.Sprintf("the biased value %q is a graph output", s.Input)
	}
	for _, c := range g.consumers[s.Input] {
		if !slices.Contains(s.nodeIdx, c) {
			return bias{}, fmt.Sprintf("the biased value %q is also read by node %q", s.Input, g.node(c).GetName())
		}
	}
	for k, in := range add.GetInput() {
		if _, ok := g.constTensor(in); ok {
			other := add.GetInput()[1-k]
			if _, ok := g.constTensor(other); ok {
				return bias{}, ""
			}
			return g.biasValues(bias{node: i, name: add.GetName(), input: other}, in)
		}
	}
	return bias{}, ""
}

// constTensor resolves value to a constant tensor: an initializer that no graph input can
// override, a Constant node's value, or either through Identity nodes (the PyTorch exporter
// passes shared weights through Identity).
func (g *graphView) constTensor(value string) (*onnx.TensorProto, bool) {
	for range maxConstDepth {
		if tp, ok := g.initializer[value]; ok {
			return tp, !g.graphInput[value]
		}
		_, n := g.producerOf(value)
		if n == nil || !isStandardDomain(n.GetDomain()) {
			return nil, false
		}
		switch n.GetOpType() {
		case "Identity":
			value = n.GetInput()[0]
		case "Constant":
			if a := attribute(n, "value"); a != nil && a.GetT() != nil {
				return a.GetT(), true
			}
			return nil, false
		default:
			return nil, false
		}
	}
	return nil, false
}

// biasValues reads the bias initializer and checks that adding it changes no shape: it varies
// along at most one axis, and m is known to span that axis in full.
func (g *graphView) biasValues(b bias, value string) (bias, string) {
	tp, ok := g.constTensor(value)
	if !ok {
		return bias{}, fmt.Sprintf("the bias %q is not a constant", value)
	}
	t, err := tensor.FromProto(tp)
	if err != nil {
		return bias{}, fmt.Sprintf("the bias %q cannot be read: %v", value, err)
	}
	if !t.DType.IsFloat() {
		return bias{}, fmt.Sprintf("the bias %q is %v", value, t.DType)
	}
	vals, _ := tensor.Float64s(t)
	if len(vals) == 0 {
		return bias{}, fmt.Sprintf("the bias %q is empty", value)
	}
	axis, c := 0, 1
	for k, d := range t.Shape {
		if d == 1 {
			continue
		}
		if c > 1 {
			return bias{}, fmt.Sprintf("the bias %q of shape %s varies along more than one axis", value, tensor.ShapeString(t.Shape))
		}
		axis, c = k-len(t.Shape), d
	}
	b.values, b.axis = vals, axis
	if len(t.Shape) == 0 {
		return b, "" // a scalar: m + b has m's shape, whatever it is
	}
	rank, dim, known := g.extent(b.input, axis)
	switch {
	case !known:
		return bias{}, fmt.Sprintf("the shape of %q is unknown, so adding the bias %q might broadcast it", b.input, value)
	case rank < len(t.Shape):
		return bias{}, fmt.Sprintf("the bias %q of shape %s has a higher rank than %q (%d)", value, tensor.ShapeString(t.Shape), b.input, rank)
	case c > 1 && dim != int64(c):
		return bias{}, fmt.Sprintf("the bias %q has %d channels along axis %d, %q has %d", value, c, axis, b.input, dim)
	}
	return b, ""
}

// extent returns the rank of value and its size along axis (counted from the end), as the graph
// declares them or as its producer fixes them: MatMul or Gemm with a constant weight, Conv. A rank
// is a lower bound (MatMul's output rank depends on its other input), which is all callers need.
func (g *graphView) extent(value string, axis int) (rank int, dim int64, ok bool) {
	if dims, declared := g.shape[value]; declared && len(dims) >= -axis {
		d := int64(1)
		if axis < 0 {
			d = dims[len(dims)+axis]
		}
		return len(dims), d, d >= 0
	}
	_, n := g.producerOf(value)
	if n == nil || !isStandardDomain(n.GetDomain()) || len(n.GetInput()) < 2 {
		return 0, 0, false
	}
	w, ok := g.constTensor(n.GetInput()[1])
	if !ok || len(w.GetDims()) < 2 {
		return 0, 0, false
	}
	wd := w.GetDims()
	switch n.GetOpType() {
	case "MatMul": // [.., K] × [K, N] → [.., N]: rank ≥ 1, N along the last axis
		if len(wd) != 2 || axis < -1 {
			return 0, 0, false
		}
		if axis == 0 {
			return 1, 1, true
		}
		return 1, wd[1], true
	case "Gemm": // [M, K] × B → [M, N], N = B's dims[transB ? 0 : 1]
		if axis < -2 {
			return 0, 0, false
		}
		nOut := wd[1]
		if a := attribute(n, "transB"); a != nil && a.GetI() != 0 {
			nOut = wd[0]
		}
		switch axis {
		case -1:
			return 2, nOut, true
		case -2:
			return 2, -1, false
		}
		return 2, 1, true
	case "Conv", "ConvTranspose": // [N, C, spatial…]: rank = the weight's
		r := len(wd)
		if axis == 0 {
			return r, 1, true
		}
		if axis != 1-r || n.GetOpType() != "Conv" {
			return 0, 0, false
		}
		return r, wd[0], true // Conv's output channels are its weight's first dimension, whatever the groups
	}
	return 0, 0, false
}

// absorb returns the site's parameters with the bias folded in, or why it cannot be.
func absorb(sp SiteParams, b bias, x string, g *graphView) (SiteParams, string) {
	if len(sp.Sets) > 1 && len(b.values) > 1 && !sameAxis(g, x, sp.Axis, b.axis) {
		return sp, fmt.Sprintf("the parameters are per channel along axis %d, the bias along axis %d", sp.Axis, b.axis)
	}
	out, err := shiftSets(sp, b.values, b.axis, 1)
	if err != nil {
		return sp, err.Error()
	}
	return out, ""
}

// shiftSets shifts each channel's parameter set by sign·b_c (onnxops.ShiftInput), broadcasting
// one set over C bias values or one bias value over C sets; with C bias values the result is per
// channel along biasAxis. The caller has checked that the axes agree.
func shiftSets(sp SiteParams, values []float64, biasAxis int, sign float64) (SiteParams, error) {
	c := len(values)
	if c == 0 || (len(sp.Sets) > 1 && c > 1 && len(sp.Sets) != c) {
		return sp, fmt.Errorf("%d parameter sets, %d bias channels", len(sp.Sets), c)
	}
	n := max(len(sp.Sets), c)
	out := SiteParams{Sets: make([]onnxops.Params, n), Axis: sp.Axis}
	if c > 1 {
		out.Axis = biasAxis
	}
	for i := range n {
		set, shift := sp.Sets[0], values[0]
		if len(sp.Sets) > 1 {
			set = sp.Sets[i]
		}
		if c > 1 {
			shift = values[i]
		}
		q, err := onnxops.ShiftInput(set, sign*shift)
		if err != nil {
			return sp, err
		}
		out.Sets[i] = q
	}
	return out, nil
}

// sameAxis reports whether axis a (of the parameters) and axis e (of the bias, counted from the
// end) name the same axis of x.
func sameAxis(g *graphView, x string, a, e int) bool {
	if a == e {
		return true
	}
	dims, ok := g.shape[x]
	if !ok {
		return false
	}
	if a < 0 {
		a += len(dims)
	}
	return a == e+len(dims)
}

// report is the report's account of an absorbed bias.
func (b bias) report() *AbsorbedBias {
	return &AbsorbedBias{Node: b.name, Axis: b.axis, Channels: len(b.values)}
}

// float32s are the bias values as the metadata records them (exact for float32 and float16
// biases).
func (b bias) float32s() []float32 {
	out := make([]float32, len(b.values))
	for i, v := range b.values {
		out[i] = float32(v)
	}
	return out
}
