package runtime

import (
	"fmt"
	"math"
	"testing"

	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// TestChannelsLastActivationFusion: an ai.actswap op with per-channel parameters along the last
// axis of a MatMul's output (axis −1, or that axis counted from the front) runs in the MatMul's
// epilogue — after a bias Add or without one, for each family and for the shifted PWLU that
// bias absorption leaves — and computes what the unoptimized session computes, special values
// included. One whose channels lie along another axis stays a node of its own, and a fused one
// whose input arrives with a rank that moves its channel axis runs its steps unfused.
func TestChannelsLastActivationFusion(t *testing.T) {
	wiggly := func(i int) onnxops.Params {
		return acttest.WigglyPWLU(-2-0.1*float64(i%7), 1+0.2*float64(i%5), 12)
	}
	shifted := func(i int) onnxops.Params {
		return acttest.Shifted(acttest.WigglyPWLU(-3, 3, 16), 0.37*float64(i%23)-3)
	}
	zorro := func(i int) onnxops.Params {
		return acttest.Shifted(onnxops.SigmoidZorro(4, 2, 0.5), 0.1*float64(i%9)-0.4)
	}
	crrelu := func(i int) onnxops.Params { return onnxops.CRReLUParams{Epsilon: 0.05*float64(i%11) - 0.2} }
	for _, tc := range []struct {
		name   string
		fam    onnxops.Family
		chans  func(i int) onnxops.Params
		c      int   // channels, the MatMul's columns (1: per-tensor parameters, 40 columns)
		axis   int   // the activation's channel axis
		bias   bool  // an Add of a constant row between the MatMul and the activation
		dims   []any // x as declared
		feed   []int // x as fed
		wantOp string
	}{
		{"pwlu", onnxops.FamilyPWLU, wiggly, 40, -1, false, []any{2, 5, 24}, []int{2, 5, 24}, "MatMul+PWLU"},
		{"pwlu_shifted_bias", onnxops.FamilyPWLU, shifted, 67, 2, true, []any{2, 5, 24}, []int{2, 5, 24}, "MatMul+Add+PWLU"},
		{"zorro", onnxops.FamilyZorro, zorro, 40, -1, false, []any{7, 24}, []int{7, 24}, "MatMul+Zorro"},
		{"crrelu", onnxops.FamilyCRReLU, crrelu, 33, 1, true, []any{7, 24}, []int{7, 24}, "MatMul+Add+CRReLU"},
		{"pwlu_per_tensor", onnxops.FamilyPWLU, wiggly, 1, -1, false, []any{2, 5, 24}, []int{2, 5, 24}, "MatMul+PWLU"},
		{"channels_not_last", onnxops.FamilyPWLU, wiggly, 5, -2, false, []any{2, 5, 24}, []int{2, 5, 24}, "PWLU"},
		{"rank_moves_axis", onnxops.FamilyPWLU, wiggly, 40, 1, false, []any{graphtest.AnyRank}, []int{2, 40, 24}, "MatMul+PWLU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := graphtest.Seeded(31)
			b := graphtest.New("channels_last_"+tc.name, 17).Opset(onnxops.Domain, onnxops.Version)
			x := b.Input("x", tensor.Float32, tc.dims...)
			cols := tc.c
			if cols == 1 {
				cols = 40
			}
			y := b.Op("MatMul", []string{x, b.Init("w", graphtest.RandF32(r, 0.5, 24, cols))})
			if tc.bias {
				y = b.Op("Add", []string{y, b.Init("bias", graphtest.RandF32(r, 1, cols))})
			}
			ps := acttest.ManyChannels(tc.c, tc.chans)
			params, err := onnxops.ParamTensors(tc.fam, ps)
			if err != nil {
				t.Fatal(err)
			}
			in := []string{y}
			for i, p := range params {
				in = append(in, b.Init(fmt.Sprintf("p%d", i), p))
			}
			act := b.Node(onnxops.Domain, string(tc.fam), in, 1, graphtest.A("axis", tc.axis))[0]
			b.Output(act, tensor.Float32, graphtest.AnyRank)
			m := b.Model()
			feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 3, tc.feed...)}
			xs := feeds["x"].F32()
			xs[0], xs[1], xs[2] = float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())
			checkOptimized(t, m, nil, feeds, 1e-5)
			if ops := opTypes(t, m); !ops[tc.wantOp] {
				t.Errorf("no %s node; have %v", tc.wantOp, ops)
			}
		})
	}
}

// opTypes returns the op types of the main graph's nodes in a session of m, fused ones
// included ("MatMul+Add+PWLU").
func opTypes(t *testing.T, m *onnx.ModelProto) map[string]bool {
	t.Helper()
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, n := range s.main.nodes {
		ops[n.opType] = true
	}
	return ops
}
