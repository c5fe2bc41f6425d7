package onnxops_test

import (
	"fmt"
	"github.com/actswap/actswap/onnxops"
	"math"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// TestActivationFusedIntoMatMul: the runtime applies per-tensor ai.actswap ops in the epilogue of
// the MatMul+bias that feeds them (ElementwiseFloat32), with the same values as the separate
// node; per-channel parameters stay a node of their own.
func TestActivationFusedIntoMatMul(t *testing.T) {
	t.Parallel()
	bumpy := onnxops.PWLUParams{BL: -1.7, BR: 2.3, Heights: []float64{0.3, -0.2, 0.1, 0.9, 1.7, 2.0}, KL: -0.05, KR: 1.1}
	cases := []struct {
		fam      onnxops.Family
		channels []onnxops.Params
		fused    int
	}{
		{onnxops.FamilyPWLU, []onnxops.Params{bumpy}, 1},
		{onnxops.FamilyZorro, []onnxops.Params{onnxops.SymmetricZorro(1.2, 0.4)}, 1},
		{onnxops.FamilyCRReLU, []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.1}}, 1},
		{onnxops.FamilyPWLU, []onnxops.Params{bumpy, bumpy, bumpy}, 0}, // per channel on axis 1
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d", c.fam, len(c.channels)), func(t *testing.T) {
			m, err := onnxops.SingleNodeModel(c.fam, c.channels, tensor.Float32, []int{2, 3, 8}, 1)
			if err != nil {
				t.Fatal(err)
			}
			g := m.Graph
			w, b := tensor.Zeros(tensor.Float32, []int{4, 8}), tensor.Zeros(tensor.Float32, []int{8})
			for i := range w.F32() {
				w.F32()[i] = float32(math.Sin(float64(i)))
			}
			for i := range b.F32() {
				b.F32()[i] = 0.1 * float32(i%3)
			}
			g.Initializer = append(g.Initializer, tensor.ToProto(w, "W"), tensor.ToProto(b, "B"))
			g.Node = append([]*onnx.NodeProto{
				{OpType: proto.String("MatMul"), Input: []string{"A", "W"}, Output: []string{"mm"}},
				{OpType: proto.String("Add"), Input: []string{"mm", "B"}, Output: []string{"X"}},
			}, g.Node...)
			g.Input[0].Name = proto.String("A")
			g.Input[0].Type.GetTensorType().Shape.Dim[2].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 4}
			opt, err := runtime.NewSession(m)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := runtime.NewSession(m, runtime.WithoutOptimizations())
			if err != nil {
				t.Fatal(err)
			}
			if got := opt.Optimizations(); got["matmul_bias_fusion"] != 1 || got["activation_fusion"] != c.fused {
				t.Errorf("optimizations %v, want matmul_bias_fusion 1 and activation_fusion %d", got, c.fused)
			}
			a := tensor.Zeros(tensor.Float32, []int{2, 3, 4})
			for i := range a.F32() {
				a.F32()[i] = float32(i%11)*0.4 - 2
			}
			feeds := map[string]*tensor.Tensor{"A": a}
			y1, err := opt.Run(feeds)
			if err != nil {
				t.Fatal(err)
			}
			y2, err := plain.Run(feeds)
			if err != nil {
				t.Fatal(err)
			}
			got, want := y1["Y"].F32(), y2["Y"].F32()
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-5*max(1, math.Abs(float64(want[i]))) {
					t.Fatalf("Y[%d] = %v fused, %v unfused", i, got[i], want[i])
				}
			}
		})
	}
}
