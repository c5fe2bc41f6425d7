package runtime

import (
	"math"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// TestSiLUFusion checks that x·Sigmoid(x) in either operand order becomes one SiLU node fused
// into the Conv before it (dense and depthwise), or stands alone after a non-GEMM op, that a
// Sigmoid read elsewhere keeps the pair apart, and that every variant computes what the
// unoptimized session computes (infinities and NaN included) and what onnxruntime computes.
func TestSiLUFusion(t *testing.T) {
	for _, tc := range []struct {
		name          string
		depthwise     bool
		sigmoidFirst  bool
		afterConv     bool
		sigmoidEscape bool // the Sigmoid's output is also a graph output: no fusion
		wantFused     int
		wantOp        string
	}{
		{name: "conv", afterConv: true, wantFused: 1, wantOp: "Conv+SiLU"},
		{name: "conv_sigmoid_first", afterConv: true, sigmoidFirst: true, wantFused: 1, wantOp: "Conv+SiLU"},
		{name: "depthwise", afterConv: true, depthwise: true, wantFused: 1, wantOp: "Conv+SiLU"},
		{name: "standalone", wantFused: 1, wantOp: "SiLU"},
		{name: "sigmoid_escapes", afterConv: true, sigmoidEscape: true, wantOp: "Mul"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := graphtest.Seeded(21)
			b := graphtest.New("silu_"+tc.name, 17)
			x := b.Input("x", tensor.Float32, 1, 4, 7, 6)
			out := 4
			y := b.Op("Neg", []string{x})
			if tc.afterConv {
				perGroup, group := 4, 1
				if tc.depthwise {
					perGroup, group = 1, 4
				} else {
					out = 6
				}
				w := b.Init("w", graphtest.RandF32(r, 1, out, perGroup, 3, 3))
				y = b.Op("Conv", []string{x, w, b.Init("b", graphtest.RandF32(r, 1, out))},
					graphtest.A("pads", []int64{1, 1, 1, 1}), graphtest.A("group", group))
			}
			sig := b.Op("Sigmoid", []string{y})
			operands := []string{y, sig}
			if tc.sigmoidFirst {
				operands = []string{sig, y}
			}
			b.Output(b.Op("Mul", operands), tensor.Float32, 1, out, 7, 6)
			if tc.sigmoidEscape {
				b.Output(sig, tensor.Float32, 1, out, 7, 6)
			}
			m := b.Model()
			feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 4, 1, 4, 7, 6)}
			graphtest.AgreeWithORT(t, m, "silu_"+tc.name, feeds, runOptimized, graphtest.RTol, graphtest.ATol)
			xs := feeds["x"].F32()
			xs[0], xs[1], xs[2] = float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())
			checkOptimized(t, m, map[string]int{"silu_fusion": tc.wantFused}, feeds, 1e-5)
			if ops := opTypes(t, m); !ops[tc.wantOp] {
				t.Errorf("no %s node; have %v", tc.wantOp, ops)
			}
		})
	}
}
