package runtime

import (
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// BenchmarkSmallModelsOneThread times one single-threaded Run of each bundled digits model on the first
// row of its stored input: per-Run overhead (allocations, bookkeeping) dominates these, so run it with
// -benchmem and watch allocs/op.
func BenchmarkSmallModelsOneThread(b *testing.B) {
	root := filepath.Join(testutil.RepoRoot(b), "models")
	for _, name := range []string{"digits_cnn", "digits_vit", "digits_mlp_gelu"} {
		dir := filepath.Join(root, name)
		if !fileExists(filepath.Join(dir, "model.onnx")) {
			b.Skipf("%s not present", dir)
		}
		b.Run(name, func(b *testing.B) {
			m, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
			if err != nil {
				b.Fatal(err)
			}
			s, err := NewSession(m, WithThreads(1))
			if err != nil {
				b.Fatal(err)
			}
			inputs, err := s.ReadDataSetInputs(filepath.Join(dir, "test_data_set_0"))
			if err != nil {
				b.Fatal(err)
			}
			for name, x := range inputs {
				inputs[name] = tensor.SliceRows(x, 0, 1) // batch 1, like actswap bench
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Run(inputs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
