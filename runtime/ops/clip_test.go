package ops

import (
	"math"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// clipRef is ONNX Clip in float64 for non-NaN bounds: lo > hi gives hi (the spec), otherwise
// min(max(x, lo), hi) with Go's min and max, which keep a NaN x as NumPy's clip does.
func clipRef(x, lo, hi float64) float64 {
	if lo > hi && !math.IsNaN(x) {
		return hi
	}
	return min(max(x, lo), hi)
}

func clipInputs() []float32 {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	xs := []float32{nan, inf, -inf, 0, float32(math.Copysign(0, -1)), 6, 6.0001, -1e-30, 1e30, -1e30, 3, -3}
	for i := -40; i <= 40; i++ {
		xs = append(xs, float32(i)*0.23)
	}
	return xs
}

// TestClipFloat runs Clip on float32, float64 and float16 data with bounds as opset-13 inputs
// (both, one, none, lo > hi, infinite) and opset-6 attributes, NaN and ±Inf among the values,
// against clipRef.
func TestClipFloat(t *testing.T) {
	t.Parallel()
	xs := clipInputs()
	inf := math.Inf(1)
	for _, c := range []struct {
		name    string
		version int
		attrs   kattr
		lo, hi  *float64 // nil: absent
	}{
		{"relu6", 13, nil, ptr(0.0), ptr(6.0)},
		{"max_only", 13, nil, nil, ptr(1.5)},
		{"min_only", 13, nil, ptr(-0.5), nil},
		{"none", 13, nil, nil, nil},
		{"min_above_max", 13, nil, ptr(2.0), ptr(1.0)},
		{"infinite", 13, nil, ptr(-inf), ptr(inf)},
		{"attributes", 6, kattr{"min": float32(-1), "max": float32(3)}, nil, nil},
	} {
		lo, hi := -inf, inf
		if c.attrs != nil {
			lo, hi = -1, 3
		}
		if c.lo != nil {
			lo = *c.lo
		}
		if c.hi != nil {
			hi = *c.hi
		}
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.Float16} {
			in := []*tensor.Tensor{castTo(t, tensor.New([]int{len(xs)}, xs), dt)}
			if c.version >= 11 {
				for _, b := range []*float64{c.lo, c.hi} {
					var bt *tensor.Tensor
					if b != nil {
						bt = castTo(t, tensor.Scalar(float32(*b)), dt)
					}
					in = append(in, bt)
				}
			}
			got := toFloat64s(runKernel(t, "Clip", c.version, c.attrs, 1, in...)[0])
			for i, x := range toFloat64s(in[0]) {
				want := clipRef(x, lo, hi)
				if !(got[i] == want || math.IsNaN(got[i]) && math.IsNaN(want)) {
					t.Errorf("%s %v: Clip(%g) = %g, want %g", c.name, dt, x, got[i], want)
				}
			}
		}
	}
}

// TestClipElementwiseFloat32 checks the in-place form that the fusion pass puts in GEMM
// epilogues: offered when the bounds are known at session creation, equal to Run on the same
// data (NaN included), and withheld when a bound is only known at run time.
func TestClipElementwiseFloat32(t *testing.T) {
	t.Parallel()
	xs := clipInputs()
	for _, c := range []struct {
		name    string
		version int
		attrs   kattr
		consts  []*tensor.Tensor // the node's inputs 1..: a constant, or nil for a run-time value
		nIn     int
		offered bool
	}{
		{"relu6", 13, nil, []*tensor.Tensor{tensor.Scalar(float32(0)), tensor.Scalar(float32(6))}, 3, true},
		{"no_bounds", 13, nil, nil, 1, true},
		{"attributes", 6, kattr{"min": float32(-1), "max": float32(3)}, nil, 1, true},
		{"min_above_max", 13, nil, []*tensor.Tensor{tensor.Scalar(float32(2)), tensor.Scalar(float32(1))}, 3, true},
		{"run_time_max", 13, nil, []*tensor.Tensor{tensor.Scalar(float32(0)), nil}, 3, false},
		{"float64_bounds", 13, nil, []*tensor.Tensor{tensor.Scalar(0.0), tensor.Scalar(6.0)}, 3, false},
	} {
		n := kernelNode("Clip", c.version, c.attrs, c.nIn, 1)
		copy(n.Const[1:], c.consts)
		k, err := newClip(n)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		f := k.(ElementwiseFloat32).ElementwiseFloat32()
		if (f != nil) != c.offered {
			t.Fatalf("%s: in-place form offered = %v, want %v", c.name, f != nil, c.offered)
		}
		if f == nil {
			continue
		}
		in := []*tensor.Tensor{tensor.New([]int{len(xs)}, xs)}
		in = append(in, c.consts...)
		want, err := k.Run(NewContext(1), in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := append([]float32(nil), xs...)
		f(got)
		for i, w := range want[0].F32() {
			if math.Float32bits(got[i]) != math.Float32bits(w) && !(got[i] != got[i] && w != w) {
				t.Errorf("%s: in place Clip(%g) = %g, Run gives %g", c.name, xs[i], got[i], w)
			}
		}
	}
}

func TestClipRejectsNonScalarBounds(t *testing.T) {
	t.Parallel()
	x := tensor.New([]int{2}, []float32{1, 2})
	lo := tensor.New([]int{2}, []float32{0, 0})
	if err := kernelErr("Clip", 13, nil, x, lo); err == nil {
		t.Error("Clip with a 2-element min: no error")
	}
}

func ptr(v float64) *float64 { return &v }

func castTo(t *testing.T, x *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	t.Helper()
	out, err := castTensor(NewContext(1), x, dt)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
