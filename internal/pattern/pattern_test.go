package pattern

import (
	"math"
	"strconv"
	"testing"

	"github.com/actswap/actswap/onnx"
	"google.golang.org/protobuf/proto"
)

// tinyGraph is a Graph over value names: nodes by output, constants by name.
type tinyGraph struct {
	nodes  []*onnx.NodeProto
	consts map[string]float64
}

func (g *tinyGraph) add(op, out string, in ...string) {
	g.nodes = append(g.nodes, &onnx.NodeProto{OpType: proto.String(op), Name: proto.String(out), Input: in, Output: []string{out}})
}

func (g *tinyGraph) Producer(v string) (Node[string], bool) {
	for i, n := range g.nodes {
		if n.Output[0] == v {
			return Node[string]{Index: i, OpType: n.GetOpType(), Domain: n.GetDomain(), Proto: n, Inputs: n.Input, Outputs: 1}, true
		}
	}
	return Node[string]{}, false
}

func (g *tinyGraph) ScalarConst(v string) (float64, bool) { c, ok := g.consts[v]; return c, ok }
func (g *tinyGraph) Omitted(v string) bool                { return v == "" }
func (g *tinyGraph) Describe(v string) string             { return strconv.Quote(v) }

func erfChain(sqrt2 float64) *tinyGraph {
	g := &tinyGraph{consts: map[string]float64{"r2": sqrt2, "one": 1, "half": 0.5}}
	g.add("Div", "d", "x", "r2")
	g.add("Erf", "e", "d")
	g.add("Add", "a", "one", "e") // commuted
	g.add("Mul", "h", "half", "x")
	g.add("Mul", "y", "a", "h") // 0.5·x first, then the erf term
	return g
}

func TestGELUErfChainMatches(t *testing.T) {
	t.Parallel()
	chain := GELUChains()[0]
	for _, c := range []struct {
		sqrt2 float64
		match bool
	}{{math.Sqrt2, true}, {1.4140625, true}, {math.Sqrt2 * 1.002, false}} {
		m := &Matcher[string]{G: erfChain(c.sqrt2)}
		b := m.First(chain.Root, "y")
		if (b != nil) != c.match {
			t.Fatalf("√2 as %v: matched %v, want %v (%s)", c.sqrt2, b != nil, c.match, m.Why())
		}
		if b != nil && (b.Vars["x"] != "x" || len(b.Nodes) != 5) {
			t.Fatalf("binding %+v, want x and all 5 nodes", b)
		}
		if b == nil && m.Why() == "" {
			t.Fatal("a failed match gives no reason")
		}
	}
}

// Every use of a variable must bind the same value: 0.5·x·(1 + erf(z/√2)) with z ≠ x is not GELU.
func TestVariableBindsOneValue(t *testing.T) {
	t.Parallel()
	g := erfChain(math.Sqrt2)
	g.nodes[0].Input[0] = "z"
	m := &Matcher[string]{G: g}
	if b := m.First(GELUChains()[0].Root, "y"); b != nil {
		t.Fatalf("matched %+v", b)
	}
}
