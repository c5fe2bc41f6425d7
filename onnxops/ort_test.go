package onnxops_test

import (
	"fmt"
	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/onnxops"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// ortShapes are the input shapes and channel axes tried for a case: ranks 2 and 4 (and 1 for
// per-tensor parameters), the channel count placed at the axis.
func ortShapes(c int) []struct {
	shape []int
	axis  int
} {
	if c == 1 {
		return []struct {
			shape []int
			axis  int
		}{{[]int{9, 57}, 1}, {[]int{2, 3, 5, 17}, 1}, {[]int{70}, 1}, {[]int{}, 1}}
	}
	return []struct {
		shape []int
		axis  int
	}{{[]int{43, c}, -1}, {[]int{2, c, 5, 17}, 1}, {[]int{2, 5, c, 3}, -2}}
}

// TestFunctionsAgainstORT runs each operator's function body in onnxruntime and compares it with
// actswap's kernel (through a runtime session) on the same inputs, NaN and ±Inf included.
func TestFunctionsAgainstORT(t *testing.T) {
	t.Parallel()
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, "onnxruntime not available, skipping differential test: "+why)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range acttest.KernelCases() {
		_, ps := acttest.Float32Params(t, c)
		for _, sh := range ortShapes(len(ps)) {
			label := fmt.Sprintf("%s %v axis=%d", c.Name, sh.shape, sh.axis)
			m, err := onnxops.SingleNodeModel(c.Fam, ps, tensor.Float32, sh.shape, sh.axis)
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			xs := acttest.Inputs(tensor.NumElements(sh.shape), rng)
			x := tensor.New(sh.shape, xs)
			got, err := ortref.Run(acttest.SaveModel(t, m), map[string]*tensor.Tensor{"X": x})
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			y := got["Y"]
			if y == nil || !tensor.SameShape(y.Shape, sh.shape) || y.DType != tensor.Float32 {
				t.Fatalf("%s: onnxruntime returned %v", label, y)
			}
			sess, err := runtime.NewSession(m, runtime.WithThreads(1))
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			ours, err := sess.Run(map[string]*tensor.Tensor{"X": x})
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			bad := 0
			for i, v := range ours["Y"].F32() {
				if w := y.F32()[i]; !acttest.Near(float64(v), float64(w), 1e-5) {
					if bad++; bad <= 5 {
						t.Errorf("%s: x=%v: actswap %v, onnxruntime %v", label, xs[i], v, w)
					}
				}
			}
			// The function body itself must also meet the float64 reference.
			acttest.CheckAgainstReference(t, label+" (onnxruntime vs reference)", ps, sh.shape, sh.axis, xs, y.F32())
		}
	}
}

// TestFunctionTypesAndOpsets runs the function bodies on float64 and float16 inputs and inside
// models whose default-domain opset is 13 (the function keeps opset 17) or 21 (the function
// follows it), against the float64 reference.
func TestFunctionTypesAndOpsets(t *testing.T) {
	t.Parallel()
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, "onnxruntime not available, skipping differential test: "+why)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	cases := []acttest.KernelCase{
		{Name: "crrelu", Fam: onnxops.FamilyCRReLU, Chans: []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.25}}, Gate: false},
		{Name: "pwlu", Fam: onnxops.FamilyPWLU, Chans: []onnxops.Params{acttest.WigglyPWLU(-2, 3, 12), acttest.ReluPWLU(-1, 1, 12)}, Gate: false},
		{Name: "zorro gate", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{acttest.Gated(onnxops.SigmoidZorro(4, 30, 0.5))}, Gate: true},
	}
	for _, c := range cases {
		_, ps := acttest.Float32Params(t, c)
		shape := []int{3, len(ps), 31}
		xs := acttest.Inputs(tensor.NumElements(shape), rng)
		for _, v := range []struct {
			dt    tensor.DType
			opset int64
			tol   float64
		}{{tensor.Float64, 17, 1e-9}, {tensor.Float16, 17, 4e-3}, {tensor.Float32, 13, 1e-5}, {tensor.Float32, 21, 1e-5}} {
			label := fmt.Sprintf("%s %v opset %d", c.Name, v.dt, v.opset)
			m, err := onnxops.SingleNodeModel(c.Fam, ps, v.dt, shape, 1)
			if err != nil {
				t.Fatal(err)
			}
			if v.opset != onnxops.FunctionOpset {
				m.OpsetImport[0].Version = proto.Int64(v.opset)
				m.Functions = nil
				if err := onnxops.AttachFunctions(m, c.Fam); err != nil {
					t.Fatal(err)
				}
			}
			x := tensor.Zeros(v.dt, shape)
			want := make([]float64, len(xs))
			for i, xv := range xs {
				ch := i / shape[2] % len(ps)
				switch d := x.Data.(type) {
				case []float64:
					d[i] = float64(xv)
					want[i] = ps[ch].Eval(d[i])
				case []tensor.Float16Bits:
					d[i] = tensor.Float16FromFloat32(xv)
					want[i] = ps[ch].Eval(float64(d[i].Float32()))
				case []float32:
					d[i] = xv
					want[i] = ps[ch].Eval(float64(xv))
				}
			}
			got, err := ortref.Run(acttest.SaveModel(t, m), map[string]*tensor.Tensor{"X": x})
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			y := got["Y"]
			if y == nil || y.DType != v.dt {
				t.Fatalf("%s: onnxruntime returned %v", label, y)
			}
			vals, _ := tensor.Float64s(y)
			bad := 0
			for i := range vals {
				if !acttest.Near(vals[i], want[i], v.tol) && !(v.dt == tensor.Float16 && acttest.Near(vals[i], float64(tensor.Float16FromFloat32(float32(want[i])).Float32()), v.tol)) {
					if bad++; bad <= 3 {
						t.Errorf("%s: x=%v: onnxruntime %v, reference %v", label, xs[i], vals[i], want[i])
					}
				}
			}
		}
	}
}
