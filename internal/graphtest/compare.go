package graphtest

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// Diff checks got against want elementwise: |got − want| ≤ atol + rtol·|want|, same shape and
// type, NaN only where want is NaN and infinities equal. It returns nil or a description of the
// first mismatch and how many elements differ.
func Diff(got, want *tensor.Tensor, rtol, atol float64) error {
	if got == nil {
		return fmt.Errorf("missing (want %v%v)", want.DType, want.Shape)
	}
	if got.DType != want.DType {
		return fmt.Errorf("type %v, want %v", got.DType, want.DType)
	}
	if !equalShape(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	g, err := float64s(got)
	if err != nil {
		return err
	}
	w, _ := float64s(want)
	bad, first := 0, -1
	for i := range w {
		if !close(g[i], w[i], rtol, atol) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements differ; first at %d: got %g, want %g", bad, len(w), first, g[first], w[first])
	}
	return nil
}

func close(g, w, rtol, atol float64) bool {
	switch {
	case math.IsNaN(w):
		return math.IsNaN(g)
	case math.IsInf(w, 0):
		return g == w
	}
	return math.Abs(g-w) <= atol+rtol*math.Abs(w)
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func float64s(t *tensor.Tensor) ([]float64, error) {
	switch d := t.Data.(type) {
	case []float32:
		return conv(d), nil
	case []float64:
		return d, nil
	case []int64:
		return conv(d), nil
	case []int32:
		return conv(d), nil
	case []int8:
		return conv(d), nil
	case []uint8:
		return conv(d), nil
	case []tensor.Float16Bits:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
		return out, nil
	case []bool:
		out := make([]float64, len(d))
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("element type %v not compared", t.DType)
}

func conv[T float32 | float64 | int64 | int32 | int8 | uint8](s []T) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
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
		t.Skip(why)
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
