package plugintest

import (
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/ortc"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// TestCExample builds examples/c/run_rewritten.c with the system C compiler and runs a bundled
// model rewritten to PWLU through it; its output must match actswap's runtime on the same input.
func TestCExample(t *testing.T) {
	_, plugin := setup(t)
	cc, err := exec.LookPath("cc")
	if err != nil {
		testutil.SkipMissing(t, "no C compiler (cc) on PATH")
	}
	libPath, _ := ortc.LibPath()
	root := testutil.RepoRoot(t)
	bin := filepath.Join(t.TempDir(), "run_rewritten")
	build := exec.Command(cc, "-O2", "-Wall", "-I", filepath.Join(root, "internal", "ortc"), "-o", bin,
		filepath.Join(root, "examples", "c", "run_rewritten.c"), "-ldl", "-lm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	m, _, _ := digitsRewritten(t, onnxops.FamilyPWLU)
	path := save(t, m, "digits_pwlu.onnx")
	shape := []int{2, 1, 8, 8}
	out, err := exec.Command(bin, libPath, plugin, path, "input", "2", "1", "8", "8").Output()
	if err != nil {
		t.Fatalf("run_rewritten: %v", err)
	}
	xs := make([]float32, tensor.NumElements(shape))
	for i := range xs {
		xs[i] = float32(math.Sin(0.01 * float64(i)))
	}
	s, err := runtime.NewSession(m, runtime.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Run(map[string]*tensor.Tensor{"input": tensor.New(shape, xs)})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(out))
	wv := want["output"].F32()
	if len(lines) != len(wv) {
		t.Fatalf("%d values printed, want %d:\n%s", len(lines), len(wv), out)
	}
	for i, l := range lines {
		g, err := strconv.ParseFloat(l, 64)
		if err != nil || math.Abs(g-float64(wv[i])) > 1e-5*max(1, math.Abs(float64(wv[i]))) {
			t.Fatalf("value %d: C example printed %q, actswap %v", i, l, wv[i])
		}
	}
}
