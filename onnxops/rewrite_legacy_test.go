package onnxops_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// oldExport is an exporter-shaped model at an old default opset and IR version: a Conv → Relu,
// Flatten, MatMul → Add → erf-GELU chain (x·0.5·(1 + erf(x/√2))), MatMul.
func oldExport(opset, ir int) *onnx.ModelProto {
	rng := graphtest.Seeded(uint64(opset))
	b := graphtest.New("old_export", opset).IR(ir)
	x := b.Input("X", tensor.Float32, "batch", 3, 6, 6)
	w := b.Init("conv_w", graphtest.RandF32(rng, 0.5, 4, 3, 3, 3))
	bias := b.Init("conv_b", graphtest.RandF32(rng, 0.5, 4))
	h := b.Op("Conv", []string{x, w, bias}, graphtest.A("kernel_shape", []int64{3, 3}), graphtest.A("pads", []int64{1, 1, 1, 1}))
	h = b.Op("Relu", []string{h})
	h = b.Op("Flatten", []string{h}, graphtest.A("axis", 1))
	h = b.Op("MatMul", []string{h, b.Init("fc1_w", graphtest.RandF32(rng, 0.2, 144, 20))})
	h = b.Op("Add", []string{h, b.Init("fc1_b", graphtest.RandF32(rng, 0.5, 20))})
	e := b.Op("Div", []string{h, b.ConstF32(float32(math.Sqrt2))})
	e = b.Op("Erf", []string{e})
	e = b.Op("Add", []string{e, b.ConstF32(1)})
	g := b.Op("Mul", []string{h, e})
	g = b.Op("Mul", []string{g, b.ConstF32(0.5)})
	y := b.Op("MatMul", []string{g, b.Init("fc2_w", graphtest.RandF32(rng, 0.3, 20, 7))})
	b.Output(y, tensor.Float32, "batch", 7)
	return b.Model()
}

// TestRewriteOldOpsetAgainstORT rewrites models exported at default opsets 9 and 11 (IR 4 and
// 6) and runs them in actswap (fused kernels) and onnxruntime (the attached legacy function
// bodies): both must agree.
func TestRewriteOldOpsetAgainstORT(t *testing.T) {
	t.Parallel()
	run := func(m *onnx.ModelProto, feeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
		s, err := runtime.NewSession(m)
		if err != nil {
			return nil, err
		}
		return s.Run(feeds)
	}
	rng := graphtest.Seeded(31)
	x := graphtest.RandF32(rng, 2, 3, 3, 6, 6)
	for _, v := range []struct{ opset, ir int }{{11, 6}, {9, 4}} {
		for _, fam := range onnxops.Families {
			name := fmt.Sprintf("opset%d_%s", v.opset, fam)
			out, rep, err := rewrite.Apply(oldExport(v.opset, v.ir), rewrite.Options{To: fam})
			if err != nil {
				t.Fatalf("%s: rewrite: %v", name, err)
			}
			if len(rep.Replaced) != 2 {
				t.Fatalf("%s: replaced %d sites, want the Relu and the GELU", name, len(rep.Replaced))
			}
			if ir := out.GetIrVersion(); ir < onnxops.MinIRVersion {
				t.Errorf("%s: ir_version %d, the function's attribute defaults need %d", name, ir, onnxops.MinIRVersion)
			}
			for _, f := range out.GetFunctions() {
				if got := f.GetOpsetImport()[0].GetVersion(); got != int64(v.opset) {
					t.Errorf("%s: function %s imports opset %d", name, f.GetName(), got)
				}
			}
			graphtest.AgreeWithORT(t, out, name, map[string]*tensor.Tensor{"X": x}, run, graphtest.RTol, graphtest.ATol)
		}
	}
}
