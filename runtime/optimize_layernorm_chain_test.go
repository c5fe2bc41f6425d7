package runtime

import (
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// TestLayerNormChainFusion builds the LayerNorm decompositions exporters write below opset 17
// and checks that each becomes one kernel that agrees with the unoptimized graph, and that a
// chain whose centred value is read outside it is left alone.
func TestLayerNormChainFusion(t *testing.T) {
	const d = 24
	for _, tc := range []struct {
		name       string
		opset      int
		square     string // "pow" or "mul"
		axesInput  bool
		epsFirst   bool
		gammaFirst bool
		noBeta     bool
		leak       bool // the centred value is also a graph output: no fusion
	}{
		{name: "torchscript", opset: 13, square: "pow"},
		{name: "dynamo_axes_input", opset: 18, square: "pow", axesInput: true},
		{name: "mul_square_swapped", opset: 13, square: "mul", epsFirst: true, gammaFirst: true},
		{name: "no_beta", opset: 13, square: "pow", noBeta: true},
		{name: "centred_escapes", opset: 13, square: "pow", leak: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := graphtest.Seeded(3)
			b := graphtest.New("ln_"+tc.name, tc.opset)
			x := b.Input("x", tensor.Float32, 2, 5, d)
			mean := func(v string) string {
				if tc.axesInput {
					return b.Op("ReduceMean", []string{v, b.ConstI64(-1)})
				}
				return b.Op("ReduceMean", []string{v}, graphtest.A("axes", []int64{-1}))
			}
			centred := b.Op("Sub", []string{x, mean(x)})
			var sq string
			if tc.square == "pow" {
				sq = b.Op("Pow", []string{centred, b.ConstF32(2)})
			} else {
				sq = b.Op("Mul", []string{centred, centred})
			}
			eps := b.ConstF32(1e-5)
			sum := []string{mean(sq), eps}
			if tc.epsFirst {
				sum[0], sum[1] = sum[1], sum[0]
			}
			norm := b.Op("Div", []string{centred, b.Op("Sqrt", []string{b.Op("Add", sum)})})
			gamma := b.Init("gamma", graphtest.RandF32(r, 1, d))
			scaled := []string{norm, gamma}
			if tc.gammaFirst {
				scaled[0], scaled[1] = scaled[1], scaled[0]
			}
			y := b.Op("Mul", scaled)
			if !tc.noBeta {
				y = b.Op("Add", []string{b.Init("beta", graphtest.RandF32(r, 1, d)), y})
			}
			b.Output(y, tensor.Float32, 2, 5, d)
			if tc.leak {
				b.Output(centred, tensor.Float32, 2, 5, d)
			}
			want := map[string]int{"layernorm_fusion": map[bool]int{false: 1, true: 0}[tc.leak]}
			checkOptimized(t, b.Model(), want, map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 3, 2, 5, d)}, 1e-5)
		})
	}
}
