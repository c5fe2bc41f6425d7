package onnxops_test

import (
	"fmt"
	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/onnxops"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// atOpset re-attaches fam's function to m as onnxops.AttachFunctions does for a model whose default
// domain is at opset, with m's ir_version as an old exporter would have left it.
func atOpset(t *testing.T, m *onnx.ModelProto, fam onnxops.Family, opset, ir int64) {
	t.Helper()
	m.OpsetImport[0].Version = proto.Int64(opset)
	m.Functions = nil
	m.IrVersion = proto.Int64(ir)
	if err := onnxops.AttachFunctions(m, fam); err != nil {
		t.Fatalf("opset %d: %v", opset, err)
	}
	if got := m.Functions[0].OpsetImport[0].GetVersion(); got != opset {
		t.Fatalf("opset %d: function imports opset %d", opset, got)
	}
	if m.GetIrVersion() < onnxops.MinIRVersion {
		t.Fatalf("opset %d: ir_version %d left below %d", opset, m.GetIrVersion(), onnxops.MinIRVersion)
	}
}

// TestLegacyFunctionsAgainstORT runs the opset 9–12 bodies in onnxruntime, at each opset, for
// every family per tensor and per channel, on rank-2 and rank-4 inputs (channel axis positive
// and negative), NaN, ±Inf and Zorro with a·b > 90 included, against the float64 reference.
func TestLegacyFunctionsAgainstORT(t *testing.T) {
	t.Parallel()
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, "onnxruntime not available, skipping differential test: "+why)
	}
	bumpy := onnxops.PWLUParams{BL: -1.7, BR: 2.3, Heights: []float64{0.3, -0.2, 0.1, 0.9, 1.7, 2.0}, KL: -0.05, KR: 1.1}
	asym := onnxops.ZorroParams{AN: 0.7, BN: -1.5, AP: 2.2, BP: 0.9, InScale: 1.3, InShift: 0.1, OutScale: 0.8, OutShift: 0.05}
	cases := []acttest.KernelCase{
		{Name: "crrelu", Fam: onnxops.FamilyCRReLU, Chans: []onnxops.Params{onnxops.CRReLUParams{Epsilon: -1.5}}, Gate: false},
		{Name: "crrelu per-channel", Fam: onnxops.FamilyCRReLU, Chans: []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.01}, onnxops.CRReLUParams{Epsilon: -0.2}, onnxops.CRReLUParams{Epsilon: 0.5}}, Gate: false},
		{Name: "pwlu", Fam: onnxops.FamilyPWLU, Chans: []onnxops.Params{bumpy}, Gate: false},
		{Name: "pwlu per-channel", Fam: onnxops.FamilyPWLU, Chans: []onnxops.Params{acttest.ReluPWLU(-2, 2, 4), acttest.WigglyPWLU(-0.5, 3, 4), acttest.Flat4()}, Gate: false},
		{Name: "zorro a·b=100", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{onnxops.SymmetricZorro(4, 25)}, Gate: false},
		{Name: "zorro gate", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{acttest.Gated(onnxops.SigmoidZorro(2.8, 14.3, 0.685))}, Gate: true},
		{Name: "zorro per-channel a·b=120", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{onnxops.TanhZorro(4, 2, 1), onnxops.SigmoidZorro(4, 30, 0.5), asym}, Gate: false},
		{Name: "zorro per-channel gate", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{acttest.Gated(onnxops.SymmetricZorro(1.2, 1)), acttest.Gated(onnxops.SigmoidZorro(4, 30, 0.5)), acttest.Gated(asym)}, Gate: true},
	}
	for _, opset := range []int64{9, 10, 11, 12} {
		t.Run(fmt.Sprintf("opset%d", opset), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(21, uint64(opset)))
			for _, c := range cases {
				_, ps := acttest.Float32Params(t, c)
				n := len(ps)
				for _, sh := range []struct {
					shape []int
					axis  int
				}{{[]int{37, n}, 1}, {[]int{2, n, 5, 7}, 1}, {[]int{3, 4, n, 5}, -2}, {[]int{11, n}, -1}} {
					if n == 1 && sh.axis != 1 {
						continue // per tensor the axis does not matter
					}
					label := fmt.Sprintf("opset %d %s %v axis=%d", opset, c.Name, sh.shape, sh.axis)
					m, err := onnxops.SingleNodeModel(c.Fam, ps, tensor.Float32, sh.shape, sh.axis)
					if err != nil {
						t.Fatalf("%s: %v", label, err)
					}
					atOpset(t, m, c.Fam, opset, 4)
					xs := acttest.Inputs(tensor.NumElements(sh.shape), rng)
					got, err := ortref.Run(acttest.SaveModel(t, m), map[string]*tensor.Tensor{"X": tensor.New(sh.shape, xs)})
					if err != nil {
						t.Fatalf("%s: %v", label, err)
					}
					y := got["Y"]
					if y == nil || !tensor.SameShape(y.Shape, sh.shape) || y.DType != tensor.Float32 {
						t.Fatalf("%s: onnxruntime returned %v", label, y)
					}
					acttest.CheckAgainstReference(t, label, ps, sh.shape, sh.axis, xs, y.F32())
				}
			}
		})
	}
}

