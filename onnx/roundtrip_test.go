package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// sharedModelFiles lists every model file of the reference models and the ONNX backend suite.
func sharedModelFiles(t *testing.T) []string {
	t.Helper()
	shared := testutil.SharedDir(t)
	var files []string
	for _, pattern := range []string{
		"models/*/model.onnx",
		"onnx-backend-tests/node/*/model.onnx",
		"onnx-backend-tests/pytorch-converted/*/model.onnx",
		"onnx-backend-tests/pytorch-operator/*/model.onnx",
		"onnx-backend-tests/simple/*/model.onnx",
		"onnx-backend-tests/light/*.onnx",
	} {
		m, err := filepath.Glob(filepath.Join(shared, pattern))
		if err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			t.Errorf("no files match %s", pattern)
		}
		files = append(files, m...)
	}
	return files
}

// Loading and re-saving an unchanged model must reproduce the file byte for byte: it proves the
// schema covers every field exporters write and that Marshal keeps ONNX's field order.
func TestRoundTripSharedModelsByteIdentical(t *testing.T) {
	t.Parallel()
	files := sharedModelFiles(t)
	for _, path := range files {
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := LoadBytes(want)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if n := len(m.ProtoReflect().GetUnknown()); n != 0 {
			t.Errorf("%s: %d bytes of unknown top-level fields", path, n)
		}
		got, err := Marshal(m)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: re-encoded model differs (%d bytes, file has %d)", path, len(got), len(want))
		}
	}
	t.Logf("%d models round-tripped", len(files))
}

// The models bundled in the repository load and re-encode byte-identically without ../shared.
func TestRoundTripBundledModels(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(t), "models", "*", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found %d bundled models, want the 6 digits models", len(files))
	}
	for _, path := range files {
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Marshal(m)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: re-encoded model differs (err %v)", path, err)
		}
		if in := m.GetGraph().GetInput(); len(in) != 1 || len(in[0].GetType().GetTensorType().GetShape().GetDim()) == 0 ||
			in[0].GetType().GetTensorType().GetShape().GetDim()[0].GetDimParam() != "batch" {
			t.Errorf("%s: inputs %v, want one with a dynamic batch dimension", path, in)
		}
	}
}
