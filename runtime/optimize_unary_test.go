package runtime

import (
	"maps"
	"math"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// TestConvUnaryActivationFusion checks that HardSwish, HardSigmoid (default and exported
// alpha/beta) and LeakyRelu after a Conv run in its epilogue, on plain and depthwise
// convolutions, and compute bit for bit what the unoptimized session computes (the same float32
// kernel, applied in place), NaN and infinities included, and what onnxruntime computes.
func TestConvUnaryActivationFusion(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(b *graphtest.Builder, c string) string
	}{
		{"hardswish", func(b *graphtest.Builder, c string) string { return b.Op("HardSwish", []string{c}) }},
		{"hardsigmoid", func(b *graphtest.Builder, c string) string { return b.Op("HardSigmoid", []string{c}) }},
		{"hardsigmoid_torch", func(b *graphtest.Builder, c string) string {
			return b.Op("HardSigmoid", []string{c}, graphtest.A("alpha", float32(1.0/6)), graphtest.A("beta", float32(0.5)))
		}},
		{"leakyrelu", func(b *graphtest.Builder, c string) string {
			return b.Op("LeakyRelu", []string{c}, graphtest.A("alpha", float32(0.1)))
		}},
	} {
		for _, depthwise := range []bool{false, true} {
			name := tc.name
			if depthwise {
				name += "_depthwise"
			}
			t.Run(name, func(t *testing.T) {
				m := clipAfterConv(17, depthwise, tc.act).Model()
				feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(12), 3, 1, 4, 7, 6)}
				checkFusedActivation(t, m, feeds, 0)
				checkProfiledOps(t, m, feeds, []string{"Conv+" + m.Graph.Node[len(m.Graph.Node)-1].GetOpType()})
				graphtest.AgreeWithORT(t, m, "conv_"+name, feeds, runOptimized, graphtest.RTol, graphtest.ATol)
			})
		}
	}
}

// TestConvBiasedActivationFusion: a 1×1 Conv followed by HardSwish, Relu or SiLU as x·Sigmoid(x)
// takes the activation's biased form (bias and activation in one pass over each output row),
// LeakyRelu, which has none, does not; each computes what the unoptimized session computes, NaN
// and infinities included, and what onnxruntime computes: bit for bit, but for SiLU, whose fused
// kernel divides x or x·e by 1+e (vecmath.SiLU) where the unfused nodes multiply x by Sigmoid's
// rounded 1/(1+e) or e/(1+e), within the two forms' error bounds (4e-7 relative each).
func TestConvBiasedActivationFusion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		act    func(b *graphtest.Builder, c string) string
		biased bool
		tol    float64
	}{
		{"hardswish", func(b *graphtest.Builder, c string) string { return b.Op("HardSwish", []string{c}) }, true, 0},
		{"silu", func(b *graphtest.Builder, c string) string {
			return b.Op("Mul", []string{c, b.Op("Sigmoid", []string{c})})
		}, true, 8e-7},
		{"relu", func(b *graphtest.Builder, c string) string { return b.Op("Relu", []string{c}) }, true, 0},
		{"leakyrelu", func(b *graphtest.Builder, c string) string {
			return b.Op("LeakyRelu", []string{c}, graphtest.A("alpha", float32(0.1)))
		}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := graphtest.Seeded(13)
			b := graphtest.New("conv_biased_act", 17)
			x := b.Input("x", tensor.Float32, 2, 8, 9, 10)
			w := b.Init("w", graphtest.RandF32(r, 1, 24, 8, 1, 1))
			bias := b.Init("b", graphtest.RandF32(r, 1, 24))
			b.Output(tc.act(b, b.Op("Conv", []string{x, w, bias})), tensor.Float32, 2, 24, 9, 10)
			m := b.Model()
			s, err := NewSession(m)
			if err != nil {
				t.Fatal(err)
			}
			fused := 0
			for _, n := range s.main.nodes {
				if c, ok := n.kernel.(interface{ FusesBiasedActivation() bool }); ok {
					fused++
					if c.FusesBiasedActivation() != tc.biased {
						t.Errorf("%s takes the biased activation %v, want %v", n.opType, c.FusesBiasedActivation(), tc.biased)
					}
				}
			}
			if fused != 1 {
				t.Fatalf("%d Conv kernels, want 1", fused)
			}
			feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(14), 3, 2, 8, 9, 10)}
			checkFusedActivation(t, m, feeds, tc.tol)
			graphtest.AgreeWithORT(t, m, "conv_biased_"+tc.name, feeds, runOptimized, graphtest.RTol, graphtest.ATol)
		})
	}
}

// checkFusedActivation checks that m, whose one activation the fusion pass moves into the Conv
// before it, computes what the unoptimized session computes on feeds and on feeds with a NaN and
// both infinities in x: within tol relative and absolute, bit for bit where tol is 0.
func checkFusedActivation(t *testing.T, m *onnx.ModelProto, feeds map[string]*tensor.Tensor, tol float64) {
	t.Helper()
	checkOptimized(t, m, map[string]int{"activation_fusion": 1}, feeds, tol)
	special := maps.Clone(feeds)
	special["x"] = feeds["x"].Clone()
	xs := special["x"].F32()
	xs[5], xs[40], xs[100] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
	checkOptimized(t, m, map[string]int{"activation_fusion": 1}, special, tol)
}
