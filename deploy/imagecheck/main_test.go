package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// TestReadGolden reads the bundled golden folder through the runtime's data set reader and refuses
// a golden output that is not float32, naming the file.
func TestReadGolden(t *testing.T) {
	in, want, err := readGolden("../../models/digits_vit/test_data_set_0", "x", "y")
	if err != nil {
		t.Fatal(err)
	}
	if in.Len() == 0 || want.Len() == 0 || in.DType != tensor.Float32 {
		t.Fatalf("read input %v%v and output %v%v", in.DType, in.Shape, want.DType, want.Shape)
	}
	dir := t.TempDir()
	if err := tensor.WriteProtoFile(runtime.InputFile(dir, 0), in, "x"); err != nil {
		t.Fatal(err)
	}
	if err := tensor.WriteProtoFile(runtime.OutputFile(dir, 0), tensor.New([]int{1}, []int64{3}), "y"); err != nil {
		t.Fatal(err)
	}
	_, _, err = readGolden(dir, "x", "y")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "output_0.pb")) || !strings.Contains(err.Error(), "float32") {
		t.Errorf("int64 golden output: %v", err)
	}
	_, _, err = readGolden(filepath.Join(dir, "missing"), "x", "y")
	if err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("missing folder: %v", err)
	}
}
