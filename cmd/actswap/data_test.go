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

// A symbolic dimension has one size across all inputs: an .npz whose members disagree on "seq"
// is refused, naming the file and the dimension, by every command that reads data.
func TestSymbolicDimensionsBindAcrossInputs(t *testing.T) {
	b := graphtest.New("two", 17)
	a := b.Input("a", tensor.Float32, "batch", "seq")
	c := b.Input("c", tensor.Float32, "batch", "seq")
	b.Output(b.Op("Add", []string{a, c}), tensor.Float32, "batch", "seq")
	model := graphtest.Save(t, b.Model(), "two")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.npz")
	err := tensor.WriteNpz(bad, []string{"a", "c"}, map[string]*tensor.Tensor{
		"a": tensor.Zeros(tensor.Float32, []int{2, 3}), "c": tensor.Zeros(tensor.Float32, []int{2, 4})})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"compare", model, model, "--data", bad},
		{"run", model, "--data", bad, "--out", filepath.Join(dir, "run")},
	} {
		text, code := runBinary(t, args...)
		if code != exitFailure || !strings.Contains(text, bad) || !strings.Contains(text, `dimension "seq"`) {
			t.Errorf("%s with seq 3 and 4: exit %d, want %d and a message naming %s and \"seq\":\n%s", args[0], code, exitFailure, bad, text)
		}
	}
}
