package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// TestBenchAgainst runs 'actswap bench MODEL --against OTHER' on two bundled models and checks
// the text and JSON reports of the alternating comparison.
func TestBenchAgainst(t *testing.T) {
	root := testutil.RepoRoot(t)
	model := filepath.Join(root, "models", "digits_mlp_gelu", "model.onnx")
	other := filepath.Join(root, "models", "digits_mlp_gelu_op20", "model.onnx")
	out, err := executeCLI(t, "bench", model, "--against", other, "--threads", "1", "--iters", "3", "--warmup", "1", "--rounds", "2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "latency ratio against the other model: median") {
		t.Errorf("report lacks the ratio:\n%s", out)
	}
	out, err = executeCLI(t, "bench", model, "--against", other, "--threads", "1", "--iters", "3", "--warmup", "1", "--rounds", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Rounds      int       `json:"rounds"`
		Ratios      []float64 `json:"ratios"`
		MedianRatio float64   `json:"median_ratio"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, out)
	}
	if p.Rounds != 2 || len(p.Ratios) != 2 || p.MedianRatio <= 0 {
		t.Errorf("JSON report %+v", p)
	}
	if _, err := executeCLI(t, "bench", model, "--against", filepath.Join(t.TempDir(), "missing.onnx")); err == nil {
		t.Error("a missing --against model: no error")
	}
}
