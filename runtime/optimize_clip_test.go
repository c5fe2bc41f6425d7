package runtime

import (
	"context"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

func runOptimized(m *onnx.ModelProto, feeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	s, err := NewSession(m)
	if err != nil {
		return nil, err
	}
	return s.Run(feeds)
}

// clipAfterConv builds x[1,4,7,6] → Conv(3×3, pads 1, bias; 6 output channels, or depthwise
// with 4) → Clip, with clip adding Clip's bounds (attributes before opset 11, inputs from 11).
func clipAfterConv(opset int, depthwise bool, clip func(b *graphtest.Builder, c string) string) *graphtest.Builder {
	r := graphtest.Seeded(11)
	b := graphtest.New("conv_clip", opset)
	x := b.Input("x", tensor.Float32, 1, 4, 7, 6)
	out, perGroup, group := 6, 4, 1
	if depthwise {
		out, perGroup, group = 4, 1, 4
	}
	w := b.Init("w", graphtest.RandF32(r, 1, out, perGroup, 3, 3))
	bias := b.Init("b", graphtest.RandF32(r, 1, out))
	c := b.Op("Conv", []string{x, w, bias}, graphtest.A("pads", []int64{1, 1, 1, 1}), graphtest.A("group", group))
	b.Output(clip(b, c), tensor.Float32, 1, out, 7, 6)
	return b
}

// TestConvClipFusion checks that a Clip with bounds known at session creation (Relu6 as
// constant inputs, one bound absent, opset-6 attributes, lo > hi) runs in the Conv's epilogue,
// that a Clip whose bound is a graph input does not, and that every variant computes what the
// unoptimized session and onnxruntime (when installed) compute, NaN and infinities included
// against the unoptimized session.
func TestConvClipFusion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opset int
		clip  func(b *graphtest.Builder, c string) string
		fused bool
		// depthwise: the Conv has a group per channel (MobileNet's 3×3 layers).
		depthwise bool
	}{
		{"relu6", 13, relu6, true, false},
		{"relu6_depthwise", 13, relu6, true, true},
		{"max_only", 13, func(b *graphtest.Builder, c string) string {
			return b.Op("Clip", []string{c, "", b.ConstF32(1.5)})
		}, true, false},
		{"min_only_initializer", 13, func(b *graphtest.Builder, c string) string {
			return b.Op("Clip", []string{c, b.Init("lo", tensor.Scalar(float32(-0.5)))})
		}, true, false},
		{"min_above_max", 13, func(b *graphtest.Builder, c string) string {
			return b.Op("Clip", []string{c, b.ConstF32(2), b.ConstF32(1)})
		}, true, false},
		{"attributes_opset6", 6, func(b *graphtest.Builder, c string) string {
			return b.Op("Clip", []string{c}, graphtest.A("min", float32(-1)), graphtest.A("max", float32(3)))
		}, true, false},
		{"bound_is_an_input", 13, func(b *graphtest.Builder, c string) string {
			return b.Op("Clip", []string{c, b.Input("lo", tensor.Float32), b.ConstF32(6)})
		}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := clipAfterConv(tc.opset, tc.depthwise, tc.clip).Model()
			feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(12), 3, 1, 4, 7, 6)}
			if !tc.fused {
				feeds["lo"] = tensor.Scalar(float32(-0.25))
			}
			want := map[string]int{"activation_fusion": 0}
			if tc.fused {
				want["activation_fusion"] = 1
			}
			checkOptimized(t, m, want, feeds, 1e-5)
			checkConvClipProfile(t, m, feeds, tc.fused)

			// NaN and ±Inf reach the epilogue through the convolution windows they fall in.
			special := maps.Clone(feeds)
			special["x"] = feeds["x"].Clone()
			xs := special["x"].F32()
			xs[5], xs[40], xs[100] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
			got := checkOptimized(t, m, want, special, 1e-5)
			var nans int
			for _, v := range got[m.Graph.Output[0].GetName()].F32() {
				if v != v {
					nans++
				}
			}
			if nans == 0 {
				t.Errorf("no NaN in the output: the NaN input was clamped away")
			}

			graphtest.AgreeWithORT(t, m, "conv_clip_"+tc.name, feeds, runOptimized, graphtest.RTol, graphtest.ATol)
		})
	}
}

func relu6(b *graphtest.Builder, c string) string {
	return b.Op("Clip", []string{c, b.ConstF32(0), b.ConstF32(6)})
}

// checkConvClipProfile runs m once under a profile and checks the Clip ran inside the Conv's
// node ("Conv+Clip") exactly when fused.
func checkConvClipProfile(t *testing.T, m *onnx.ModelProto, feeds map[string]*tensor.Tensor, fused bool) {
	t.Helper()
	want := []string{"Conv+Clip"}
	if !fused {
		want = []string{"Clip", "Conv"}
	}
	checkProfiledOps(t, m, feeds, want)
}

// checkProfiledOps runs m once under a profile and checks the operator types its nodes ran as
// (sorted; fused nodes as "Conv+Clip").
func checkProfiledOps(t *testing.T, m *onnx.ModelProto, feeds map[string]*tensor.Tensor, want []string) {
	t.Helper()
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	var p Profile
	if _, err := s.RunContext(WithProfile(context.Background(), &p), feeds); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, op := range p.ByOpType() {
		types = append(types, op.OpType)
	}
	slices.Sort(types)
	if !slices.Equal(types, want) {
		t.Errorf("profiled operators %v, want %v", types, want)
	}
}
