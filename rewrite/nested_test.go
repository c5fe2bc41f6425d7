package rewrite

import (
	"math"
	"regexp"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

var (
	nestedLoopScope     = onnx.SubgraphScope("", "Loop", graphtest.NestedLoopNode, "body", -1)
	nestedFunctionScope = "function " + graphtest.NestedFunctionDomain + "." + graphtest.NestedFunctionName
)

// Sites inside a Loop body and a model-local function are found, named by their scope, and
// replaced there: the body's node reads its parameters from the body's own initializers, the
// function's from Constant nodes of the function, which imports ai.actswap itself.
func TestApplyInsideLoopBodyAndFunction(t *testing.T) {
	t.Parallel()
	m := graphtest.NestedGELUs(1).Model()
	out, rep, err := Apply(m, Options{To: onnxops.FamilyPWLU})
	if err != nil {
		t.Fatal(err)
	}
	var scopes []string
	for _, r := range rep.Replaced {
		scopes = append(scopes, r.Site.Scope)
		if want := onnx.ScopedName(r.Site.Scope, r.Site.localNode()); r.Site.Node != want {
			t.Errorf("site node %q, want the scoped name %q", r.Site.Node, want)
		}
	}
	if want := []string{"", nestedLoopScope, nestedFunctionScope}; !slices.Equal(scopes, want) {
		t.Fatalf("replaced sites in scopes %q, want %q", scopes, want)
	}
	if len(rep.Skipped) != 0 {
		t.Errorf("skipped %v", rep.Skipped)
	}

	var body *onnx.GraphProto
	for _, n := range out.GetGraph().GetNode() {
		if n.GetName() == graphtest.NestedLoopNode {
			body = n.GetAttribute()[0].GetG()
		}
	}
	if got := opTypes(body.GetNode()); slices.Contains(got, "Erf") || !slices.Contains(got, string(onnxops.FamilyPWLU)) {
		t.Errorf("Loop body ops after the rewrite: %v", got)
	}
	if len(body.GetInitializer()) != len(onnxops.ParamInputNames(onnxops.FamilyPWLU)) {
		t.Errorf("Loop body has %d initializers, want the PWLU node's parameters", len(body.GetInitializer()))
	}
	var fn *onnx.FunctionProto
	for _, f := range out.GetFunctions() {
		if f.GetName() == graphtest.NestedFunctionName {
			fn = f
		}
	}
	if got := opTypes(fn.GetNode()); slices.Contains(got, "Erf") || !slices.Contains(got, string(onnxops.FamilyPWLU)) {
		t.Errorf("function body ops after the rewrite: %v", got)
	}
	if !slices.ContainsFunc(fn.GetOpsetImport(), func(o *onnx.OperatorSetIdProto) bool { return o.GetDomain() == onnxops.Domain }) {
		t.Errorf("function %s does not import %s", fn.GetName(), onnxops.Domain)
	}

	// The rewritten model runs and follows the original (uncalibrated defaults assume N(0,1)
	// inputs, so only loosely), in actswap's runtime with kernels and with the function bodies.
	x := graphtest.NestedInput(graphtest.Seeded(2), 16)
	want := runNested(t, m, x)
	for _, opts := range [][]runtime.Option{nil, {runtime.WithFunctionBodies()}} {
		got := runNested(t, out, x, opts...)
		if err := tensor.AllClose(got, want, 0.2, 0.2); err != nil {
			t.Errorf("rewritten model %v vs the original: %v", opts, err)
		}
	}
}

// Every scope can be excluded by its scoped name, and --nodes selects by it.
func TestApplySelectsNestedSitesByScopedName(t *testing.T) {
	t.Parallel()
	m := graphtest.NestedGELUs(1).Model()
	for _, c := range []struct {
		nodes, exclude string
		want           int
	}{
		{"^function ", "", 1},
		{"^Loop ", "", 1},
		{"", "^(Loop|function) ", 1},
	} {
		opts := Options{To: onnxops.FamilyCRReLU}
		if c.nodes != "" {
			opts.Nodes = regexp.MustCompile(c.nodes)
		}
		if c.exclude != "" {
			opts.Exclude = regexp.MustCompile(c.exclude)
		}
		_, rep, err := Apply(m, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Replaced) != c.want {
			t.Errorf("nodes %q exclude %q: replaced %d, want %d", c.nodes, c.exclude, len(rep.Replaced), c.want)
		}
	}
}

func opTypes(nodes []*onnx.NodeProto) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.GetOpType())
	}
	return out
}

func runNested(t *testing.T, m *onnx.ModelProto, x *tensor.Tensor, opts ...runtime.Option) *tensor.Tensor {
	t.Helper()
	s, err := runtime.NewSession(m, opts...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("%d outputs", len(out))
	}
	for _, v := range out {
		return v
	}
	return nil
}

