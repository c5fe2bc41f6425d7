package runtime

import (
	"maps"
	"math"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
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
				checkOptimized(t, m, map[string]int{"activation_fusion": 1}, feeds, 0)
				special := maps.Clone(feeds)
				special["x"] = feeds["x"].Clone()
				xs := special["x"].F32()
				xs[5], xs[40], xs[100] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
				checkOptimized(t, m, map[string]int{"activation_fusion": 1}, special, 0)
				checkProfiledOps(t, m, feeds, []string{"Conv+" + m.Graph.Node[len(m.Graph.Node)-1].GetOpType()})
				graphtest.AgreeWithORT(t, m, "conv_"+name, feeds, runOptimized, graphtest.RTol, graphtest.ATol)
			})
		}
	}
}
