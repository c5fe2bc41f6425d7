// Package pattern is the one expression-pattern engine for activation chains: the rewriter finds
// activation sites with it (package rewrite), and the runtime fuses the GELU chains it finds
// into one kernel (package runtime), as onnxscript's fusions share one pattern IR. It depends
// only on the ONNX types, so the rewriter links no kernel by importing it.
//
// A pattern is a small expression tree that reads like the formula it matches, built with the
// methods of Builder and matched backwards from the value a chain outputs. Commuted and
// re-associated variants are not written out by hand: every Add and Mul tries both operand
// orders, and Prod(a, b, c) tries every way of multiplying three factors, so one declaration
// covers all the orders exporters emit. Matching backtracks, so a variable bound on a wrong
// branch is unbound again.
package pattern

import (
	"fmt"
	"math"
	"slices"

	"github.com/actswap/actswap/onnx"
)

// Pattern is one node of a pattern tree.
type Pattern struct {
	kind    kind
	op      string // opKind: op_type
	domain  string // opKind: "" for the standard set (also accepts "ai.onnx")
	inputs  []*Pattern
	commute bool                        // opKind with two inputs: also try them swapped
	check   func(*onnx.NodeProto) error // opKind: attribute condition; nil accepts any
	name    string                      // varKind: variable name; constKind: optional binding
	value   float64                     // constKind: expected value
	alts    []*Pattern                  // altKind: alternatives, tried in order
}

type kind int

const (
	opKind kind = iota
	varKind
	constKind
	altKind
)

// ConstRelTol is the relative tolerance constants match within, for the rewriter and the
// runtime's GELU fusion alike (they used 1e-3 and, in effect, 1e-5 before sharing this engine).
// 1e-3 is twice float16's half-ulp (2⁻¹¹ ≈ 4.9e-4): a float16 export writes √2 as 1.4140625
// (1.5e-4 off), 0.044715 as 0.04470825 (1.5e-4) and QuickGELU's 1.702 as 1.7021484375 (8.7e-5),
// and float32 exports are closer still (√2 as 1.4142099618911743, 2.5e-6; the folded tanh
// coefficient 0.035677 against √(2/π)·0.044715, 1.1e-5). A chain that close to GELU is GELU
// within the model's own precision, so fusing it into the exact kernel is sound. Measured on
// every .onnx under ../shared (the exporter models and the whole backend suite): the same 26
// GELU sites and 18 runtime fusions at 1e-3, 1e-4, 1e-5 and 1e-6 — nothing there is near the
// bound; the float16 cases are pinned by TestGeluFusion and rewrite's TestFindEachPattern.
const ConstRelTol = 1e-3

// CloseTo reports whether a constant got matches want within ConstRelTol.
func CloseTo(got, want float64) bool {
	return math.Abs(got-want) <= ConstRelTol*math.Max(math.Abs(want), 1e-12)
}

// Builder is the op builder patterns are written with (onnxscript-style: a pattern is a tiny
// function over an op builder).
type Builder struct{}

// Var is a value the match binds; every use of the same name must bind the same value.
func (Builder) Var(name string) *Pattern { return &Pattern{kind: varKind, name: name} }

// C is a scalar constant, matched within ConstRelTol.
func (Builder) C(v float64) *Pattern { return &Pattern{kind: constKind, value: v} }

// Cnamed is a constant whose value name the match also binds, for callers that read the actual value.
func (Builder) Cnamed(name string, v float64) *Pattern {
	return &Pattern{kind: constKind, value: v, name: name}
}

// OneOf matches whichever alternative matches first.
func (Builder) OneOf(alts ...*Pattern) *Pattern { return &Pattern{kind: altKind, alts: alts} }

// Op is a node of the standard operator set with exactly these inputs.
func (Builder) Op(op string, inputs ...*Pattern) *Pattern {
	return &Pattern{kind: opKind, op: op, inputs: inputs}
}

// DomainOp is a node of another operator set (com.microsoft) with exactly these inputs.
func (Builder) DomainOp(domain, op string, inputs ...*Pattern) *Pattern {
	return &Pattern{kind: opKind, op: op, domain: domain, inputs: inputs}
}

// Where adds an attribute condition to an op pattern.
func (Builder) Where(p *Pattern, check func(*onnx.NodeProto) error) *Pattern {
	q := *p
	q.check = check
	return &q
}

func (b Builder) Add(x, y *Pattern) *Pattern {
	p := b.Op("Add", x, y)
	p.commute = true
	return p
}

