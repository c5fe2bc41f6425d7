package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// NHWC data for an NCHW model has the right number of elements per row but the wrong memory
// order: every command that reads data refuses it, naming the file and the input.
func TestDataInAnotherLayoutRefused(t *testing.T) {
	b := graphtest.New("nchw", 17)
	x := b.Input("x", tensor.Float32, "batch", 3, 4, 4)
	b.Output(b.Op("Relu", []string{x}), tensor.Float32, "batch", 3, 4, 4)
	model := graphtest.Save(t, b.Model(), "nchw")
	dir := t.TempDir()
	nhwc := writeNpy(t, "nhwc.npy", tensor.Zeros(tensor.Float32, []int{2, 4, 4, 3}))
	nchw := writeNpy(t, "nchw.npy", tensor.Zeros(tensor.Float32, []int{2, 3, 4, 4}))
	out := filepath.Join(dir, "out.onnx")
	for _, args := range [][]string{
		{"rewrite", model, "--calib", nhwc, "-o", out},
		{"compare", model, model, "--data", nhwc},
		{"run", model, "--data", nhwc, "--out", filepath.Join(dir, "run")},
	} {
		text, code := runBinary(t, args...)
		if code != exitFailure || !strings.Contains(text, nhwc) || !strings.Contains(text, `"x"`) {
			t.Errorf("%s with NHWC data: exit %d, want %d and a message naming %s and input \"x\":\n%s", args[0], code, exitFailure, nhwc, text)
		}
	}
	if text, code := runBinary(t, "compare", model, model, "--data", nchw); code != exitOK {
		t.Errorf("compare with NCHW data: exit %d\n%s", code, text)
	}
}
