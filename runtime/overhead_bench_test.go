package runtime

import (
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// BenchmarkSmallModelsOneThread times one single-threaded Run of each bundled digits model on the
// first row of its stored input: per-Run overhead (allocations, bookkeeping) dominates these, so
// run it with -benchmem and watch allocs/op.
func BenchmarkSmallModelsOneThread(b *testing.B) {
	root := filepath.Join(testutil.RepoRoot(b), "models")
	for _, name := range []string{"digits_cnn", "digits_vit", "digits_mlp_gelu"} {
		b.Run(name, func(b *testing.B) { benchSteadyRuns(b, filepath.Join(root, name), 1, true) })
	}
}

// BenchmarkSharedModelsOneThread is the same for resnet18 and vit_tiny from ../shared/models on
// their stored inputs; its allocs/op is what `actswap bench` reports as allocs_per_run.
func BenchmarkSharedModelsOneThread(b *testing.B) {
	for _, name := range []string{"resnet18", "vit_tiny"} {
		dir := testutil.SharedPath(b, "models", name)
		b.Run(name, func(b *testing.B) { benchSteadyRuns(b, dir, 1, false) })
	}
}

// benchSteadyRuns times Runs of dir's model on its stored inputs after two warm-up runs, with
// the given kernel threads (0: GOMAXPROCS).
func benchSteadyRuns(b *testing.B, dir string, threads int, firstRow bool) {
	s, inputs := sessionOnDataSet(b, dir, threads, firstRow)
	for range 2 { // steady state: buffer pool, shape cache and view headers filled
		if _, err := s.Run(inputs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	start := testutil.ProcessCPU()
	for b.Loop() {
		if _, err := s.Run(inputs); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := testutil.ProcessCPU() - start; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// sessionOnDataSet opens dir/model.onnx with the given kernel threads and reads the inputs of
// dir/test_data_set_0, cut to their first row (batch 1, like actswap bench) when firstRow is set.
func sessionOnDataSet(t testing.TB, dir string, threads int, firstRow bool) (*Session, map[string]*tensor.Tensor) {
	t.Helper()
	m, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(m, WithThreads(threads))
	if err != nil {
		t.Fatal(err)
	}
	inputs, err := s.ReadDataSetInputs(filepath.Join(dir, "test_data_set_0"))
	if err != nil {
		t.Fatal(err)
	}
	if firstRow {
		for name, x := range inputs {
			inputs[name] = tensor.SliceRows(x, 0, 1)
		}
	}
	return s, inputs
}
