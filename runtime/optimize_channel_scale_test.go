package runtime

import (
	"fmt"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// TestConvChannelScaleFusion: a squeeze-and-excitation gate, Mul(x, Sigmoid(GlobalAveragePool(x)))
// read by a 1×1 Conv (with a bias, a fused residual, either operand order, two images), is folded
// into the Conv and computes what the unoptimized graph does; a Mul that turns out at run time not
// to scale channels runs unfused, and none is fused where its product is read elsewhere or the
// Conv is not 1×1.
func TestConvChannelScaleFusion(t *testing.T) {
	pads := &onnx.AttributeProto{Name: proto.String("pads"), Ints: []int64{1, 1, 1, 1}, Type: onnx.AttributeProto_INTS.Enum()}
	// build is x → [gate] → Mul → Conv(W of kernel k) [→ Add(r)]; the Mul's other operand is the
	// gate of x, or a second input of shape other.
	build := func(gateFirst, residual, alsoRead bool, k int, other []int) *onnx.ModelProto {
		g := newOptGraph("x", 2, 16, 8, 8)
		g.inits["w"] = ramp([]int{24, 16, k, k}, 0.3)
		gate := g.op("Sigmoid", "gate", g.op("GlobalAveragePool", "pool", "x"))
		if other != nil {
			dims := make([]any, len(other))
			for i, d := range other {
				dims[i] = d
			}
			g.inputs = append(g.inputs, valueInfo("o", tensorType(tensor.Float32, dims...)))
			gate = "o"
		}
		operands := []string{"x", gate}
		if gateFirst {
			operands[0], operands[1] = operands[1], operands[0]
		}
		scaled := g.op("Mul", "scaled", operands...)
		var attrs []*onnx.AttributeProto
		if k == 3 {
			attrs = append(attrs, pads)
		}
		g.nodes = append(g.nodes, mkNode("", "Conv", "conv", []string{scaled, "w", g.c([]int{24}, ramp([]int{24}, 0.5).F32()...)}, []string{"c"}, attrs...))
		y := "c"
		if residual {
			g.inputs = append(g.inputs, valueInfo("r", tensorType(tensor.Float32, 2, 24, 8, 8)))
			y = g.op("Add", "sum", "c", "r")
		}
		g.outputs = []string{y}
		if alsoRead {
			g.outputs = append(g.outputs, scaled)
		}
		return g.model()
	}
	for _, tc := range []struct {
		gateFirst, residual, alsoRead bool
		k                             int
		other                         []int
		fused                         int
	}{
		{k: 1, fused: 1},
		{gateFirst: true, residual: true, k: 1, fused: 1},
		{residual: true, k: 1, fused: 1},
		// A Mul that broadcasts over rows and columns, not channels: the fallback runs it.
		{k: 1, other: []int{1, 1, 8, 8}, fused: 1},
		{gateFirst: true, residual: true, k: 1, other: []int{1, 1, 8, 8}, fused: 1},
		{alsoRead: true, k: 1, fused: 0},
		{k: 3, fused: 0},
	} {
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			want := map[string]int{"conv_channel_scale_fusion": tc.fused}
			if tc.residual {
				want["conv_residual_fusion"] = 1
			}
			feeds := map[string]*tensor.Tensor{"x": ramp([]int{2, 16, 8, 8}, 2)}
			if tc.residual {
				feeds["r"] = ramp([]int{2, 24, 8, 8}, 1.5)
			}
			if tc.other != nil {
				feeds["o"] = ramp(tc.other, 1.2)
			}
			checkOptimized(t, build(tc.gateFirst, tc.residual, tc.alsoRead, tc.k, tc.other), want, feeds, 1e-5)
		})
	}
}
