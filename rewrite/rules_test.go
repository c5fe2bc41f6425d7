package rewrite

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
)

// activationCase builds a graph with one activation (or none) from input "x" and returns its output.
type activationCase struct {
	name    string
	build   func(b *graphBuilder) string
	kind    Kind   // "" when nothing may match
	pattern string // rule name expected
	bias    bool   // the site keeps a bias Add
}

var activationCases = []activationCase{
	{name: "relu", kind: KindReLU, pattern: "relu", build: func(b *graphBuilder) string { return b.op("Relu", "x") }},

	// erf GELU in the orders exporters emit.
	{name: "erf torchscript, Constant nodes", kind: KindGELU, pattern: "gelu_erf", build: func(b *graphBuilder) string {
		e := b.op("Erf", b.op("Div", "x", b.constant(math.Sqrt2)))
		return b.op("Mul", b.op("Mul", "x", b.op("Add", e, b.constant(1))), b.constant(0.5))
	}},
	{name: "erf dynamo, initializers", kind: KindGELU, pattern: "gelu_erf", build: func(b *graphBuilder) string {
		e := b.op("Erf", b.op("Div", "x", b.init(1.4142135623730951)))
		return b.op("Mul", "x", b.op("Mul", b.init(0.5), b.op("Add", e, b.init(1))))
	}},
	{name: "erf ort pattern 1, bert √2, 1+erf", kind: KindGELU, pattern: "gelu_erf", build: func(b *graphBuilder) string {
		e := b.op("Erf", b.op("Div", "x", b.init(1.4142099618911743)))
		return b.op("Mul", b.op("Mul", "x", b.init(0.5)), b.op("Add", b.init(1), e))
	}},
	{name: "erf tensorflow Mul 1/√2, value_float", kind: KindGELU, pattern: "gelu_erf", build: func(b *graphBuilder) string {
		e := b.op("Erf", b.op("Mul", b.constantFloat(0.7071067690849304), "x"))
		return b.op("Mul", b.op("Mul", b.op("Add", e, b.constantFloat(1)), b.constantFloat(0.5)), "x")
	}},
	{name: "erf keras Sqrt(2) subgraph, value_floats", kind: KindGELU, pattern: "gelu_erf", build: func(b *graphBuilder) string {
		half := b.domainOp("", "Constant", []*onnx.AttributeProto{{Name: proto.String("value_floats"),
			Type: onnx.AttributeProto_FLOATS.Enum(), Floats: []float32{0.5}}})
		e := b.op("Erf", b.op("Div", "x", b.op("Sqrt", b.constant(2))))
		return b.op("Mul", "x", b.op("Mul", b.op("Add", e, b.init(1)), half))
	}},

	// tanh GELU.
	{name: "tanh torchscript x*(x*x)", kind: KindGELUTanh, pattern: "gelu_tanh", build: func(b *graphBuilder) string {
		cube := b.op("Mul", "x", b.op("Mul", "x", "x"))
		inner := b.op("Mul", b.op("Add", "x", b.op("Mul", cube, b.constant(0.044715))), b.constant(0.7978845608028654))
		return b.op("Mul", b.op("Mul", "x", b.op("Add", b.op("Tanh", inner), b.constant(1))), b.constant(0.5))
	}},
	{name: "tanh dynamo Pow, Sqrt(CastLike(Div(2, π)))", kind: KindGELUTanh, pattern: "gelu_tanh", build: func(b *graphBuilder) string {
		cube := b.op("Pow", "x", b.init(3))
		c := b.op("Sqrt", b.op("CastLike", b.op("Div", b.constant(2), b.constant(math.Pi)), "x"))
		inner := b.op("Mul", c, b.op("Add", "x", b.op("Mul", b.init(0.044715), cube)))
		return b.op("Mul", "x", b.op("Mul", b.init(0.5), b.op("Add", b.op("Tanh", inner), b.init(1))))
	}},
	{name: "tanh (x*x)*x, ort pattern 1", kind: KindGELUTanh, pattern: "gelu_tanh", build: func(b *graphBuilder) string {
		cube := b.op("Mul", b.op("Mul", "x", "x"), "x")
		inner := b.op("Mul", b.init(0.7978845608028654), b.op("Add", b.op("Mul", b.init(0.044715), cube), "x"))
		return b.op("Mul", b.op("Mul", b.init(0.5), "x"), b.op("Add", b.init(1), b.op("Tanh", inner)))
	}},
	{name: "tanh megatron", kind: KindGELUTanh, pattern: "gelu_tanh_megatron", build: func(b *graphBuilder) string {
		poly := b.op("Add", b.init(1), b.op("Mul", b.op("Mul", b.init(0.044715), "x"), "x"))
		inner := b.op("Mul", b.op("Mul", b.init(0.79788456), "x"), poly)
		return b.op("Mul", b.op("Mul", b.init(0.5), "x"), b.op("Add", b.init(1), b.op("Tanh", inner)))
	}},
	{name: "tanh folded constants", kind: KindGELUTanh, pattern: "gelu_tanh_folded", build: func(b *graphBuilder) string {
		cube := b.op("Pow", "x", b.init(3))
		inner := b.op("Add", b.op("Mul", b.init(0.797885), "x"), b.op("Mul", cube, b.init(0.035677)))
		return b.op("Mul", b.op("Mul", "x", b.op("Add", b.op("Tanh", inner), b.init(1))), b.init(0.5))
	}},

	// single-node forms.
	{name: "Gelu opset 20", kind: KindGELU, pattern: "gelu_op", build: func(b *graphBuilder) string { return b.op("Gelu", "x") }},
	{name: "Gelu opset 20 tanh", kind: KindGELUTanh, pattern: "gelu_tanh_op", build: func(b *graphBuilder) string {
		return b.domainOp("", "Gelu", []*onnx.AttributeProto{stringAttr("approximate", "tanh")}, "x")
	}},
	{name: "com.microsoft Gelu", kind: KindGELU, pattern: "ms_gelu", build: func(b *graphBuilder) string {
		return b.domainOp(microsoftDomain, "Gelu", nil, "x")
	}},
	{name: "com.microsoft FastGelu", kind: KindGELUTanh, pattern: "ms_fast_gelu", build: func(b *graphBuilder) string {
		return b.domainOp(microsoftDomain, "FastGelu", nil, "x")
	}},
	{name: "com.microsoft FastGelu with bias", kind: KindGELUTanh, pattern: "ms_fast_gelu", bias: true, build: func(b *graphBuilder) string {
		return b.domainOp(microsoftDomain, "FastGelu", nil, "x", b.init(0.25))
	}},
	{name: "com.microsoft BiasGelu", kind: KindGELU, pattern: "ms_bias_gelu", bias: true, build: func(b *graphBuilder) string {
		return b.domainOp(microsoftDomain, "BiasGelu", nil, "x", b.init(-0.5))
	}},
	{name: "com.microsoft QuickGelu alpha 1.5", kind: KindQuickGELU, pattern: "ms_quick_gelu", build: func(b *graphBuilder) string {
		return b.domainOp(microsoftDomain, "QuickGelu", []*onnx.AttributeProto{floatAttr("alpha", 1.5)}, "x")
	}},
	{name: "QuickGELU chain x·σ(1.702x)", kind: KindQuickGELU, pattern: "quick_gelu", build: func(b *graphBuilder) string {
		return b.op("Mul", b.op("Sigmoid", b.op("Mul", "x", b.init(1.7021484375))), "x")
	}},

	// must stay untouched.
	{name: "HardSwish", build: func(b *graphBuilder) string { return b.op("HardSwish", "x") }},
	{name: "HardSigmoid", build: func(b *graphBuilder) string { return b.op("HardSigmoid", "x") }},
	{name: "Clip (ReLU6)", build: func(b *graphBuilder) string { return b.op("Clip", "x", b.init(0), b.init(6)) }},
	{name: "Sigmoid", build: func(b *graphBuilder) string { return b.op("Sigmoid", "x") }},
	{name: "Swish x·σ(x)", build: func(b *graphBuilder) string { return b.op("Mul", "x", b.op("Sigmoid", "x")) }},
	{name: "erf chain with 0.6 instead of 0.5", build: func(b *graphBuilder) string {
		e := b.op("Erf", b.op("Div", "x", b.init(math.Sqrt2)))
		return b.op("Mul", b.op("Mul", "x", b.op("Add", e, b.init(1))), b.init(0.6))
	}},
	{name: "erf chain over a different input", build: func(b *graphBuilder) string {
		y := b.op("Neg", "x")
		e := b.op("Erf", b.op("Div", y, b.init(math.Sqrt2)))
		return b.op("Mul", b.op("Mul", "x", b.op("Add", e, b.init(1))), b.init(0.5))
	}},
}

