package rewrite

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/actswap/actswap/internal/pattern"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// Kind is the function an activation site computes, which is the target a replacement is fitted to.
type Kind string

const (
	KindReLU      Kind = "relu"       // max(x, 0)
	KindGELU      Kind = "gelu"       // x·Φ(x), the exact (erf) GELU
	KindGELUTanh  Kind = "gelu_tanh"  // 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))
	KindQuickGELU Kind = "quick_gelu" // x·σ(αx), α = Site.Alpha (1.702 by default)
)

// ParseKinds reads a --match list such as "relu,gelu". "gelu" stands for every GELU kind
// (gelu, gelu_tanh, quick_gelu); the specific kinds may also be named alone.
func ParseKinds(list string) ([]Kind, error) {
	var kinds []Kind
	for _, name := range strings.Split(list, ",") {
		switch name = strings.TrimSpace(strings.ToLower(name)); name {
		case "":
		case "relu":
			kinds = append(kinds, KindReLU)
		case "gelu":
			kinds = append(kinds, KindGELU, KindGELUTanh, KindQuickGELU)
		case string(KindGELUTanh), string(KindQuickGELU):
			kinds = append(kinds, Kind(name))
		default:
			return nil, fmt.Errorf("unknown activation kind %q (want relu, gelu, gelu_tanh or quick_gelu)", name)
		}
	}
	if len(kinds) == 0 {
		return nil, errors.New("empty activation kind list")
	}
	return kinds, nil
}

// Target returns the function this site computes, in float64: what a replacement is fitted to.
func (s Site) Target() func(float64) float64 {
	switch s.Kind {
	case KindReLU:
		return onnxops.ReLU
	case KindGELUTanh:
		return onnxops.GELUTanh
	case KindQuickGELU:
		alpha := s.Alpha
		if alpha == 0 {
			alpha = onnxops.QuickGELUAlpha
		}
		return func(x float64) float64 { return onnxops.QuickGELU(x, alpha) }
	}
	return onnxops.GELU
}

// Site is one activation found in a graph.
type Site struct {
	// Scope is the graph the site is in (onnx.SubgraphScope, onnx.FunctionScope): "" for the main
	// graph, `Loop "/loop"/body` for a Loop body, `function local.MLP` for a model-local function.
	// Node and Nodes are scoped names (onnx.ScopedName); Input, Bias and Output are names inside
	// the scope.
	Scope   string   `json:"scope,omitempty"`
	Node    string   `json:"node"`           // name of the node that outputs the activation (the anchor)
	Kind    Kind     `json:"kind"`           // the function computed
	Pattern string   `json:"pattern"`        // which rule matched (relu, gelu_erf, gelu_tanh, ms_fast_gelu, …)
	Nodes   []string `json:"nodes"`          // every node the activation consists of, in graph order
	Input   string   `json:"input"`          // the pre-activation value x
	Bias    string   `json:"bias,omitempty"` // com.microsoft FastGelu/BiasGelu: the activation's input is Input + Bias
	Output  string   `json:"output"`         // the activation's output value; a rewrite keeps this name
	// Alpha is QuickGelu's α in x·σ(αx); 0 for other kinds.
	Alpha float64 `json:"alpha,omitempty"`
	// DType is x's element type when the graph declares it ("" when unknown: float32 is assumed).
	DType string `json:"dtype,omitempty"`
	// Blocked says why this site cannot be replaced safely ("" when it can): an intermediate value
	// is used outside the activation or is a graph output, or x is not a float tensor.
	Blocked string `json:"blocked,omitempty"`

	nodeIdx   []int // indexes into the scope graph's nodes, ascending
	anchorIdx int
	scopeIdx  int // index into scopes(m)
}

// localNode is the anchor's name inside its scope.
func (s Site) localNode() string {
	name, _ := onnx.SplitScopedName(s.Scope, s.Node)
	return name
}

