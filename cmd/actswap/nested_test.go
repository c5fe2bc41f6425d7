package main

import (
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
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