// TestLegacyFunctionEdges covers what the legacy body reads differently from the opset ≥ 13
// one: per-tensor parameters on rank 0 and 1 inputs with the default axis 1 (beyond the rank),
// float64 inputs, a node that leaves axis and gate to the function's defaults, and the refusal
// below opset 9.
func TestLegacyFunctionEdges(t *testing.T) {
	t.Parallel()
	if _, err := onnxops.FunctionTyped(onnxops.FamilyPWLU, 8, tensor.Float32); err == nil || !strings.Contains(err.Error(), "opset 8") {
		t.Errorf("opset 8: %v, want an error naming the opset", err)
	}
	old := &onnx.ModelProto{OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(7)}}, Graph: &onnx.GraphProto{}}
	if err := onnxops.AttachFunctions(old, onnxops.FamilyCRReLU); err == nil {
		t.Error("AttachFunctions at opset 7: no error")
	}
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, "onnxruntime not available, skipping differential test: "+why)
	}
	rng := rand.New(rand.NewPCG(23, 24))
	zorro := acttest.KernelCase{Name: "zorro gate", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{acttest.Gated(onnxops.SigmoidZorro(4, 2, 0.5))}, Gate: true}
	pwlu := acttest.KernelCase{Name: "pwlu per-channel", Fam: onnxops.FamilyPWLU, Chans: []onnxops.Params{acttest.ReluPWLU(-2, 2, 4), acttest.WigglyPWLU(-1, 3, 4)}, Gate: false}
	crrelu := acttest.KernelCase{Name: "crrelu per-channel", Fam: onnxops.FamilyCRReLU, Chans: []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.3}, onnxops.CRReLUParams{Epsilon: -0.7}}, Gate: false}
	for _, v := range []struct {
		c        acttest.KernelCase
		dt       tensor.DType
		shape    []int
		axis     int
		defaults bool // strip the node's attributes: axis 1 and gate 0 come from the function
	}{
		{zorro, tensor.Float32, []int{}, 1, false},
		{zorro, tensor.Float32, []int{50}, 1, false},
		{zorro, tensor.Float64, []int{4, 13}, 1, false},
		{pwlu, tensor.Float64, []int{3, 2, 9}, 1, false},
		{pwlu, tensor.Float32, []int{3, 2, 9}, 1, true},
		{crrelu, tensor.Float32, []int{2, 2, 3, 4, 5}, -4, false},
		{crrelu, tensor.Float32, []int{2, 3, 4, 5, 2}, 4, false},
	} {
		_, ps := acttest.Float32Params(t, v.c)
		if v.defaults && v.c.Fam == onnxops.FamilyZorro {
			t.Fatal("test table: a Zorro node without attributes is ungated")
		}
		for _, opset := range []int64{9, 11} {
			label := fmt.Sprintf("opset %d %s %v %v axis=%d defaults=%v", opset, v.c.Name, v.dt, v.shape, v.axis, v.defaults)
			m, err := onnxops.SingleNodeModel(v.c.Fam, ps, v.dt, v.shape, v.axis)
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			if v.defaults {
				m.Graph.Node[0].Attribute = nil
			}
			atOpset(t, m, v.c.Fam, opset, 7)
			xs := acttest.Inputs(tensor.NumElements(v.shape), rng)
			x := tensor.Zeros(v.dt, v.shape)
			for i, xv := range xs {
				switch d := x.Data.(type) {
				case []float32:
					d[i] = xv
				case []float64:
					d[i] = float64(xv)
				}
			}
			got, err := ortref.Run(acttest.SaveModel(t, m), map[string]*tensor.Tensor{"X": x})
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			y := got["Y"]
			if y == nil || !tensor.SameShape(y.Shape, v.shape) || y.DType != v.dt {
				t.Fatalf("%s: onnxruntime returned %v", label, y)
			}
			ys, _ := tensor.Float64s(y)
			f32 := make([]float32, len(ys))
			for i := range ys {
				f32[i] = float32(ys[i])
			}
			acttest.CheckAgainstReference(t, label, ps, v.shape, v.axis, xs, f32)
		}
	}
}
