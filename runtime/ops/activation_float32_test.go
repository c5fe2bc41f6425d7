package ops

import (
	"math"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// TestFloat32Activations runs the float32 kernels (package vecmath's vector code) through the
// registry and compares them with the ops' own float64 formulas, over a sweep that includes the
// tails, ±Inf and NaN. The bound is relative for normal results.
func TestFloat32Activations(t *testing.T) {
	t.Parallel()
	var xs []float32
	for i := -3000; i <= 3000; i++ {
		xs = append(xs, float32(i)*0.0071) // [−21.3, 21.3]
	}
	xs = append(xs, 1e-30, -1e-30, 0, 1e30, -1e30, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()))
	in := tensor.New([]int{len(xs)}, xs)
	for _, c := range []struct {
		op      string
		version int
		attrs   kattr
		ref     func(float64) float64
	}{
		{"Exp", 13, nil, math.Exp},
		{"Erf", 13, nil, math.Erf},
		{"Sigmoid", 13, nil, sigmoid},
		{"Tanh", 13, nil, math.Tanh},
		{"Gelu", 20, nil, geluErf},
		{"Gelu", 20, kattr{"approximate": "tanh"}, geluTanh},
		{"HardSwish", 14, nil, func(x float64) float64 { return x * max(0, min(1, x/6+0.5)) }},
	} {
		got := runKernel(t, c.op, c.version, c.attrs, 1, in)[0].F32()
		for i, x := range xs {
			want := c.ref(float64(x))
			g := float64(got[i])
			if math.IsInf(x64(x), -1) && (c.op == "Gelu") {
				want = 0 // the limit; the float64 formula gives −Inf·0
			}
			switch {
			case math.IsNaN(want):
				if !math.IsNaN(g) {
					t.Errorf("%s%v(%g) = %g, want NaN", c.op, c.attrs, x, g)
				}
			case math.Abs(want) < 0x1p-126 || math.IsInf(float64(float32(want)), 0):
				if math.Abs(g-float64(float32(want))) > 1e-37 && g != float64(float32(want)) {
					t.Errorf("%s%v(%g) = %g, want %g", c.op, c.attrs, x, g, want)
				}
			default:
				// The tanh-form GELU's argument is rounded in float32 before e^(2z) magnifies it.
				tol := 1e-6 * max(1, math.Abs(x64(x))*math.Abs(x64(x))*math.Abs(x64(x))*0.1)
				allowed := tol * math.Abs(want)
				if c.op == "HardSwish" {
					allowed += 2e-7 * math.Abs(x64(x)) // x/6 + ½ is rounded in float32 and cancels near −3
				}
				if math.Abs(g-want) > allowed {
					t.Errorf("%s%v(%g) = %g, want %g", c.op, c.attrs, x, g, want)
				}
			}
		}
	}
}

func x64(x float32) float64 { return float64(x) }

// TestFloat32ActivationForms checks the float32 forms of LeakyRelu, HardSigmoid and Sqrt
// against their float64 formulas, NaN and signed zeros included.
func TestFloat32ActivationForms(t *testing.T) {
	t.Parallel()
	xs := []float32{-3, -1.5, -0.01, float32(math.Copysign(0, -1)), 0, 0.2, 1, 2.5, 7, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	x := tensor.New([]int{len(xs)}, xs)
	for _, tc := range []struct {
		op   string
		ver  int
		attr kattr
		want func(float64) float64
	}{
		{"LeakyRelu", 16, kattr{"alpha": float32(0.1)}, func(v float64) float64 {
			if v < 0 {
				return float64(float32(0.1)) * v
			}
			return v
		}},
		{"HardSigmoid", 6, kattr{"alpha": float32(0.25), "beta": float32(0.4)}, func(v float64) float64 {
			return max(0, min(1, float64(float32(0.25))*v+float64(float32(0.4))))
		}},
		{"Sqrt", 13, nil, math.Sqrt},
	} {
		f, _ := Lookup(DefaultDomain, tc.op, tc.ver)
		k, err := f(kernelNode(tc.op, tc.ver, tc.attr, 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		outs, err := k.Run(NewContext(1), []*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range outs[0].F32() {
			want := tc.want(float64(xs[i]))
			if math.IsNaN(want) != math.IsNaN(float64(v)) || !math.IsNaN(want) && math.Abs(float64(v)-want) > 1e-6*(1+math.Abs(want)) {
				t.Errorf("%s(%g) = %g, want %g", tc.op, xs[i], v, want)
			}
		}
	}
}
