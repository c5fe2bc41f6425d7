package plugintest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/actswap/actswap/internal/ortc"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// TestSideBySide times, in one process and one onnxruntime with 1 intra-op thread, the original
// model, the rewritten model with the plugin, and the rewritten model on its function bodies,
// in alternating rounds, and prints the median ratios against the original. It is a
// measurement, not a check, so it runs only when asked:
//
//	ACTSWAP_PLUGIN_BENCH=7 go test -run TestSideBySide -v ./ortplugin/plugintest
//
// (the value is the number of rounds; each round times every variant for ~0.3 s).
func TestSideBySide(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("ACTSWAP_PLUGIN_BENCH"))
	if rounds <= 0 {
		t.Skip("set ACTSWAP_PLUGIN_BENCH=ROUNDS to measure")
	}
	lib, plugin := setup(t)
	type job struct {
		model string
		fam   onnxops.Family
	}
	jobs := []job{{"vit_tiny", onnxops.FamilyPWLU}, {"vit_tiny", onnxops.FamilyZorro}, {"vit_tiny", onnxops.FamilyCRReLU},
		{"resnet18", onnxops.FamilyPWLU}, {"resnet18", onnxops.FamilyZorro}, {"resnet18", onnxops.FamilyCRReLU}}
	for _, j := range jobs {
		dir := testutil.SharedPath(t, "models", j.model)
		origPath := filepath.Join(dir, "model.onnx")
		orig, err := onnx.LoadFile(origPath)
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := rewrite.Apply(orig, rewrite.Options{To: j.fam})
		if err != nil {
			t.Fatal(err)
		}
		path := save(t, m, "rewritten.onnx")
		ours, err := runtime.NewSession(orig)
		if err != nil {
			t.Fatal(err)
		}
		in, err := ours.ReadDataSetInputs(filepath.Join(dir, "test_data_set_0"))
		if err != nil {
			t.Fatal(err)
		}
		open := func(p string, o ortc.Options) *ortc.Session {
			o.IntraOpThreads = 1
			s, err := lib.NewSession(p, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			return s
		}
		variants := []*ortc.Session{open(origPath, ortc.Options{}), open(path, ortc.Options{CustomOpsLibrary: plugin}), open(path, ortc.Options{})}
		times := make([][]float64, len(variants))
		for r := 0; r < rounds; r++ {
			for v, s := range variants {
				times[v] = append(times[v], timeRun(t, s, in))
			}
		}
		med := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
		ratio := func(v int) float64 {
			rs := make([]float64, rounds)
			for r := range rs {
				rs[r] = times[v][r] / times[0][r]
			}
			return med(rs)
		}
		t.Logf("%s → %s: onnxruntime original %.2f ms; plugin %.3f×, function bodies %.3f× (medians of %d alternating rounds, 1 thread)",
			j.model, j.fam, med(times[0])*1e3, ratio(1), ratio(2), rounds)
	}
	fmt.Fprintln(os.Stderr, "measured on a shared machine: ratios move by several percent between runs")
}

// timeRun is the mean seconds per Run over ~0.3 s after one warm-up run.
func timeRun(t *testing.T, s *ortc.Session, in map[string]*tensor.Tensor) float64 {
	if _, err := s.Run(in); err != nil {
		t.Fatal(err)
	}
	n, start := 0, time.Now()
	for time.Since(start) < 300*time.Millisecond {
		if _, err := s.Run(in); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return time.Since(start).Seconds() / float64(n)
}
