package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/ortc"
	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/internal/testutil"
)

// buildHarness builds cmd/actswap-ort into a temporary folder, skipping without cgo or without
// libonnxruntime.so.1.
func buildHarness(t *testing.T) string {
	t.Helper()
	if _, err := ortc.LibPath(); err != nil {
		t.Skipf("onnxruntime not available: %v", err)
	}
	if out, err := exec.Command("go", "env", "CGO_ENABLED").Output(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Skip("cgo is off: the actswap-ort harness cannot be built")
	}
	bin := filepath.Join(t.TempDir(), "actswap-ort")
	build := exec.Command("go", "build", "-o", bin, "./cmd/actswap-ort")
	build.Dir = testutil.RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the harness: %v\n%s", err, out)
	}
	return bin
}

// TestBenchORTInProcess checks that 'bench --ort' times onnxruntime through the actswap-ort
// harness (in-process, C API) and reports its ratio, and that --ort-harness naming a missing
// file is an error rather than a silent fallback.
func TestBenchORTInProcess(t *testing.T) {
	harness := buildHarness(t)
	model := filepath.Join(testutil.RepoRoot(t), "models", "digits_mlp_gelu", "model.onnx")
	args := []string{"bench", model, "--ort", "--ort-harness", harness, "--threads", "1", "--iters", "5", "--warmup", "1", "--rounds", "2"}
	out, err := executeCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "in-process (onnxruntime 1.") || !strings.Contains(out, "latency ratio: median") {
		t.Errorf("report lacks the in-process ratio:\n%s", out)
	}
	out, err = executeCLI(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Threads   int `json:"threads"`
		InProcess *struct {
			Ratios      []float64 `json:"ratios"`
			MedianRatio float64   `json:"median_ratio"`
		} `json:"in_process"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, out)
	}
	if r.Threads != 1 || r.InProcess == nil || len(r.InProcess.Ratios) != 2 || !(r.InProcess.MedianRatio > 0) {
		t.Errorf("JSON report: %s", out)
	}
	if _, err := executeCLI(t, "bench", model, "--ort", "--ort-harness", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing --ort-harness: no error")
	}
}

// TestBenchORTWithoutHarness checks the fallback: with no harness to be found, 'bench --ort'
// says so and labels the onnxruntime-node figure as including the Node wrapper.
func TestBenchORTWithoutHarness(t *testing.T) {
	t.Setenv("ACTSWAP_ORT_HARNESS", "")
	// A PATH holding node alone, so that no actswap-ort is found but onnxruntime-node still is.
	bin := t.TempDir()
	if node, err := exec.LookPath("node"); err == nil {
		if err := os.Symlink(node, filepath.Join(bin, "node")); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	model := filepath.Join(testutil.RepoRoot(t), "models", "digits_mlp_gelu", "model.onnx")
	out, err := executeCLI(t, "bench", model, "--ort", "--threads", "1", "--iters", "3", "--warmup", "1", "--rounds", "1")
	if why := ortref.Unavailable(); why != "" {
		if err == nil {
			t.Errorf("neither harness nor onnxruntime-node, yet no error:\n%s", out)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "in-process harness absent") || !strings.Contains(out, "includes the Node wrapper") {
		t.Errorf("fallback not labelled:\n%s", out)
	}
}

// TestBenchORTPlugin runs 'bench --ort --ort-plugin libactswap_ort.so' on a digits model
// rewritten to PWLU, and checks that a plugin path that is not a library is an error naming it.
func TestBenchORTPlugin(t *testing.T) {
	harness := buildHarness(t)
	root := testutil.RepoRoot(t)
	plugin := filepath.Join(t.TempDir(), "libactswap_ort.so")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", plugin, "./ortplugin")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	rewritten := filepath.Join(t.TempDir(), "pwlu.onnx")
	if _, err := executeCLI(t, "rewrite", filepath.Join(root, "models", "digits_cnn", "model.onnx"), "-o", rewritten, "--to", "pwlu"); err != nil {
		t.Fatal(err)
	}
	args := []string{"bench", rewritten, "--ort", "--ort-harness", harness, "--threads", "1", "--iters", "5", "--warmup", "1", "--rounds", "1"}
	out, err := executeCLI(t, append(args, "--ort-plugin", plugin)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "in-process (onnxruntime 1.") || strings.Contains(out, "via onnxruntime-node") {
		t.Errorf("plugin run: want the in-process ratio alone:\n%s", out)
	}
	bogus := filepath.Join(root, "models", "digits_cnn", "model.onnx")
	if _, err := executeCLI(t, append(args, "--ort-plugin", bogus)...); err == nil || !strings.Contains(err.Error(), bogus) {
		t.Errorf("a plugin that is not a library: error %v, want one naming it", err)
	}
}

// TestBenchORTProfile checks that 'bench --ort --profile' has the harness profile onnxruntime
// and reports both sides' kernel time per module: a module both sides ran has time on both.
func TestBenchORTProfile(t *testing.T) {
	harness := buildHarness(t)
	model := filepath.Join(testutil.RepoRoot(t), "models", "digits_cnn", "model.onnx")
	args := []string{"bench", model, "--ort", "--profile", "--ort-harness", harness, "--threads", "1", "--iters", "3", "--warmup", "1"}
	out, err := executeCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"without profilers, p50 actswap", "module", "actswap node", "onnxruntime node"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	out, err = executeCLI(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Runs    int `json:"runs"`
		Modules []struct {
			Module      string `json:"module"`
			Actswap     int64  `json:"actswap_ns"`
			Onnxruntime int64  `json:"onnxruntime_ns"`
		} `json:"modules"`
		OnnxruntimeNodes []struct {
			Node  string `json:"node"`
			Calls int    `json:"calls"`
		} `json:"onnxruntime_nodes"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, out)
	}
	both := 0
	for _, m := range r.Modules {
		if m.Actswap > 0 && m.Onnxruntime > 0 {
			both++
		}
	}
	if r.Runs != 3 || both == 0 || len(r.OnnxruntimeNodes) == 0 || r.OnnxruntimeNodes[0].Calls != 3 {
		t.Errorf("JSON report: %d runs, %d modules timed on both sides:\n%s", r.Runs, both, out)
	}
}