// scanIfModel: a Scan over the rows of x [4, 8] whose body adds the row to its state and takes
// an If on the sum's sign: a ReLU in the then branch, an erf GELU in the else branch — sites two
// levels down, in both branches.
func scanIfModel() *onnx.ModelProto {
	b := graphtest.New("scan_if", 18)
	x := b.Input("x", tensor.Float32, 4, 8)
	body := b.Body("scan_body")
	state := body.Input("state", tensor.Float32, 8)
	row := body.Input("row", tensor.Float32, 8)
	sum := body.Op("Add", []string{state, row})
	cond := body.Op("Greater", []string{body.Op("ReduceSum", []string{sum}, graphtest.A("keepdims", 0)), body.ConstF32(0)})
	then := body.Body("then")
	then.Output(then.Op("Relu", []string{sum}), tensor.Float32, 8)
	els := body.Body("else")
	e := els.Op("Erf", []string{els.Op("Div", []string{sum, els.ConstF32(1.4142135)})})
	els.Output(els.Op("Mul", []string{els.Op("Mul", []string{sum, els.Op("Add", []string{e, els.ConstF32(1)})}), els.ConstF32(0.5)}), tensor.Float32, 8)
	next := body.NamedNode("/if", "", "If", []string{cond}, 1, graphtest.A("then_branch", then.Graph()), graphtest.A("else_branch", els.Graph()))[0]
	body.Output(next, tensor.Float32, 8)
	body.Output(body.Op("Identity", []string{next}), tensor.Float32, 8)
	outs := b.NamedNode("/scan", "", "Scan", []string{b.Init("", tensor.New([]int{8}, make([]float32, 8))), x}, 2,
		graphtest.A("body", body.Graph()), graphtest.A("num_scan_inputs", 1))
	b.Output(outs[0], tensor.Float32, 8)
	b.Output(outs[1], tensor.Float32, 4, 8)
	return b.Model()
}

// Sites two levels down (an If inside a Scan body), in both branches, are found with their scopes
// and replaced; the rewritten model agrees with onnxruntime for every family.
func TestApplyInsideIfInsideScan(t *testing.T) {
	t.Parallel()
	m := scanIfModel()
	sites, err := Find(m)
	if err != nil {
		t.Fatal(err)
	}
	scan := onnx.SubgraphScope("", "Scan", "/scan", "body", -1)
	var got []string
	for _, s := range sites {
		got = append(got, s.Scope+" "+string(s.Kind))
	}
	want := []string{onnx.SubgraphScope(scan, "If", "/if", "then_branch", -1) + " relu", onnx.SubgraphScope(scan, "If", "/if", "else_branch", -1) + " gelu"}
	if !slices.Equal(got, want) {
		t.Fatalf("sites %q, want %q", got, want)
	}
	feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(5), 1, 4, 8)}
	for _, fam := range onnxops.Families {
		out, rep, err := Apply(m, Options{To: fam})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Replaced) != 2 {
			t.Fatalf("%s: replaced %d sites, want 2", fam, len(rep.Replaced))
		}
		graphtest.AgreeWithORT(t, out, "scan_if_"+string(fam), feeds, runActswap, graphtest.RTol, graphtest.ATol)
	}
}

// Below opset 15 the ai.actswap function bodies are typed by their parameters' element type,
// which a rewrite with sites only inside a Loop body and a function finds there (the body's
// initializers, the function's Constant nodes); onnxruntime runs the result.
func TestApplyNestedOnlyBelowOpset15(t *testing.T) {
	t.Parallel()
	m := graphtest.NestedGELUs(1).Model()
	for _, o := range append(m.GetOpsetImport(), m.GetFunctions()[0].GetOpsetImport()...) {
		if o.GetDomain() == "" {
			o.Version = proto.Int64(13)
		}
	}
	out, rep, err := Apply(m, Options{To: onnxops.FamilyZorro, Match: []Kind{KindGELU}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Replaced) != 2 {
		t.Fatalf("replaced %d sites, want the Loop body's and the function's", len(rep.Replaced))
	}
	feeds := map[string]*tensor.Tensor{"x": graphtest.NestedInput(graphtest.Seeded(5), 4)}
	graphtest.AgreeWithORT(t, out, "nested_opset13", feeds, runActswap, graphtest.RTol, graphtest.ATol)
}

// runActswap is a graphtest.Runner: actswap's runtime with its default options.
func runActswap(m *onnx.ModelProto, feeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	s, err := runtime.NewSession(m)
	if err != nil {
		return nil, err
	}
	return s.Run(feeds)
}

// A GELU inside an If branch whose x comes from the enclosing graph gets parameters of x's type
// as that graph declares it (float64 here, not the float32 assumed for unknown types), so the
// rewritten model type-checks and agrees with onnxruntime.
func TestNestedSiteTypedFromEnclosingGraph(t *testing.T) {
	t.Parallel()
	b := graphtest.New("if_f64", 18)
	x := b.Input("x", tensor.Float64, 2, 8)
	cond := b.Input("cond", tensor.Bool)
	then := b.Body("then")
	e := then.Op("Erf", []string{then.Op("Div", []string{x, then.Const(tensor.Scalar(math.Sqrt2))})})
	then.Output(then.Op("Mul", []string{then.Op("Mul", []string{x, then.Op("Add", []string{e, then.Const(tensor.Scalar(1.0))})}), then.Const(tensor.Scalar(0.5))}), tensor.Float64, 2, 8)
	els := b.Body("else")
	els.Output(els.Op("Identity", []string{x}), tensor.Float64, 2, 8)
	b.Output(b.NamedNode("/if", "", "If", []string{cond}, 1, graphtest.A("then_branch", then.Graph()), graphtest.A("else_branch", els.Graph()))[0], tensor.Float64, 2, 8)
	m := b.Model()

	sites, err := Find(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 1 || sites[0].DType != "float64" || sites[0].Blocked != "" {
		t.Fatalf("sites %+v, want one float64 GELU", sites)
	}
	out, _, err := Apply(m, Options{To: onnxops.FamilyPWLU})
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*tensor.Tensor{"cond": tensor.Scalar(true), "x": tensor.New([]int{2, 8}, make([]float64, 16))}
	for i := range 16 {
		feeds["x"].Data.([]float64)[i] = float64(i)/4 - 2
	}
	graphtest.AgreeWithORT(t, out, "if_f64", feeds, runActswap, graphtest.RTol, graphtest.ATol)
}