var probeInputs = []float64{-5, -2.5, -1, -0.3, 0, 0.2, 0.9, 1.7, 3.5}

func TestFindEachPattern(t *testing.T) {
	t.Parallel()
	for _, tc := range activationCases {
		t.Run(tc.name, func(t *testing.T) {
			b := newGraphBuilder()
			out := tc.build(b)
			b.output(out)
			m := b.model()
			sites, err := Find(m)
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == "" {
				if len(sites) != 0 {
					t.Fatalf("found %+v in a graph that has no ReLU/GELU", sites)
				}
				return
			}
			if len(sites) != 1 {
				t.Fatalf("found %d sites, want 1: %+v", len(sites), sites)
			}
			s := sites[0]
			if s.Kind != tc.kind || s.Pattern != tc.pattern || s.Input != "x" || s.Output != out || s.Blocked != "" {
				t.Fatalf("site %+v, want kind %s pattern %s input x output %s", s, tc.kind, tc.pattern, out)
			}
			// The matched graph really computes the site's target: the pattern is the formula.
			target := s.Target()
			for _, x := range probeInputs {
				xb := x
				if tc.bias {
					bias, _ := newGraphView(m.Graph).scalarConst(s.Bias)
					xb += bias
				}
				got := evalScalar(t, m.Graph, x)[out]
				if want := target(xb); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Errorf("graph(%g) = %.9g, site target = %.9g", x, got, want)
				}
			}
		})
	}
}

