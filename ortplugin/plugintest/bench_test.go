package plugintest

import (
	"encoding/json"
	"fmt"
	"maps"
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
	rounds := requested(t, "ACTSWAP_PLUGIN_BENCH", "ROUNDS to measure")
	lib, plugin := setup(t)
	for _, j := range benchJobs(t) {
		origPath, path, in := benchModels(t, j)
		variants := []*ortc.Session{open1(t, lib, origPath, ortc.Options{}), open1(t, lib, path, ortc.Options{CustomOpsLibrary: plugin}),
			open1(t, lib, path, ortc.Options{})}
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
			j, median(origTimes)*1e3, median(ratios[1]), median(ratios[2]), rounds, perRound,
			median(origCPU)*1e3, median(cpuRatios[1]), slices.Min(cpuRatios[1]), slices.Max(cpuRatios[1]), median(cpuRatios[2]))
	}
	fmt.Fprintln(os.Stderr, "measured on a shared machine: ratios move by several percent between runs")
}

// requested is the count a measurement test was asked for in the environment variable env,
// or skips the test.
func requested(t *testing.T, env, what string) int {
	n, _ := strconv.Atoi(os.Getenv(env))
	if n <= 0 {
		t.Skipf("set %s=%s", env, what)
	}
	return n
}

// open1 opens a session with 1 intra-op thread, closed when the test ends.
func open1(t *testing.T, lib *ortc.Lib, path string, o ortc.Options) *ortc.Session {
	t.Helper()
	o.IntraOpThreads = 1
	s, err := lib.NewSession(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// benchJob is one model rewritten to one family, in float32 or converted to float16.
type benchJob struct {
	model   string
	fam     onnxops.Family
	float16 bool
}

// String is the name ACTSWAP_PLUGIN_BENCH_ONLY matches: "model/Family" or "model float16/Family".
func (j benchJob) String() string {
	if j.float16 {
		return j.model + " float16/" + string(j.fam)
	}
	return j.model + "/" + string(j.fam)
}

// benchJobs are the done-when jobs of issue #13 and vit_tiny in float16, less those
// ACTSWAP_PLUGIN_BENCH_ONLY=REGEXP does not match.
func benchJobs(t *testing.T) []benchJob {
	jobs := []benchJob{{"vit_tiny", onnxops.FamilyPWLU, false}, {"vit_tiny", onnxops.FamilyZorro, false}, {"vit_tiny", onnxops.FamilyCRReLU, false},
		{"resnet18", onnxops.FamilyPWLU, false}, {"resnet18", onnxops.FamilyZorro, false}, {"resnet18", onnxops.FamilyCRReLU, false},
		{"bert_tiny", onnxops.FamilyPWLU, false}, {"gpt2_tiny", onnxops.FamilyPWLU, false},
		{"vit_tiny", onnxops.FamilyPWLU, true}, {"vit_tiny", onnxops.FamilyZorro, true}, {"vit_tiny", onnxops.FamilyCRReLU, true}}
	if only := os.Getenv("ACTSWAP_PLUGIN_BENCH_ONLY"); only != "" {
		re := regexp.MustCompile(only)
		jobs = slices.DeleteFunc(jobs, func(j benchJob) bool { return !re.MatchString(j.String()) })
	}
	return jobs
}

// benchModels writes a job's rewritten model and returns the original's path, the rewrite's
// and the inputs of the original's test_data_set_0 (all converted to float16 for a float16 job).
func benchModels(t *testing.T, j benchJob) (origPath, path string, in map[string]*tensor.Tensor) {
	t.Helper()
	dir := filepath.Join(transformerModels(t), j.model)
	if !strings.HasSuffix(j.model, "_tiny") || j.model == "vit_tiny" {
		dir = testutil.SharedPath(t, "models", j.model)
	}
	origPath = filepath.Join(dir, "model.onnx")
	orig, err := onnx.LoadFile(origPath)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := runtime.NewSession(orig)
	if err != nil {
		t.Fatal(err)
	}
	in, err = ours.ReadDataSetInputs(filepath.Join(dir, "test_data_set_0"))
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
	return origPath, save(t, m, "rewritten.onnx"), in
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

// TestProfile runs each job's original model and its rewrite with the plugin under
// onnxruntime's profiler (1 intra-op thread) and prints the kernel time per operator type, per
// run, side by side: where a ratio of TestSideBySide comes from. A measurement, run when asked:
//
//	ACTSWAP_PLUGIN_PROFILE=20 ACTSWAP_PLUGIN_BENCH_ONLY=vit_tiny/Zorro go test -run TestProfile -v ./ortplugin/plugintest
//
// (the value is the number of profiled runs after a warm-up run, which is left out; the filter
// is TestSideBySide's).
func TestProfile(t *testing.T) {
	runs := requested(t, "ACTSWAP_PLUGIN_PROFILE", "RUNS to profile")
	lib, plugin := setup(t)
	for _, j := range benchJobs(t) {
		origPath, path, in := benchModels(t, j)
		// Both sessions profile at once, their runs interleaved, so that load on a shared
		// machine hits both alike.
		sessions := []*ortc.Session{
			open1(t, lib, origPath, ortc.Options{ProfilePrefix: filepath.Join(t.TempDir(), "profile")}),
			open1(t, lib, path, ortc.Options{CustomOpsLibrary: plugin, ProfilePrefix: filepath.Join(t.TempDir(), "profile")}),
		}
		for range runs + 1 {
			for _, s := range sessions {
				if _, err := s.Run(in); err != nil {
					t.Fatal(err)
				}
			}
		}
		var times []map[string]float64
		var nodes []map[string]int
		for _, s := range sessions {
			file, err := s.EndProfiling()
			if err != nil {
				t.Fatal(err)
			}
			ts, ns := kernelTimes(t, file, runs)
			times, nodes = append(times, ts), append(nodes, ns)
		}
		orig, plug := times[0], times[1]
		ops := slices.Sorted(maps.Keys(orig))
		for op := range plug {
			if _, ok := orig[op]; !ok {
				ops = append(ops, op)
			}
		}
		var b strings.Builder
		var to, tp float64
		for _, op := range ops {
			fmt.Fprintf(&b, "\n  %-24s %9.1f %9.1f µs  (%d, %d nodes)", op, orig[op], plug[op], nodes[0][op], nodes[1][op])
			to += orig[op]
			tp += plug[op]
		}
		t.Logf("%s: kernel time per run, original vs rewritten with the plugin (sum over nodes of each node's median of %d profiled runs after a warm-up, interleaved, 1 thread)%s\n  %-24s %9.1f %9.1f µs", j, runs, b.String(), "total", to, tp)
	}
}

// kernelTimes sums an onnxruntime profile's node kernel times by operator type: each node's
// median over its last runs calls (the earlier ones are the warm-up's); and counts the nodes.
func kernelTimes(t *testing.T, file string, runs int) (map[string]float64, map[string]int) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(file)
	var events []struct {
		Cat  string  `json:"cat"`
		Name string  `json:"name"`
		Dur  float64 `json:"dur"`
		Args struct {
			OpName string `json:"op_name"`
		} `json:"args"`
	}
	if err := json.Unmarshal(data, &events); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	calls := map[string][]float64{}
	op := map[string]string{}
	for _, e := range events {
		if e.Cat == "Node" && strings.HasSuffix(e.Name, "_kernel_time") {
			calls[e.Name] = append(calls[e.Name], e.Dur)
			op[e.Name] = e.Args.OpName
		}
	}
	sums, nodes := map[string]float64{}, map[string]int{}
	for name, ds := range calls {
		sums[op[name]] += median(ds[max(0, len(ds)-runs):])
		nodes[op[name]]++
	}
	return sums, nodes
}
