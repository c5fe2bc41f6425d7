package onnxops

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

func saveModel(t *testing.T, m *onnx.ModelProto) string {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

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
// actswap's kernel (through the registry) on the same inputs, NaN and ±Inf included.
func TestFunctionsAgainstORT(t *testing.T) {
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, "onnxruntime not available, skipping differential test: "+why)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range kernelCases() {
		params, ps := float32Params(t, c)
		for _, sh := range ortShapes(len(ps)) {
			label := fmt.Sprintf("%s %v axis=%d", c.name, sh.shape, sh.axis)
			m, err := SingleNodeModel(c.fam, ps, tensor.Float32, sh.shape, sh.axis)
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			xs := testInputs(tensor.NumElements(sh.shape), rng)
			x := tensor.New(sh.shape, xs)
			got, err := ortref.Run(saveModel(t, m), map[string]*tensor.Tensor{"X": x})
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			y := got["Y"]
			if y == nil || !tensor.SameShape(y.Shape, sh.shape) || y.DType != tensor.Float32 {
				t.Fatalf("%s: onnxruntime returned %v", label, y)
			}
			k := newKernelNode(t, c, params, sh.axis)
			ours, err := k.Run(ops.NewContext(1), []*tensor.Tensor{x})
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			bad := 0
			for i, v := range ours[0].F32() {
				if w := y.F32()[i]; !near(float64(v), float64(w), 1e-5) {
					if bad++; bad <= 5 {
						t.Errorf("%s: x=%v: actswap %v, onnxruntime %v", label, xs[i], v, w)
					}
				}
			}
			// The function body itself must also meet the float64 reference.
			checkAgainstReference(t, label+" (onnxruntime vs reference)", ps, sh.shape, sh.axis, xs, y.F32())
		}
	}
}

// TestFunctionTypesAndOpsets runs the function bodies on float64 and float16 inputs and inside
// models whose default-domain opset is 13 (the function keeps opset 17) or 21 (the function
// follows it), against the float64 reference.
func TestFunctionTypesAndOpsets(t *testing.T) {
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, "onnxruntime not available, skipping differential test: "+why)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	cases := []kernelCase{
		{"crrelu", FamilyCRReLU, []Params{CRReLUParams{0.25}}, false},
		{"pwlu", FamilyPWLU, []Params{wigglyPWLU(-2, 3, 12), reluPWLU(-1, 1, 12)}, false},
		{"zorro gate", FamilyZorro, []Params{gated(SigmoidZorro(4, 30, 0.5))}, true},
	}
	for _, c := range cases {
		_, ps := float32Params(t, c)
		shape := []int{3, len(ps), 31}
		xs := testInputs(tensor.NumElements(shape), rng)
		for _, v := range []struct {
			dt    tensor.DType
			opset int64
			tol   float64
		}{{tensor.Float64, 17, 1e-9}, {tensor.Float16, 17, 4e-3}, {tensor.Float32, 13, 1e-5}, {tensor.Float32, 21, 1e-5}} {
			label := fmt.Sprintf("%s %v opset %d", c.name, v.dt, v.opset)
			m, err := SingleNodeModel(c.fam, ps, v.dt, shape, 1)
			if err != nil {
				t.Fatal(err)
			}
			if v.opset != FunctionOpset {
				m.OpsetImport[0].Version = proto.Int64(v.opset)
				m.Functions = nil
				if err := AttachFunctions(m, c.fam); err != nil {
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
			got, err := ortref.Run(saveModel(t, m), map[string]*tensor.Tensor{"X": x})
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			y := got["Y"]
			if y == nil || y.DType != v.dt {
				t.Fatalf("%s: onnxruntime returned %v", label, y)
			}
			vals, _ := float64s(y)
			bad := 0
			for i := range vals {
				if !near(vals[i], want[i], v.tol) && !(v.dt == tensor.Float16 && near(vals[i], float64(tensor.Float16FromFloat32(float32(want[i])).Float32()), v.tol)) {
					if bad++; bad <= 3 {
						t.Errorf("%s: x=%v: onnxruntime %v, reference %v", label, xs[i], vals[i], want[i])
					}
				}
			}
		}
	}
}