// Find lists the activation sites of m in every scope (the main graph, then If/Loop/Scan bodies
// and model-local functions, see scopes), each in graph order, safe ones and blocked ones
// (Site.Blocked says why). It does not modify m.
func Find(m *onnx.ModelProto) ([]Site, error) {
	if m.GetGraph() == nil {
		return nil, errors.New("model has no graph")
	}
	var sites []Site
	scs := scopes(m)
	for i, v := range scopeViews(scs) {
		sites = append(sites, findScopeSites(v, scs[i].scope, i)...)
	}
	return sites, nil
}

// findScopeSites is findSites for the graph of one scope, with the sites' names scoped.
func findScopeSites(g *graphView, scope string, scopeIdx int) []Site {
	sites := findSites(g)
	for i := range sites {
		s := &sites[i]
		s.Scope, s.scopeIdx = scope, scopeIdx
		s.Node = onnx.ScopedName(scope, s.Node)
		for j := range s.Nodes {
			s.Nodes[j] = onnx.ScopedName(scope, s.Nodes[j])
		}
	}
	return sites
}

// candidate is a rule matched at an anchor, before overlaps are resolved.
type candidate struct {
	rule   *rule
	anchor int
	b      *pattern.Binding[string]
}

func findSites(g *graphView) []Site {
	var cands []candidate
	for i, n := range g.g.GetNode() {
		if len(n.GetOutput()) != 1 || n.GetOutput()[0] == "" {
			continue
		}
		for r := range rules {
			if c, ok := matchRuleAt(g, &rules[r], i, &pattern.Matcher[string]{G: g}); ok {
				cands = append(cands, c)
			}
		}
	}
	// The largest match wins an overlap: a chain's Mul must not also count as part of a smaller one.
	sort.SliceStable(cands, func(a, b int) bool { return len(cands[a].b.Nodes) > len(cands[b].b.Nodes) })
	claimed := map[int]bool{}
	var sites []Site
	for _, c := range cands {
		if slices.ContainsFunc(c.b.Nodes, func(i int) bool { return claimed[i] }) {
			continue
		}
		for _, i := range c.b.Nodes {
			claimed[i] = true
		}
		sites = append(sites, g.site(c))
	}
	sort.Slice(sites, func(a, b int) bool { return sites[a].anchorIdx < sites[b].anchorIdx })
	return sites
}

// matchRuleAt tries one rule with its root at node i.
func matchRuleAt(g *graphView, r *rule, i int, m *pattern.Matcher[string]) (candidate, bool) {
	n := g.node(i)
	if !slices.Contains(pattern.RootOps(r.root), n.GetOpType()) {
		return candidate{}, false
	}
	found := m.First(r.root, n.GetOutput()[0])
	if found == nil {
		return candidate{}, false
	}
	return candidate{rule: r, anchor: i, b: found}, true
}

// site turns a match into a Site, including the safety verdict.
func (g *graphView) site(c candidate) Site {
	anchor := g.node(c.anchor)
	idx := slices.Clone(c.b.Nodes)
	slices.Sort(idx)
	s := Site{
		Node:      anchor.GetName(),
		Kind:      c.rule.kind,
		Pattern:   c.rule.name,
		Input:     c.b.Vars["x"],
		Bias:      c.b.Vars["bias"],
		Output:    anchor.GetOutput()[0],
		nodeIdx:   idx,
		anchorIdx: c.anchor,
	}
	for _, i := range idx {
		s.Nodes = append(s.Nodes, g.node(i).GetName())
	}
	if dt := g.inferElemType(s.Input, 0); dt != tensor.Undefined {
		s.DType = dt.String()
		if !dt.IsFloat() {
			s.Blocked = fmt.Sprintf("input %q is %v, not a float tensor", s.Input, dt)
		}
	}
	if s.Kind == KindQuickGELU {
		s.Alpha = onnxops.QuickGELUAlpha
		if v, ok := c.b.Vars["alpha"]; ok {
			s.Alpha, _ = g.scalarConst(v)
		} else if a := attribute(anchor, "alpha"); a != nil {
			s.Alpha = float64(a.GetF())
		}
	}
	if s.Blocked == "" {
		s.Blocked = g.unsafeReason(idx, c.anchor)
	}
	return s
}

