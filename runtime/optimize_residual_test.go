package runtime

import (
	"fmt"
	"strings"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

func TestConvResidualFusion(t *testing.T) {
	pads := &onnx.AttributeProto{Name: proto.String("pads"), Ints: []int64{1, 1, 1, 1}, Type: onnx.AttributeProto_INTS.Enum()}
	// build is x → Conv(3×3, same size) → Add(shortcut) [→ act]; the shortcut is x itself or a
	// second input of shape shortcutShape.
	build := func(bias, convFirst bool, act string, shortcutShape []int) *onnx.ModelProto {
		g := newOptGraph("x", 1, 4, 6, 5)
		g.inits["w"] = ramp([]int{4, 4, 3, 3}, 0.3)
		in := []string{"x", "w"}
		if bias {
			in = append(in, g.c([]int{4}, 0.1, -0.2, 0.3, -0.4))
		}
		g.nodes = append(g.nodes, mkNode("", "Conv", "conv", in, []string{"c"}, pads))
		shortcut := "x"
		if shortcutShape != nil {
			dims := make([]any, len(shortcutShape))
			for i, d := range shortcutShape {
				dims[i] = d
			}
			g.inputs = append(g.inputs, valueInfo("s", tensorType(tensor.Float32, dims...)))
			shortcut = "s"
		}
		operands := []string{"c", shortcut}
		if !convFirst {
			operands[0], operands[1] = operands[1], operands[0]
		}
		sum := g.op("Add", "sum", operands...)
		if act != "" {
			sum = g.op(act, "y", sum)
		}
		g.outputs = []string{sum}
		return g.model()
	}
	feeds := func(shortcutShape []int) map[string]*tensor.Tensor {
		f := map[string]*tensor.Tensor{"x": ramp([]int{1, 4, 6, 5}, 2)}
		if shortcutShape != nil {
			f["s"] = ramp(shortcutShape, 1.5)
		}
		return f
	}
	for _, tc := range []struct {
		bias, convFirst bool
		act             string
		shortcut        []int // nil: the Conv's own input
		addAct          int
	}{
		{bias: true, convFirst: true, act: "Relu", addAct: 1},
		{bias: false, convFirst: false, act: "Relu", addAct: 1},
		{bias: true, convFirst: false, act: "", addAct: 0},
		{bias: false, convFirst: true, act: "Relu", shortcut: []int{1, 4, 6, 5}, addAct: 1},
		// A broadcast shortcut is found out at run time: the unfused Conv and Add run.
		{bias: true, convFirst: true, act: "Relu", shortcut: []int{1, 4, 1, 1}, addAct: 1},
		{bias: false, convFirst: false, act: "", shortcut: []int{5}, addAct: 0},
	} {
		t.Run(fmt.Sprintf("bias=%v,convFirst=%v,act=%q,shortcut=%v", tc.bias, tc.convFirst, tc.act, tc.shortcut), func(t *testing.T) {
			checkOptimized(t, build(tc.bias, tc.convFirst, tc.act, tc.shortcut),
				map[string]int{"add_activation_fusion": tc.addAct, "conv_residual_fusion": 1}, feeds(tc.shortcut), 1e-5)
		})
	}

	// A Conv output that is also read elsewhere must be materialized: no fusion.
	g := newOptGraph("x", 1, 4, 6, 5)
	g.inits["w"] = ramp([]int{4, 4, 3, 3}, 0.3)
	g.nodes = append(g.nodes, mkNode("", "Conv", "conv", []string{"x", "w"}, []string{"c"}, pads))
	g.outputs = []string{g.op("Relu", "y", g.op("Add", "sum", "c", "x")), "c"}
	checkOptimized(t, g.model(), map[string]int{"conv_residual_fusion": 0}, feeds(nil), 1e-5)
}

// TestConvReluFusion checks that a Conv's Relu, alone or after a fused residual Add, reaches the
// kernel through ops.ReluFuser (which the gather lowering applies while it transposes the product
// into planes) and that another activation does not.
func TestConvReluFusion(t *testing.T) {
	pads := &onnx.AttributeProto{Name: proto.String("pads"), Ints: []int64{1, 1, 1, 1}, Type: onnx.AttributeProto_INTS.Enum()}
	for _, tc := range []struct {
		act      string
		residual bool
		relu     bool
	}{{"Relu", false, true}, {"Relu", true, true}, {"Clip", false, false}, {"Clip", true, false}} {
		g := newOptGraph("x", 1, 4, 6, 5)
		g.inits["w"] = ramp([]int{4, 4, 3, 3}, 0.3)
		g.nodes = append(g.nodes, mkNode("", "Conv", "conv", []string{"x", "w"}, []string{"c"}, pads))
		y := "c"
		if tc.residual {
			y = g.op("Add", "sum", "c", "x")
		}
		operands := []string{y}
		if tc.act == "Clip" { // ReLU6
			operands = append(operands, g.c([]int{}, 0), g.c([]int{}, 6))
		}
		g.outputs = []string{g.op(tc.act, "y", operands...)}
		s, err := NewSession(g.model())
		if err != nil {
			t.Fatal(err)
		}
		var kernels []string
		for _, n := range s.main.nodes {
			k := n.kernel
			if r, ok := k.(*convResidualKernel); ok {
				k = r.fused
			}
			kernels = append(kernels, n.opType)
			if c, ok := k.(interface{ FusesRelu() bool }); ok && strings.HasPrefix(n.opType, "Conv+") {
				if c.FusesRelu() != tc.relu {
					t.Errorf("%s, residual %v: %s fuses Relu %v, want %v", tc.act, tc.residual, n.opType, c.FusesRelu(), tc.relu)
				}
				kernels = nil
				break
			}
		}
		if kernels != nil {
			t.Errorf("%s, residual %v: no fused Conv among %v", tc.act, tc.residual, kernels)
		}
	}
}
