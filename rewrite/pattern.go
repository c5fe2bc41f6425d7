package rewrite

import (
	"fmt"
	"math"
	"slices"

	"github.com/actswap/actswap/onnx"
)

// A pattern is a small expression tree that reads like the formula it matches. It is built with
// the methods of patternBuilder and matched backwards from the value a site outputs.
//
// Commuted and re-associated variants are not written out by hand: every Add and Mul tries both
// operand orders, and Prod(a, b, c) tries every way of multiplying three factors, so one
// declaration covers all the orders exporters emit. Matching backtracks, so a variable bound on a
// wrong branch is unbound again.
type pattern struct {
	kind    patternKind
	op      string // patOp: op_type
	domain  string // patOp: "" for the standard set (also accepts "ai.onnx")
	inputs  []*pattern
	commute bool                        // patOp with two inputs: also try them swapped
	check   func(*onnx.NodeProto) error // patOp: attribute condition; nil accepts any
	name    string                      // patVar: variable name
	value   float64                     // patConst: expected value
	alts    []*pattern                  // patAlt: alternatives, tried in order
}

type patternKind int

const (
	patOp patternKind = iota
	patVar
	patConst
	patAlt
)

// constRelTol is the relative tolerance for constants: exporters write √2 as 1.4142099618911743
// (a truncated float32) or 1.4142135623730951, and 0.7978845608 as 0.79788456.
const constRelTol = 1e-3

// patternBuilder is the op builder patterns are written with (onnxscript-style: a pattern is a
// tiny function over an op builder).
type patternBuilder struct{}

// Var is a value the match binds; every use of the same name must bind the same value.
func (patternBuilder) Var(name string) *pattern { return &pattern{kind: patVar, name: name} }

// C is a scalar constant, matched within constRelTol.
func (patternBuilder) C(v float64) *pattern { return &pattern{kind: patConst, value: v} }

// Cnamed is a constant whose value name the match also binds, for rules that read the actual value.
func (patternBuilder) Cnamed(name string, v float64) *pattern {
	return &pattern{kind: patConst, value: v, name: name}
}

// OneOf matches whichever alternative matches first.
func (patternBuilder) OneOf(alts ...*pattern) *pattern { return &pattern{kind: patAlt, alts: alts} }

// Op is a node of the standard operator set with exactly these inputs.
func (patternBuilder) Op(op string, inputs ...*pattern) *pattern {
	return &pattern{kind: patOp, op: op, inputs: inputs}
}

// DomainOp is a node of another operator set (com.microsoft) with exactly these inputs.
func (patternBuilder) DomainOp(domain, op string, inputs ...*pattern) *pattern {
	return &pattern{kind: patOp, op: op, domain: domain, inputs: inputs}
}

// Where adds an attribute condition to an op pattern.
func (patternBuilder) Where(p *pattern, check func(*onnx.NodeProto) error) *pattern {
	q := *p
	q.check = check
	return &q
}

func (b patternBuilder) Add(x, y *pattern) *pattern {
	p := b.Op("Add", x, y)
	p.commute = true
	return p
}

func (b patternBuilder) Mul(x, y *pattern) *pattern {
	p := b.Op("Mul", x, y)
	p.commute = true
	return p
}

func (b patternBuilder) Div(x, y *pattern) *pattern  { return b.Op("Div", x, y) }
func (b patternBuilder) Pow(x, y *pattern) *pattern  { return b.Op("Pow", x, y) }
func (b patternBuilder) Erf(x *pattern) *pattern     { return b.Op("Erf", x) }
func (b patternBuilder) Tanh(x *pattern) *pattern    { return b.Op("Tanh", x) }
func (b patternBuilder) Sigmoid(x *pattern) *pattern { return b.Op("Sigmoid", x) }
func (b patternBuilder) Relu(x *pattern) *pattern    { return b.Op("Relu", x) }
func (b patternBuilder) Gelu(x *pattern) *pattern    { return b.Op("Gelu", x) }
func (b patternBuilder) Microsoft(op string, in ...*pattern) *pattern {
	return b.DomainOp(microsoftDomain, op, in...)
}

// Prod is the product of two or three factors in any association and order.
func (b patternBuilder) Prod(f ...*pattern) *pattern {
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
	panic(fmt.Sprintf("rewrite: Prod of %d factors is not supported", len(f))) // a pattern bug, not input
}

// binding is one (partial) match: the variables bound and the nodes taken, in match order.
// It is extended by copying so backtracking needs no undo.
type binding struct {
	vars  map[string]string
	nodes []int
}

