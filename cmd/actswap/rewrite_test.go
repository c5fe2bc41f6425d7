package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
)

func TestRewriteCommand(t *testing.T) {
	model := testutil.SharedPath(t, "models", "digits_cnn", "model.onnx")
	dir := t.TempDir()
	out := filepath.Join(dir, "cnn_crrelu.onnx")

	var buf bytes.Buffer
	if err := runRewrite(&buf, model, withCalibDefaults(rewriteFlags{out: out, to: "crrelu", match: "relu,gelu"})); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"found         3 (relu 3)", "replaced      3 with ai.actswap:CRReLU", "/Relu_1/actswap_crrelu", "wrote         " + out} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
	m, err := onnx.LoadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, node := range m.Graph.Node {
		if node.GetDomain() == onnxops.Domain {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("written model has %d ai.actswap nodes, want 3", n)
	}

	// An existing output needs --force; the input never gets overwritten.
	err = runRewrite(&bytes.Buffer{}, model, withCalibDefaults(rewriteFlags{out: out, to: "pwlu", match: "relu"}))
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("existing output: error %v, want a --force hint", err)
	}
	if err := runRewrite(&bytes.Buffer{}, model, withCalibDefaults(rewriteFlags{out: out, to: "pwlu", match: "relu", force: true})); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if err := runRewrite(&bytes.Buffer{}, out, withCalibDefaults(rewriteFlags{out: out, to: "pwlu", match: "relu", force: true})); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("output = input: error %v", err)
	}

	// A model without sites: exit status 3, nothing written.
	none := filepath.Join(dir, "none.onnx")
	err = runRewrite(&bytes.Buffer{}, out, withCalibDefaults(rewriteFlags{out: none, to: "pwlu", match: "relu,gelu"}))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitNothingToDo {
		t.Fatalf("model without sites: error %v, want exit status 3", err)
	}
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Fatal("a model without sites was written")
	}
	// Every site filtered out: also status 3.
	err = runRewrite(&bytes.Buffer{}, model, withCalibDefaults(rewriteFlags{out: none, to: "pwlu", match: "gelu"}))
	if !errors.As(err, &ee) || ee.code != exitNothingToDo {
		t.Fatalf("nothing selected: error %v, want exit status 3", err)
	}
}

func TestRewriteCommandErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.onnx")
	for _, tc := range []struct {
		name string
		f    rewriteFlags
		want string
	}{
		{"no output", rewriteFlags{to: "pwlu", match: "relu"}, "-o OUT"},
		{"bad family", rewriteFlags{out: filepath.Join(dir, "o.onnx"), to: "swish", match: "relu"}, "--to"},
		{"bad kind", rewriteFlags{out: filepath.Join(dir, "o.onnx"), to: "pwlu", match: "tanh"}, "--match"},
		{"bad regexp", rewriteFlags{out: filepath.Join(dir, "o.onnx"), to: "pwlu", match: "relu", nodes: "("}, "--nodes"},
		{"load failure", rewriteFlags{out: filepath.Join(dir, "o.onnx"), to: "pwlu", match: "relu"}, "load " + missing},
	} {
		err := runRewrite(&bytes.Buffer{}, missing, withCalibDefaults(tc.f))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func TestInspectListsActivations(t *testing.T) {
	model := testutil.SharedPath(t, "models", "digits_vit_tanh", "model.onnx")
	var buf bytes.Buffer
	if err := runInspect(&buf, model, true); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Activations []struct{ Node, Kind, Pattern string }
	}
	if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Activations) != 2 || s.Activations[0].Kind != "gelu_tanh" || s.Activations[0].Pattern != "gelu_tanh" ||
		s.Activations[1].Node != "/enc/layers.1/activation/Mul_5" {
		t.Fatalf("activations %+v, want the two tanh GELU chains", s.Activations)
	}
}

// withCalibDefaults gives f the calibration flags' defaults, as the command line does.
func withCalibDefaults(f rewriteFlags) rewriteFlags {
	f.calib = calibFlags{objective: "match", pwluPoints: 16, batch: calibrate.DefaultBatch}
	return f
}