func (b Builder) Mul(x, y *Pattern) *Pattern {
	p := b.Op("Mul", x, y)
	p.commute = true
	return p
}

func (b Builder) Div(x, y *Pattern) *Pattern  { return b.Op("Div", x, y) }
func (b Builder) Pow(x, y *Pattern) *Pattern  { return b.Op("Pow", x, y) }
func (b Builder) Erf(x *Pattern) *Pattern     { return b.Op("Erf", x) }
func (b Builder) Tanh(x *Pattern) *Pattern    { return b.Op("Tanh", x) }
func (b Builder) Sigmoid(x *Pattern) *Pattern { return b.Op("Sigmoid", x) }
func (b Builder) Relu(x *Pattern) *Pattern    { return b.Op("Relu", x) }
func (b Builder) Gelu(x *Pattern) *Pattern    { return b.Op("Gelu", x) }

// Microsoft is a node of onnxruntime's com.microsoft contrib set.
func (b Builder) Microsoft(op string, in ...*Pattern) *Pattern {
	return b.DomainOp(MicrosoftDomain, op, in...)
}

// MicrosoftDomain is onnxruntime's contrib operator set.
const MicrosoftDomain = "com.microsoft"

// Prod is the product of two or three factors in any association and order.
func (b Builder) Prod(f ...*Pattern) *Pattern {
	switch len(f) {
	case 1:
		return f[0]
	case 2:
		return b.Mul(f[0], f[1])
	case 3:
		return b.OneOf(
			b.Mul(f[0], b.Mul(f[1], f[2])),
			b.Mul(f[1], b.Mul(f[0], f[2])),
			b.Mul(f[2], b.Mul(f[0], f[1])),
		)
	}
	panic(fmt.Sprintf("pattern: Prod of %d factors is not supported", len(f))) // a pattern bug, not input
}

// RootOps lists the op types a pattern's root node can have, so callers try a pattern only at
// nodes that could end it.
func RootOps(p *Pattern) []string {
	switch p.kind {
	case opKind:
		return []string{p.op}
	case altKind:
		var ops []string
		for _, a := range p.alts {
			ops = append(ops, RootOps(a)...)
		}
		return ops
	}
	return nil
}

// Node is what a Graph tells the matcher about the node producing a value.
type Node[V comparable] struct {
	Index          int
	OpType, Domain string
	// Proto gives the node's name and attributes (Where conditions read them).
	Proto *onnx.NodeProto
	// Inputs are the node's input values, trailing omitted optional ones dropped.
	Inputs []V
	// Outputs is how many values the node produces that anything may read.
	Outputs int
}

// Graph is the graph a pattern is matched in; V is how it names values (the rewriter's value
// names, the runtime's slots).
type Graph[V comparable] interface {
	// Producer returns the node producing v; false for graph inputs, initializers and constants
	// folded into values.
	Producer(v V) (Node[V], bool)
	// ScalarConst returns v's value when it is a one-element constant.
	ScalarConst(v V) (float64, bool)
	// Omitted reports whether v marks an omitted optional input.
	Omitted(v V) bool
	// Describe names v for the tracer's messages.
	Describe(v V) string
}

// Binding is one (partial) match: the variables bound and the nodes taken, in match order. It is
// extended by copying so backtracking needs no undo.
type Binding[V comparable] struct {
	Vars  map[string]V
	Nodes []int
}

func (b *Binding[V]) withVar(name string, value V) *Binding[V] {
	vars := make(map[string]V, len(b.Vars)+1)
	for k, v := range b.Vars {
		vars[k] = v
	}
	vars[name] = value
	return &Binding[V]{Vars: vars, Nodes: b.Nodes}
}

func (b *Binding[V]) withNode(i int) *Binding[V] {
	if slices.Contains(b.Nodes, i) {
		return b
	}
	return &Binding[V]{Vars: b.Vars, Nodes: append(slices.Clip(b.Nodes), i)}
}

// Matcher runs patterns against one graph and keeps, for a tracer, the failure reached after
// taking the most nodes: that is the most useful answer to "why did this not match".
type Matcher[V comparable] struct {
	G         Graph[V]
	bestDepth int
	bestWhy   string
}

// Why is the failure that got furthest so far ("" if none).
func (m *Matcher[V]) Why() string { return m.bestWhy }

// Depth is how many nodes the furthest failure had taken.
func (m *Matcher[V]) Depth() int { return m.bestDepth }