// unsafeReason checks that removing the matched nodes loses nothing: every value they produce,
// except the anchor's output (which the replacement keeps), must be read only by matched nodes
// and must not be a graph output.
func (g *graphView) unsafeReason(idx []int, anchor int) string {
	for _, i := range idx {
		if i == anchor {
			continue
		}
		n := g.node(i)
		for _, out := range n.GetOutput() {
			if g.graphOutput[out] {
				return fmt.Sprintf("intermediate value %q (from node %q) is a graph output", out, n.GetName())
			}
			for _, c := range g.consumers[out] {
				if !slices.Contains(idx, c) {
					u := g.node(c)
					return fmt.Sprintf("intermediate value %q (from node %q) is also used by node %q (%s)", out, n.GetName(), u.GetName(), opName(u))
				}
			}
		}
	}
	return ""
}

// Miss explains why an Erf or Tanh node, the heart of a GELU, is not part of any site.
type Miss struct {
	Node   string `json:"node"`
	OpType string `json:"op_type"`
	Reason string `json:"reason"` // the furthest any GELU rule got, and why it stopped
}

// Trace is the tracer: for each Erf or Tanh node outside every site it reports the failure of the
// GELU rule that got furthest when tried at the nodes just after it. Sigmoid nodes are not traced:
// most belong to SiLU/Swish or gates, which are not GELU and stay untouched.
func Trace(m *onnx.ModelProto) ([]Miss, error) {
	if m.GetGraph() == nil {
		return nil, errors.New("model has no graph")
	}
	var misses []Miss
	scs := scopes(m)
	for i, v := range scopeViews(scs) {
		misses = append(misses, traceScope(v, scs[i].scope)...)
	}
	return misses, nil
}

// traceScope is Trace for the graph of one scope.
func traceScope(g *graphView, scope string) []Miss {
	inSite := map[int]bool{}
	for _, s := range findSites(g) {
		for _, i := range s.nodeIdx {
			inSite[i] = true
		}
	}
	var misses []Miss
	for i, n := range g.g.GetNode() {
		if inSite[i] || !isStandardDomain(n.GetDomain()) || (n.GetOpType() != "Erf" && n.GetOpType() != "Tanh") {
			continue
		}
		why, depth := "", 0
		for _, a := range g.downstream(i, 3) {
			for r := range rules {
				if rules[r].kind == KindReLU {
					continue
				}
				m := &pattern.Matcher[string]{G: g}
				if _, ok := matchRuleAt(g, &rules[r], a, m); !ok && m.Depth() > depth {
					depth = m.Depth()
					why = fmt.Sprintf("%s from node %q: %s", rules[r].name, g.node(a).GetName(), m.Why())
				}
			}
		}
		if why == "" {
			why = "no GELU rule ends within three nodes after it"
		}
		misses = append(misses, Miss{Node: onnx.ScopedName(scope, n.GetName()), OpType: n.GetOpType(), Reason: why})
	}
	return misses
}

// downstream lists the nodes reachable from node i within hops consumer steps (i excluded).
func (g *graphView) downstream(i, hops int) []int {
	seen := map[int]bool{i: true}
	frontier := []int{i}
	var out []int
	for h := 0; h < hops; h++ {
		var next []int
		for _, f := range frontier {
			for _, o := range g.node(f).GetOutput() {
				for _, c := range g.consumers[o] {
					if !seen[c] {
						seen[c] = true
						next = append(next, c)
						out = append(out, c)
					}
				}
			}
		}
		frontier = next
	}
	return out
}
