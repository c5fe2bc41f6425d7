package runtime

import (
	"fmt"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// TestExpandDepthwiseFusion checks the fused 1×1 expansion and depthwise convolution against the
// unoptimized session and onnxruntime: expansions large enough to be computed band by band
// (several bands, the overlap rows at stride 1 and 2) and small ones run in turn, activations
// on either side, two images, one and two threads, channels that end in a partial block of 16;
// and that a pair it does not cover (fewer than 16 channels, or the expansion read elsewhere
// too) is left alone.
func TestExpandDepthwiseFusion(t *testing.T) {
	for _, tc := range []struct {
		name          string
		cin, m, hw    int
		stride        int
		act1, act2    string
		alsoOutput    bool // the expansion is a graph output as well
		want, threads int
	}{
		{name: "banded_s2", cin: 8, m: 32, hw: 190, stride: 2, act1: "Relu", act2: "Relu", want: 1, threads: 1},
		{name: "banded_s1", cin: 8, m: 32, hw: 186, stride: 1, act1: "Relu", want: 1, threads: 2},
		{name: "small", cin: 8, m: 48, hw: 20, stride: 1, act2: "Relu", want: 1, threads: 2},
		{name: "small_s2", cin: 16, m: 32, hw: 15, stride: 2, want: 1, threads: 1},
		// Channels that do not fill the last block of 16 (MobileNetV3's 72 at 56×56, split by rows
		// on two threads), and fewer than 16, which the blocked depthwise convolution does not take.
		{name: "partial_block", cin: 8, m: 24, hw: 20, stride: 1, act1: "Relu", want: 1, threads: 2},
		{name: "partial_block_s2", cin: 16, m: 72, hw: 56, stride: 2, act1: "Relu", act2: "Relu", want: 1, threads: 2},
		{name: "channels_under_16", cin: 8, m: 8, hw: 20, stride: 1, want: 0, threads: 1},
		{name: "expansion_read_elsewhere", cin: 8, m: 32, hw: 20, stride: 1, alsoOutput: true, want: 0, threads: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := graphtest.Seeded(41)
			b := graphtest.New("expand_dw_"+tc.name, 17)
			x := b.Input("x", tensor.Float32, "batch", tc.cin, tc.hw, tc.hw)
			e := b.Op("Conv", []string{x, b.Init("w1", graphtest.RandF32(r, 0.3, tc.m, tc.cin, 1, 1)), b.Init("b1", graphtest.RandF32(r, 0.1, tc.m))})
			if tc.act1 != "" {
				e = b.Op(tc.act1, []string{e})
			}
			d := b.Op("Conv", []string{e, b.Init("w2", graphtest.RandF32(r, 0.3, tc.m, 1, 3, 3)), b.Init("b2", graphtest.RandF32(r, 0.1, tc.m))},
				graphtest.A("group", int64(tc.m)), graphtest.A("strides", []int64{int64(tc.stride), int64(tc.stride)}),
				graphtest.A("pads", []int64{1, 1, 1, 1}))
			if tc.act2 != "" {
				d = b.Op(tc.act2, []string{d})
			}
			b.Output(d, tensor.Float32)
			if tc.alsoOutput {
				b.Output(e, tensor.Float32)
			}
			m := b.Model()
			feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 1, 2, tc.cin, tc.hw, tc.hw)}
			checkOptimized(t, m, map[string]int{"expand_depthwise_fusion": tc.want}, feeds, 1e-4)
			s, err := NewSession(m, WithThreads(tc.threads))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := NewSession(m, WithoutOptimizations())
			if err != nil {
				t.Fatal(err)
			}
			for run := range 2 { // the second run reuses the first's buffers and geometry
				got, err := s.Run(feeds)
				if err != nil {
					t.Fatal(err)
				}
				want, err := plain.Run(feeds)
				if err != nil {
					t.Fatal(err)
				}
				for name, w := range want {
					if err := graphtest.Diff(got[name], w, 1e-4, 1e-4); err != nil {
						t.Fatalf("run %d (threads %d), %s: %v", run, tc.threads, name, err)
					}
				}
			}
			graphtest.AgreeWithORT(t, m, fmt.Sprintf("expand_dw_%s", tc.name), feeds, runOptimized, graphtest.RTol, graphtest.ATol)
		})
	}
}