// First returns the first complete match of p ending at value, or nil.
func (m *Matcher[V]) First(p *Pattern, value V) *Binding[V] {
	var found *Binding[V]
	m.Match(p, value, &Binding[V]{}, func(b *Binding[V]) bool {
		found = b
		return true
	})
	return found
}

func (m *Matcher[V]) fail(b *Binding[V], format string, args ...any) bool {
	if len(b.Nodes) >= m.bestDepth {
		m.bestDepth = len(b.Nodes)
		m.bestWhy = fmt.Sprintf(format, args...)
	}
	return false
}

// Match tries to match p against value, calling k with each complete binding until k accepts one.
func (m *Matcher[V]) Match(p *Pattern, value V, b *Binding[V], k func(*Binding[V]) bool) bool {
	switch p.kind {
	case varKind:
		if bound, ok := b.Vars[p.name]; ok {
			if bound != value {
				return m.fail(b, "%s is %s here but %s elsewhere", p.name, m.G.Describe(value), m.G.Describe(bound))
			}
			return k(b)
		}
		return k(b.withVar(p.name, value))
	case constKind:
		c, ok := m.G.ScalarConst(value)
		if !ok {
			return m.fail(b, "%s is not a scalar constant (want %.6g)", m.G.Describe(value), p.value)
		}
		if !CloseTo(c, p.value) {
			return m.fail(b, "constant %s is %.8g, want %.8g (relative tolerance %g)", m.G.Describe(value), c, p.value, ConstRelTol)
		}
		if p.name != "" {
			return k(b.withVar(p.name, value))
		}
		return k(b)
	case altKind:
		for _, alt := range p.alts {
			if m.Match(alt, value, b, k) {
				return true
			}
		}
		return false
	}
	n, ok := m.G.Producer(value)
	if !ok {
		return m.fail(b, "%s is not produced by a node (want %s)", m.G.Describe(value), p.op)
	}
	if n.OpType != p.op || !sameDomain(n.Domain, p.domain) {
		return m.fail(b, "%s comes from %s node %q, want %s", m.G.Describe(value), opName(n.Domain, n.OpType), n.Proto.GetName(), p.op)
	}
	if len(n.Inputs) != len(p.inputs) {
		return m.fail(b, "node %q (%s) has %d inputs, want %d", n.Proto.GetName(), n.OpType, len(n.Inputs), len(p.inputs))
	}
	if n.Outputs != 1 {
		return m.fail(b, "node %q (%s) has %d outputs, want 1", n.Proto.GetName(), n.OpType, n.Outputs)
	}
	if p.check != nil {
		if err := p.check(n.Proto); err != nil {
			return m.fail(b, "node %q (%s): %v", n.Proto.GetName(), n.OpType, err)
		}
	}
	b = b.withNode(n.Index)
	if m.matchInputs(p.inputs, n.Inputs, b, k) {
		return true
	}
	if p.commute && len(p.inputs) == 2 {
		swapped := []*Pattern{p.inputs[1], p.inputs[0]}
		return m.matchInputs(swapped, n.Inputs, b, k)
	}
	return false
}

// matchInputs matches patterns to values pairwise, left to right, threading the binding through.
func (m *Matcher[V]) matchInputs(ps []*Pattern, values []V, b *Binding[V], k func(*Binding[V]) bool) bool {
	if len(ps) == 0 {
		return k(b)
	}
	if m.G.Omitted(values[0]) {
		return m.fail(b, "optional input left empty where %s is expected", describe(ps[0]))
	}
	return m.Match(ps[0], values[0], b, func(b2 *Binding[V]) bool {
		return m.matchInputs(ps[1:], values[1:], b2, k)
	})
}

func sameDomain(got, want string) bool {
	if want == "" {
		return onnx.IsDefaultDomain(got)
	}
	return got == want
}

// OpName is a node's op type as messages show it, prefixed by its domain outside the standard set.
func OpName(n *onnx.NodeProto) string { return opName(n.GetDomain(), n.GetOpType()) }

func opName(domain, opType string) string {
	if onnx.IsDefaultDomain(domain) {
		return opType
	}
	return domain + ":" + opType
}

func describe(p *Pattern) string {
	switch p.kind {
	case varKind:
		return p.name
	case constKind:
		return fmt.Sprintf("constant %.6g", p.value)
	case altKind:
		return "one of several forms"
	}
	return p.op
}
