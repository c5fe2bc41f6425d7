package main

import (
	"html"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// The rewrite report names the sites inside a Loop body and a model-local function by their
// scopes, in the text, the JSON (with a scope field) and the HTML report; inspect lists them too.
func TestRewriteReportsNestedScopes(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "nested.onnx")
	if err := onnx.SaveFile(graphtest.NestedGELUs(1).Model(), model); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "x.npy")
	if err := tensor.WriteNpy(data, graphtest.NestedInput(graphtest.Seeded(3), 128)); err != nil {
		t.Fatal(err)
	}
	loop := onnx.SubgraphScope("", "Loop", graphtest.NestedLoopNode, "body", -1) + "/"
	fn := "function local.MLP/"

	text, err := executeCLI(t, "rewrite", model, "-o", filepath.Join(dir, "out.onnx"), "--to", "pwlu", "--calib", data,
		"--report", filepath.Join(dir, "r.json"), "--html", filepath.Join(dir, "r.html"))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	for _, want := range []string{"calibrated    3 site(s)", loop, fn} {
		if !strings.Contains(text, want) {
			t.Errorf("rewrite output lacks %q:\n%s", want, text)
		}
	}
	var rep struct {
		Sites []struct{ Scope, Node string }
	}
	b := readJSON(t, filepath.Join(dir, "r.json"), &rep)
	scopes := map[string]string{}
	for _, s := range rep.Sites {
		scopes[s.Scope] = s.Node
	}
	if len(scopes) != 3 || !strings.HasPrefix(scopes[strings.TrimSuffix(loop, "/")], loop) || !strings.HasPrefix(scopes[strings.TrimSuffix(fn, "/")], fn) {
		t.Errorf("JSON report sites by scope %q:\n%s", scopes, b)
	}
	page, err := os.ReadFile(filepath.Join(dir, "r.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{loop, fn} {
		if !strings.Contains(html.UnescapeString(string(page)), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}

	text, err = executeCLI(t, "inspect", model)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{loop, fn} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, text)
		}
	}
}

// run --out writes ZipMap's sequence of maps as a SequenceProto of MapProtos, which reads back
// (as the data set's expected output, too) to the same value.
func TestRunWritesMapOutputs(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "zipmap.onnx")
	if err := onnx.SaveFile(graphtest.ZipMapModel(graphtest.A("classlabels_strings", []string{"a", "b", "c"}), tensor.String), model); err != nil {
		t.Fatal(err)
	}
	set := filepath.Join(dir, "test_data_set_0")
	if err := os.Mkdir(set, 0o755); err != nil {
		t.Fatal(err)
	}
	x := tensor.New([]int{2, 3}, []float32{0.1, 0.7, 0.2, 0.5, 0.25, 0.25})
	if err := tensor.WriteProtoFile(filepath.Join(set, "input_0.pb"), x, "x"); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	text, err := executeCLI(t, "run", model, "--data", set, "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !strings.Contains(text, "sequence of 2") {
		t.Errorf("run output does not describe the sequence of maps:\n%s", text)
	}
	s, err := runtime.NewSession(graphtest.ZipMapModel(graphtest.A("classlabels_strings", []string{"a", "b", "c"}), tensor.String))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadOutputFile(0, filepath.Join(out, "output_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	elems, _ := ops.AsSequence(got)
	if len(elems) != 2 {
		t.Fatalf("read back %v", got)
	}
	for r, e := range elems {
		m, ok := ops.AsMap(e)
		if !ok || strings.Join(m.Keys.Data.([]string), ",") != "a,b,c" || !slices.Equal(m.Values.F32(), x.F32()[r*3:r*3+3]) {
			t.Errorf("row %d read back as %v", r, e)
		}
	}

	// The written file, as the data set's expected output, is read as a reference without error.
	if err := os.Rename(filepath.Join(out, "output_0.pb"), filepath.Join(set, "output_0.pb")); err != nil {
		t.Fatal(err)
	}
	text, err = executeCLI(t, "run", model, "--data", set, "--out", filepath.Join(dir, "out2"))
	if err != nil || strings.Contains(text, "reference") {
		t.Errorf("run with a map-sequence reference: %v\n%s", err, text)
	}
}

// run --out writes an optional-typed output as the suite stores it: the suite's two such cases
// (an optional sequence through Identity and out of an If) come out byte for byte as their
// expected output_0.pb.
func TestRunWritesOptionalOutputsAsTheSuite(t *testing.T) {
	for _, c := range []string{"test_identity_opt", "test_if_opt"} {
		dir := testutil.SharedPath(t, "onnx-backend-tests", "node", c)
		out := filepath.Join(t.TempDir(), "out")
		if text, err := executeCLI(t, "run", filepath.Join(dir, "model.onnx"), "--data", filepath.Join(dir, "test_data_set_0"), "--out", out); err != nil {
			t.Fatalf("%s: %v\n%s", c, err, text)
		}
		got, err := os.ReadFile(filepath.Join(out, "output_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", "output_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s: wrote %x, the suite holds %x", c, got, want)
		}
	}
}
