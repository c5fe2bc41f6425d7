package ortc

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
)

// OpenForTest loads onnxruntime or skips the test with the reason.
func openForTest(t testing.TB) *Lib {
	t.Helper()
	path, err := LibPath()
	if err != nil {
		t.Skip("onnxruntime not available: " + err.Error())
	}
	l, err := Open(path)
	if err != nil {
		t.Skip("onnxruntime not loadable: " + err.Error())
	}
	return l
}

// TestRunMatchesGolden runs a bundled model in onnxruntime through the C API and compares the
// output with the onnxruntime golden file saved beside it.
func TestRunMatchesGolden(t *testing.T) {
	l := openForTest(t)
	t.Logf("onnxruntime %s", l.Version())
	dir := filepath.Join(testutil.RepoRoot(t), "models", "digits_mlp_gelu")
	m, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	ours, err := runtime.NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	in, want, err := ours.ReadDataSet(filepath.Join(dir, "test_data_set_0"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.NewSession(filepath.Join(dir, "model.onnx"), Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	y := got[s.Outputs()[0]]
	if y == nil || len(y.F32()) != len(want[0].F32()) {
		t.Fatalf("output %v, want %d values", y, len(want[0].F32()))
	}
	for i, w := range want[0].F32() {
		if g := y.F32()[i]; math.Abs(float64(g-w)) > 1e-5*max(1, math.Abs(float64(w))) {
			t.Fatalf("y[%d] = %v, golden %v", i, g, w)
		}
	}
}