func (b *binding) withVar(name, value string) *binding {
	vars := make(map[string]string, len(b.vars)+1)
	for k, v := range b.vars {
		vars[k] = v
	}
	vars[name] = value
	return &binding{vars: vars, nodes: b.nodes}
}

func (b *binding) withNode(i int) *binding {
	if slices.Contains(b.nodes, i) {
		return b
	}
	return &binding{vars: b.vars, nodes: append(slices.Clip(b.nodes), i)}
}

// matcher runs patterns against one graph view and keeps, for the tracer, the failure reached
// after taking the most nodes: that is the most useful answer to "why did this not match".
type matcher struct {
	g         *graphView
	bestDepth int
	bestWhy   string
}

func (m *matcher) fail(b *binding, format string, args ...any) bool {
	if len(b.nodes) >= m.bestDepth {
		m.bestDepth = len(b.nodes)
		m.bestWhy = fmt.Sprintf(format, args...)
	}
	return false
}

// match tries to match p against value, calling k with each complete binding until k accepts one.
func (m *matcher) match(p *pattern, value string, b *binding, k func(*binding) bool) bool {
	switch p.kind {
	case patVar:
		if bound, ok := b.vars[p.name]; ok {
			if bound != value {
				return m.fail(b, "%s is %q here but %q elsewhere", p.name, value, bound)
			}
			return k(b)
		}
		return k(b.withVar(p.name, value))
	case patConst:
		c, ok := m.g.scalarConst(value)
		if !ok {
			return m.fail(b, "%q is not a scalar constant (want %.6g)", value, p.value)
		}
		if !closeTo(c, p.value) {
			return m.fail(b, "constant %q is %.8g, want %.8g (relative tolerance %g)", value, c, p.value, constRelTol)
		}
		if p.name != "" {
			return k(b.withVar(p.name, value))
		}
		return k(b)
	case patAlt:
		for _, alt := range p.alts {
			if m.match(alt, value, b, k) {
				return true
			}
		}
		return false
	}
	i, n := m.g.producerOf(value)
	if n == nil {
		return m.fail(b, "%q is not produced by a node (want %s)", value, p.op)
	}
	if n.GetOpType() != p.op || !sameDomain(n.GetDomain(), p.domain) {
		return m.fail(b, "%q comes from %s node %q, want %s", value, opName(n), n.GetName(), p.op)
	}
	inputs := presentInputs(n)
	if len(inputs) != len(p.inputs) {
		return m.fail(b, "node %q (%s) has %d inputs, want %d", n.GetName(), n.GetOpType(), len(inputs), len(p.inputs))
	}
	if len(n.GetOutput()) != 1 {
		return m.fail(b, "node %q (%s) has %d outputs, want 1", n.GetName(), n.GetOpType(), len(n.GetOutput()))
	}
	if p.check != nil {
		if err := p.check(n); err != nil {
			return m.fail(b, "node %q (%s): %v", n.GetName(), n.GetOpType(), err)
		}
	}
	b = b.withNode(i)
	if m.matchInputs(p.inputs, inputs, b, k) {
		return true
	}
	if p.commute && len(p.inputs) == 2 {
		swapped := []*pattern{p.inputs[1], p.inputs[0]}
		return m.matchInputs(swapped, inputs, b, k)
	}
	return false
}

// presentInputs drops trailing empty names: ONNX marks an omitted optional input that way.
func presentInputs(n *onnx.NodeProto) []string {
	in := n.GetInput()
	for len(in) > 0 && in[len(in)-1] == "" {
		in = in[:len(in)-1]
	}
	return in
}

// matchInputs matches patterns to values pairwise, left to right, threading the binding through.
func (m *matcher) matchInputs(ps []*pattern, values []string, b *binding, k func(*binding) bool) bool {
	if len(ps) == 0 {
		return k(b)
	}
	if values[0] == "" {
		return m.fail(b, "optional input left empty where %s is expected", describe(ps[0]))
	}
	return m.match(ps[0], values[0], b, func(b2 *binding) bool {
		return m.matchInputs(ps[1:], values[1:], b2, k)
	})
}

func closeTo(got, want float64) bool {
	return math.Abs(got-want) <= constRelTol*math.Max(math.Abs(want), 1e-12)
}

func sameDomain(got, want string) bool {
	if want == "" {
		return isStandardDomain(got)
	}
	return got == want
}

func opName(n *onnx.NodeProto) string {
	if isStandardDomain(n.GetDomain()) {
		return n.GetOpType()
	}
	return n.GetDomain() + ":" + n.GetOpType()
}

func describe(p *pattern) string {
	switch p.kind {
	case patVar:
		return p.name
	case patConst:
		return fmt.Sprintf("constant %.6g", p.value)
	case patAlt:
		return "one of several forms"
	}
	return p.op
}
