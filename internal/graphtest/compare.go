package graphtest

import (
	"fmt"
	"sort"
	"testing"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// Diff checks got against want elementwise (tensor.AllClose): |got − want| ≤ atol + rtol·|want|,
// same shape and type, NaN only where want is NaN and infinities equal. It returns nil or a
// description of the first mismatch and how many elements differ.
func Diff(got, want *tensor.Tensor, rtol, atol float64) error {
	if got == nil {
		return fmt.Errorf("missing (want %v%v)", want.DType, want.Shape)
	}
	return tensor.AllClose(got, want, rtol, atol)
}

// Runner runs a model on feeds in the engine under test (actswap's runtime, passed in so this
// package does not depend on it and kernel packages' own tests can use it too).
type Runner func(m *onnx.ModelProto, feeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error)

// Tolerances the differential tests use: onnxruntime and actswap round float32 differently
// (fused kernels, summation order), never by more than this on well-conditioned graphs.
const (
	RTol = 1e-4
	ATol = 1e-5
)

// AgreeWithORT saves m, runs it in onnxruntime and in run on the same feeds, and fails t for any
// onnxruntime output that run misses or that differs beyond rtol/atol. It skips t when
// onnxruntime is not installed. It returns onnxruntime's outputs.
func AgreeWithORT(t testing.TB, m *onnx.ModelProto, name string, feeds map[string]*tensor.Tensor, run Runner, rtol, atol float64) map[string]*tensor.Tensor {
	t.Helper()
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, why)
	}
	path := Save(t, m, name)
	want, err := ortref.Run(path, feeds)
	if err != nil {
		t.Fatalf("%s: onnxruntime: %v", name, err)
	}
	got, err := run(m, feeds)
	if err != nil {
		t.Fatalf("%s: actswap: %v", name, err)
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := Diff(got[n], want[n], rtol, atol); err != nil {
			t.Errorf("%s: output %q: %v", name, n, err)
		}
	}
	return want
}
