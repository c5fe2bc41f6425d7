package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
)

func TestExportTorchCommand(t *testing.T) {
	model := filepath.Join("..", "..", "models", "digits_cnn", "model.onnx")
	dir := t.TempDir()
	rewritten := filepath.Join(dir, "cnn_pwlu.onnx")
	orig, err := onnx.LoadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := rewrite.Apply(orig, rewrite.Options{To: onnxops.FamilyPWLU})
	if err != nil {
		t.Fatal(err)
	}
	if err := onnx.SaveFile(m, rewritten); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "torch")
	var buf bytes.Buffer
	if err := runExportTorch(&buf, rewritten, out, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "wrote "+out+": 3 sites") || !strings.Contains(buf.String(), "/Relu_1/actswap_pwlu") {
		t.Errorf("output:\n%s", buf.String())
	}
	for _, f := range []string{"actswap_torch.py", "params.safetensors", "sites.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if err := runExportTorch(&bytes.Buffer{}, rewritten, out, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("existing folder without --force: %v", err)
	}
	if err := runExportTorch(&bytes.Buffer{}, rewritten, out, true); err != nil {
		t.Errorf("--force: %v", err)
	}
	if err := runExportTorch(&bytes.Buffer{}, model, filepath.Join(dir, "none"), false); err == nil || !strings.Contains(err.Error(), "rewrite the model first") {
		t.Errorf("a model that was not rewritten: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); !os.IsNotExist(err) {
		t.Errorf("a failed export left a folder behind: %v", err)
	}
}
