package onnxops

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// atOpset re-attaches fam's function to m as AttachFunctions does for a model whose default
// domain is at opset, with m's ir_version as an old exporter would have left it.
func atOpset(t *testing.T, m *onnx.ModelProto, fam Family, opset, ir int64) {
	t.Helper()
	m.OpsetImport[0].Version = proto.Int64(opset)
	m.Functions = nil
	m.IrVersion = proto.Int64(ir)
	if err := AttachFunctions(m, fam); err != nil {
		t.Fatalf("opset %d: %v", opset, err)
	}
	if got := m.Functions[0].OpsetImport[0].GetVersion(); got != opset {
		t.Fatalf("opset %d: function imports opset %d", opset, got)
	}
	if m.GetIrVersion() < MinIRVersion {
		t.Fatalf("opset %d: ir_version %d left below %d", opset, m.GetIrVersion(), MinIRVersion)
	}
}

// TestLegacyFunctionsAgainstORT runs the opset 9–12 bodies in onnxruntime, at each opset, for
// every family per tensor and per channel, on rank-2 and rank-4 inputs (channel axis positive
// and negative), NaN, ±Inf and Zorro with a·b > 90 included, against the float64 reference.
func TestLegacyFunctionsAgainstORT(t *testing.T) {
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, "onnxruntime not available, skipping differential test: "+why)
	}
	bumpy := PWLUParams{BL: -1.7, BR: 2.3, Heights: []float64{0.3, -0.2, 0.1, 0.9, 1.7, 2.0}, KL: -0.05, KR: 1.1}
	asym := ZorroParams{AN: 0.7, BN: -1.5, AP: 2.2, BP: 0.9, InScale: 1.3, InShift: 0.1, OutScale: 0.8, OutShift: 0.05}
	cases := []kernelCase{
		{"crrelu", FamilyCRReLU, []Params{CRReLUParams{-1.5}}, false},
		{"crrelu per-channel", FamilyCRReLU, []Params{CRReLUParams{0.01}, CRReLUParams{-0.2}, CRReLUParams{0.5}}, false},
		{"pwlu", FamilyPWLU, []Params{bumpy}, false},
		{"pwlu per-channel", FamilyPWLU, []Params{reluPWLU(-2, 2, 4), wigglyPWLU(-0.5, 3, 4), flat4()}, false},
		{"zorro a·b=100", FamilyZorro, []Params{SymmetricZorro(4, 25)}, false},
		{"zorro gate", FamilyZorro, []Params{gated(SigmoidZorro(2.8, 14.3, 0.685))}, true},
		{"zorro per-channel a·b=120", FamilyZorro, []Params{TanhZorro(4, 2, 1), SigmoidZorro(4, 30, 0.5), asym}, false},
		{"zorro per-channel gate", FamilyZorro, []Params{gated(SymmetricZorro(1.2, 1)), gated(SigmoidZorro(4, 30, 0.5)), gated(asym)}, true},
	}
	for _, opset := range []int64{9, 10, 11, 12} {
		t.Run(fmt.Sprintf("opset%d", opset), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(21, uint64(opset)))
			for _, c := range cases {
				_, ps := float32Params(t, c)
				n := len(ps)
				for _, sh := range []struct {
					shape []int
					axis  int
				}{{[]int{37, n}, 1}, {[]int{2, n, 5, 7}, 1}, {[]int{3, 4, n, 5}, -2}, {[]int{11, n}, -1}} {
					if n == 1 && sh.axis != 1 {
						continue // per tensor the axis does not matter
					}
					label := fmt.Sprintf("opset %d %s %v axis=%d", opset, c.name, sh.shape, sh.axis)
					m, err := SingleNodeModel(c.fam, ps, tensor.Float32, sh.shape, sh.axis)
					if err != nil {
						t.Fatalf("%s: %v", label, err)
					}
					atOpset(t, m, c.fam, opset, 4)
					xs := testInputs(tensor.NumElements(sh.shape), rng)
					got, err := ortref.Run(saveModel(t, m), map[string]*tensor.Tensor{"X": tensor.New(sh.shape, xs)})
					if err != nil {
						t.Fatalf("%s: %v", label, err)
					}
					y := got["Y"]
					if y == nil || !tensor.SameShape(y.Shape, sh.shape) || y.DType != tensor.Float32 {
						t.Fatalf("%s: onnxruntime returned %v", label, y)
					}
					checkAgainstReference(t, label, ps, sh.shape, sh.axis, xs, y.F32())
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
	if _, err := FunctionTyped(FamilyPWLU, 8, tensor.Float32); err == nil || !strings.Contains(err.Error(), "opset 8") {
		t.Errorf("opset 8: %v, want an error naming the opset", err)
	}
	old := &onnx.ModelProto{OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(7)}}, Graph: &onnx.GraphProto{}}
	if err := AttachFunctions(old, FamilyCRReLU); err == nil {
		t.Error("AttachFunctions at opset 7: no error")
	}
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, "onnxruntime not available, skipping differential test: "+why)
	}
	rng := rand.New(rand.NewPCG(23, 24))
	zorro := kernelCase{"zorro gate", FamilyZorro, []Params{gated(SigmoidZorro(4, 2, 0.5))}, true}
	pwlu := kernelCase{"pwlu per-channel", FamilyPWLU, []Params{reluPWLU(-2, 2, 4), wigglyPWLU(-1, 3, 4)}, false}
	crrelu := kernelCase{"crrelu per-channel", FamilyCRReLU, []Params{CRReLUParams{0.3}, CRReLUParams{-0.7}}, false}
	for _, v := range []struct {
		c        kernelCase
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
		_, ps := float32Params(t, v.c)
		if v.defaults && v.c.fam == FamilyZorro {
			t.Fatal("test table: a Zorro node without attributes is ungated")
		}
		for _, opset := range []int64{9, 11} {
			label := fmt.Sprintf("opset %d %s %v %v axis=%d defaults=%v", opset, v.c.name, v.dt, v.shape, v.axis, v.defaults)
			m, err := SingleNodeModel(v.c.fam, ps, v.dt, v.shape, v.axis)
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			if v.defaults {
				m.Graph.Node[0].Attribute = nil
			}
			atOpset(t, m, v.c.fam, opset, 7)
			xs := testInputs(tensor.NumElements(v.shape), rng)
			x := tensor.Zeros(v.dt, v.shape)
			for i, xv := range xs {
				switch d := x.Data.(type) {
				case []float32:
					d[i] = xv
				case []float64:
					d[i] = float64(xv)
				}
			}
			got, err := ortref.Run(saveModel(t, m), map[string]*tensor.Tensor{"X": x})
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			y := got["Y"]
			if y == nil || !tensor.SameShape(y.Shape, v.shape) || y.DType != v.dt {
				t.Fatalf("%s: onnxruntime returned %v", label, y)
			}
			ys, _ := float64s(y)
			f32 := make([]float32, len(ys))
			for i := range ys {
				f32[i] = float32(ys[i])
			}
			checkAgainstReference(t, label, ps, v.shape, v.axis, xs, f32)
		}
	}
}