func countOps(g *onnx.GraphProto, ops ...string) int {
	n := 0
	for _, node := range g.GetNode() {
		for _, op := range ops {
			if node.GetOpType() == op {
				n++
			}
		}
	}
	return n
}

func TestApplyEachPattern(t *testing.T) {
	t.Parallel()
	for _, fam := range onnxops.Families {
		for _, tc := range activationCases {
			if tc.kind == "" {
				continue
			}
			t.Run(string(fam)+"/"+tc.name, func(t *testing.T) {
				b := newGraphBuilder()
				out := tc.build(b)
				b.output(out)
				m := b.model()
				before := proto.Clone(m)
				got, rep, err := Apply(m, Options{To: fam, Version: "test"})
				if err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(m, before) {
					t.Fatal("Apply modified its input model")
				}
				if len(rep.Replaced) != 1 || len(rep.Skipped) != 0 {
					t.Fatalf("report %+v, want one replacement", rep)
				}
				// Only the ai.actswap node (and the kept bias Add) remain; constants went with the chain.
				var kinds []string
				for _, n := range got.Graph.Node {
					kinds = append(kinds, opName(n))
				}
				// A bias is absorbed into PWLU's bounds; gated Zorro and CRReLU keep it as an Add.
				absorbed := rep.Replaced[0].AbsorbedBias != nil
				if tc.bias && absorbed != (fam == onnxops.FamilyPWLU) {
					t.Fatalf("bias absorbed: %v (kept because %q), want %v", absorbed, rep.Replaced[0].BiasKept, fam == onnxops.FamilyPWLU)
				}
				kept := tc.bias && !absorbed
				want := []string{onnxops.Domain + ":" + string(fam)}
				if kept {
					want = append([]string{"Add"}, want...)
				}
				if strings.Join(kinds, ",") != strings.Join(want, ",") {
					t.Fatalf("nodes after rewrite %v, want %v", kinds, want)
				}
				node := got.Graph.Node[len(got.Graph.Node)-1]
				if node.GetOutput()[0] != out {
					t.Fatalf("replacement writes %q, want the original output %q", node.GetOutput()[0], out)
				}
				if len(got.Graph.Initializer) != len(onnxops.ParamInputNames(fam))+btoi(kept) {
					t.Fatalf("initializers %v: stale constants kept", initNames(got.Graph))
				}
				checkModelHeader(t, got, fam)
				// The rewritten graph evaluates to the replacement's parameters' function.
				sp, err := DefaultParams(rep.Replaced[0].Site, fam)
				if err != nil {
					t.Fatal(err)
				}
				bias := 0.0
				if tc.bias {
					bias, _ = newGraphView(m.Graph).scalarConst(rep.Replaced[0].Site.Bias)
				}
				for _, x := range probeInputs {
					gotY := evalScalar(t, got.Graph, x)[out]
					wantY := sp.Sets[0].Eval(float64(float32(x + bias)))
					if math.Abs(gotY-wantY) > 1e-5*math.Max(1, math.Abs(wantY)) {
						t.Errorf("rewritten(%g) = %.9g, want %.9g", x, gotY, wantY)
					}
				}
			})
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func initNames(g *onnx.GraphProto) []string {
	var names []string
	for _, t := range g.GetInitializer() {
		names = append(names, t.GetName())
	}
	return names
}

// checkModelHeader checks what every rewritten model carries: the opset import, the function
// body, an IR version of at least 8, the kept metadata and actswap's records.
func checkModelHeader(t *testing.T, m *onnx.ModelProto, fam onnxops.Family) {
	t.Helper()
	if m.GetIrVersion() < 8 {
		t.Errorf("ir_version %d, want ≥ 8 for model-local functions", m.GetIrVersion())
	}
	found := false
	for _, op := range m.GetOpsetImport() {
		if op.GetDomain() == onnxops.Domain && op.GetVersion() == onnxops.Version {
			found = true
		}
	}
	if !found {
		t.Errorf("no opset import for %s", onnxops.Domain)
	}
	fns := 0
	for _, f := range m.GetFunctions() {
		if f.GetDomain() == onnxops.Domain && f.GetName() == string(fam) {
			fns++
		}
	}
	if fns != 1 {
		t.Errorf("%d model-local functions for %s, want 1", fns, fam)
	}
	if metadata(m, "author") != "t" {
		t.Error("original metadata_props lost")
	}
	if metadata(m, metaVersionKey) == "" || !strings.Contains(metadata(m, metaRewriteKey), `"to":"`+string(fam)+`"`) {
		t.Errorf("metadata %v lacks actswap's records", m.GetMetadataProps())
	}
}

// TestErfGELUEveryOrder builds the erf GELU in every association of 0.5·x·(1+erf) and every
// operand order of its Add and two Muls (24 graphs), each with Div by √2 and Mul by 1/√2.
func TestErfGELUEveryOrder(t *testing.T) {
	t.Parallel()
	for assoc := range 3 {
		for swaps := range 8 {
			for _, useMul := range []bool{false, true} {
				b := newGraphBuilder()
				pair := func(op string, swap bool, a, c string) string {
					if swap {
						a, c = c, a
					}
					return b.op(op, a, c)
				}
				var scaled string
				if useMul {
					scaled = pair("Mul", false, "x", b.init(1/math.Sqrt2))
				} else {
					scaled = b.op("Div", "x", b.init(math.Sqrt2))
				}
				onePlus := pair("Add", swaps&1 != 0, b.op("Erf", scaled), b.init(1))
				inner, outer := swaps&2 != 0, swaps&4 != 0
				var y string
				switch assoc {
				case 0: // (x·0.5)·(1+erf)
					y = pair("Mul", outer, pair("Mul", inner, "x", b.init(0.5)), onePlus)
				case 1: // (x·(1+erf))·0.5
					y = pair("Mul", outer, pair("Mul", inner, "x", onePlus), b.init(0.5))
				case 2: // x·((1+erf)·0.5)
					y = pair("Mul", outer, "x", pair("Mul", inner, onePlus, b.init(0.5)))
				}
				b.output(y)
				sites, err := Find(b.model())
				if err != nil {
					t.Fatal(err)
				}
				if len(sites) != 1 || sites[0].Pattern != "gelu_erf" || len(sites[0].Nodes) != 5 {
					t.Errorf("association %d, swaps %03b, Mul 1/√2 %v: sites %+v", assoc, swaps, useMul, sites)
				}
			}
		}
	}
}
