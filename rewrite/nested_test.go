package rewrite

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

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
		t.Fatal(fmt.Sprintf("%d outputs", len(out)))
	}
	for _, v := range out {
		return v
	}
	return nil
}
