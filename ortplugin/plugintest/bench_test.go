package plugintest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
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
// (the value is the number of rounds; a round is 7 interleaved runs of each variant;
// ACTSWAP_PLUGIN_BENCH_ONLY=REGEXP keeps the jobs whose "model/Family" it matches). bert_tiny
// and gpt2_tiny are the generated BERT- and GPT-2-style models of transformers_test.go; the
// "float16" jobs convert the model and its input to float16 first (toFloat16) and time all
// three variants in float16. Beside the wall-clock ratios it prints ratios of the CPU time of
// the thread that runs the model: with one intra-op thread onnxruntime runs every node on the
// caller's thread, so on a loaded machine the CPU time leaves out the time other processes held
// the core.
func TestSideBySide(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("ACTSWAP_PLUGIN_BENCH"))
	if rounds <= 0 {
		t.Skip("set ACTSWAP_PLUGIN_BENCH=ROUNDS to measure")
	}
	lib, plugin := setup(t)
	type job struct {
		model   string
		fam     onnxops.Family
		float16 bool
	}
	jobs := []job{{"vit_tiny", onnxops.FamilyPWLU, false}, {"vit_tiny", onnxops.FamilyZorro, false}, {"vit_tiny", onnxops.FamilyCRReLU, false},
		{"resnet18", onnxops.FamilyPWLU, false}, {"resnet18", onnxops.FamilyZorro, false}, {"resnet18", onnxops.FamilyCRReLU, false},
		{"bert_tiny", onnxops.FamilyPWLU, false}, {"gpt2_tiny", onnxops.FamilyPWLU, false},
		{"vit_tiny", onnxops.FamilyPWLU, true}, {"vit_tiny", onnxops.FamilyZorro, true}, {"vit_tiny", onnxops.FamilyCRReLU, true}}
	name := func(j job) string {
		if j.float16 {
			return j.model + " float16/" + string(j.fam)
		}
		return j.model + "/" + string(j.fam)
	}
	if only := os.Getenv("ACTSWAP_PLUGIN_BENCH_ONLY"); only != "" {
		re := regexp.MustCompile(only)
		jobs = slices.DeleteFunc(jobs, func(j job) bool { return !re.MatchString(name(j)) })
	}
	generated := transformerModels(t)
	for _, j := range jobs {
		dir := filepath.Join(generated, j.model)
		if !strings.HasSuffix(j.model, "_tiny") || j.model == "vit_tiny" {
			dir = testutil.SharedPath(t, "models", j.model)
		}
		origPath := filepath.Join(dir, "model.onnx")
		orig, err := onnx.LoadFile(origPath)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := runtime.NewSession(orig)
		if err != nil {
			t.Fatal(err)
		}
		in, err := ours.ReadDataSetInputs(filepath.Join(dir, "test_data_set_0"))
		if err != nil {
			t.Fatal(err)
		}
		if j.float16 {
			orig, in = toFloat16(t, orig), inputsFloat16(in)
			origPath = save(t, orig, "float16.onnx")
		}
		m, _, err := rewrite.Apply(orig, rewrite.Options{To: j.fam})
		if err != nil {
			t.Fatal(err)
		}
		path := save(t, m, "rewritten.onnx")
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
		// Rounds of interleaved single runs (original, plugin, bodies, original, …): each
		// ratio is the median over rounds of median-run-time ratios, so a burst of load on the
		// shared machine hits every variant alike.
		for _, s := range variants {
			if _, err := s.Run(in); err != nil {
				t.Fatal(err)
			}
		}
		const perRound = 7
		ratios, cpuRatios := make([][]float64, len(variants)), make([][]float64, len(variants))
		var origTimes, origCPU []float64
		goruntime.LockOSThread() // the CPU clock below is this thread's, and cgo calls run on it
		for r := 0; r < rounds; r++ {
			times, cpu := make([][]float64, len(variants)), make([][]float64, len(variants))
			for i := 0; i < perRound; i++ {
				for v, s := range variants {
					wall, c := timeRun(t, s, in)
					times[v], cpu[v] = append(times[v], wall), append(cpu[v], c)
				}
			}
			for v := range variants {
				ratios[v] = append(ratios[v], median(times[v])/median(times[0]))
				cpuRatios[v] = append(cpuRatios[v], median(cpu[v])/median(cpu[0]))
			}
			origTimes, origCPU = append(origTimes, median(times[0])), append(origCPU, median(cpu[0]))
		}
		goruntime.UnlockOSThread()
		t.Logf("%s: onnxruntime original %.2f ms; plugin %.3f×, function bodies %.3f× (medians of %d rounds of %d interleaved runs, 1 thread); thread CPU time: original %.2f ms, plugin %.3f× (rounds %.3f–%.3f), function bodies %.3f×",
			name(j), median(origTimes)*1e3, median(ratios[1]), median(ratios[2]), rounds, perRound,
			median(origCPU)*1e3, median(cpuRatios[1]), slices.Min(cpuRatios[1]), slices.Max(cpuRatios[1]), median(cpuRatios[2]))
	}
	fmt.Fprintln(os.Stderr, "measured on a shared machine: ratios move by several percent between runs")
}

// timeRun is the seconds one Run takes, wall clock and CPU time of the calling thread (0 where
// that clock is missing).
func timeRun(t *testing.T, s *ortc.Session, in map[string]*tensor.Tensor) (wall, cpu float64) {
	c0, _ := threadCPU()
	start := time.Now()
	if _, err := s.Run(in); err != nil {
		t.Fatal(err)
	}
	wall = time.Since(start).Seconds()
	c1, _ := threadCPU()
	return wall, (c1 - c0).Seconds()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
