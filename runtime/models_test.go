package runtime

import (
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// TestRealModels runs every real model (../shared/models and the bundled models/) on its
// test_data_set_0 and compares with onnxruntime's outputs; then it runs a batch of three, the
// stored input, a different one and the stored input again, and checks rows 0 and 2 still match:
// a kernel that mixes batch rows, or that assumes the exported batch size, fails here.

const (
	modelRtol = 1e-3
	modelAtol = 1e-4
)

// heavyModels take seconds each in pure Go; -short skips them.
var heavyModels = map[string]bool{"resnet18": true, "vit_tiny": true}

// realModelDirs maps a label ("bundled/digits_cnn", "shared/resnet18") to a model folder.
func realModelDirs(t *testing.T) map[string]string {
	dirs := map[string]string{}
	add := func(label, root string) {
		entries, err := os.ReadDir(root)
		if err != nil {
			return
		}
		for _, e := range entries {
			dir := filepath.Join(root, e.Name())
			if fileExists(filepath.Join(dir, "model.onnx")) && fileExists(filepath.Join(dir, "test_data_set_0")) {
				dirs[label+"/"+e.Name()] = dir
			}
		}
	}
	add("bundled", filepath.Join(testutil.RepoRoot(t), "models"))
	add("shared", filepath.Join(testutil.RepoRoot(t), "..", "shared", "models"))
	return dirs
}

func TestRealModels(t *testing.T) {
	dirs := realModelDirs(t)
	if len(dirs) == 0 {
		testutil.SkipMissing(t, "no real models: ../shared/models and models/ are absent or empty")
	}
	labels := make([]string, 0, len(dirs))
	for label := range dirs {
		labels = append(labels, label)
	}
	sort.Strings(labels)
	for _, label := range labels {
		dir, name := dirs[label], filepath.Base(dirs[label])
		t.Run(label, func(t *testing.T) {
			if (testing.Short() || testutil.RaceEnabled) && heavyModels[name] {
				t.Skip("large model; skipped in -short mode and under -race")
			}
			t.Parallel()
			checkRealModel(t, dir)
		})
	}
}

func checkRealModel(t *testing.T, dir string) {
	m, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	inputs, want, err := s.ReadDataSet(filepath.Join(dir, "test_data_set_0"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	outs := s.Outputs()
	for k, o := range outs {
		if msg := compareValues(got[o.Name], want[k], modelRtol, modelAtol); msg != "" {
			t.Errorf("output %q: %s", o.Name, msg)
		}
	}

	// The same session from several goroutines at once: every run must see only its own values.
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			again, err := s.Run(inputs)
			if err != nil {
				t.Errorf("concurrent run: %v", err)
				return
			}
			for _, o := range outs {
				if msg := compareValues(again[o.Name], got[o.Name], 0, 0); msg != "" {
					t.Errorf("concurrent run: output %q differs from the first run: %s", o.Name, msg)
				}
			}
		}()
	}
	wg.Wait()

	// Batch of three: stored, perturbed, stored.
	batched := map[string]*tensor.Tensor{}
	rows := map[string]int{}
	for _, in := range s.Inputs() {
		x := inputs[in.Name]
		if len(in.Shape) == 0 || in.Shape[0].Value >= 0 || x.Rank() == 0 {
			t.Logf("input %q has no dynamic batch dimension; batch check skipped", in.Name)
			return
		}
		rows[in.Name] = x.Shape[0]
		batched[in.Name] = tensor.ConcatRows([]*tensor.Tensor{x, perturbed(x), x})
	}
	got3, err := s.Run(batched)
	if err != nil {
		t.Fatalf("batch of 3: %v", err)
	}
	for k, o := range outs {
		y := got3[o.Name]
		if y.Rank() == 0 || y.Shape[0]%3 != 0 {
			t.Errorf("batch of 3: output %q has shape %v, want a leading dimension of 3×%d", o.Name, y.Shape, want[k].Shape[0])
			continue
		}
		n := y.Shape[0] / 3
		for _, part := range []int{0, 2} {
			if msg := compareValues(tensor.SliceRows(y, part*n, (part+1)*n), want[k], modelRtol, modelAtol); msg != "" {
				t.Errorf("batch of 3, part %d: output %q: %s", part, o.Name, msg)
			}
		}
	}
}

// perturbed returns a different input of the same shape: floats halved and shifted.
func perturbed(x *tensor.Tensor) *tensor.Tensor {
	y := x.Clone()
	if d, ok := y.Data.([]float32); ok {
		for i := range d {
			d[i] = d[i]*0.5 + 0.25
		}
	}
	return y
}

// BenchmarkRealModels times one Run of each shared model on its stored input.
func BenchmarkRealModels(b *testing.B) {
	for _, name := range []string{"digits_cnn", "digits_vit", "resnet18", "vit_tiny"} {
		dir := testutil.SharedPath(b, "models", name)
		b.Run(name, func(b *testing.B) { benchSteadyRuns(b, dir, 0, false) })
	}
}
