package runtime_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// mobileNetV2 builds a MobileNetV2-style network as torchvision exports it (BatchNorm already
// folded): a strided stem, inverted residual blocks — 1×1 expansion, 3×3 depthwise (strided in
// the first block of a stage), 1×1 projection, a shortcut Add where shapes allow — with ReLU6
// as Clip(0, 6) from constant inputs, global pooling and a classifier. width scales the
// channel counts; stages lists (expansion, channels, blocks, stride).
func mobileNetV2(size int, width float64, stages [][4]int) *onnx.ModelProto {
	r := graphtest.Seeded(11)
	b := graphtest.New("mobilenet_v2", 17)
	x := b.Input("input", tensor.Float32, "batch", 3, size, size)
	zero, six := b.ConstF32(0), b.ConstF32(6)
	nconv := 0
	conv := func(in string, cin, cout, k, stride, group int, relu6 bool) string {
		nconv++
		scale := float32(1.7 / math.Sqrt(float64(cin/group*k*k)))
		w := b.Init(fmt.Sprintf("conv%d.weight", nconv), graphtest.RandF32(r, scale, cout, cin/group, k, k))
		bias := b.Init(fmt.Sprintf("conv%d.bias", nconv), graphtest.RandF32(r, 0.1, cout))
		p := int64(k / 2)
		y := b.Op("Conv", []string{in, w, bias}, graphtest.A("kernel_shape", []int64{int64(k), int64(k)}),
			graphtest.A("strides", []int64{int64(stride), int64(stride)}), graphtest.A("pads", []int64{p, p, p, p}),
			graphtest.A("group", int64(group)))
		if relu6 {
			y = b.Op("Clip", []string{y, zero, six})
		}
		return y
	}
	ch := func(c int) int { return max(8, int(float64(c)*width+4)/8*8) }
	cin := ch(32)
	h := conv(x, 3, cin, 3, 2, 1, true)
	for _, st := range stages {
		t, c, n, s := st[0], ch(st[1]), st[2], st[3]
		for i := 0; i < n; i++ {
			stride := s
			if i > 0 {
				stride = 1
			}
			hidden := cin * t
			y := h
			if t != 1 {
				y = conv(y, cin, hidden, 1, 1, 1, true)
			}
			y = conv(y, hidden, hidden, 3, stride, hidden, true)
			y = conv(y, hidden, c, 1, 1, 1, false)
			if stride == 1 && cin == c {
				y = b.Op("Add", []string{h, y})
			}
			h, cin = y, c
		}
	}
	h = conv(h, cin, 1280, 1, 1, 1, true)
	h = b.Op("Flatten", []string{b.Op("GlobalAveragePool", []string{h})})
	fw := b.Init("classifier.weight", graphtest.RandF32(r, 0.05, 10, 1280))
	fb := b.Init("classifier.bias", graphtest.RandF32(r, 0.05, 10))
	b.Output(b.Op("Gemm", []string{h, fw, fb}, graphtest.A("transB", int64(1))), tensor.Float32, "batch", 10)
	return b.Model()
}

// TestMobileNetV2AgreesWithORT runs a MobileNetV2-style graph — depthwise convolutions strided
// and not, 1×1 convolutions over planes that do and do not fill whole GEMM panels, Clip fused
// into the convolutions — against onnxruntime, and checks that the fusions happened.
func TestMobileNetV2AgreesWithORT(t *testing.T) {
	stages := [][4]int{{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 2, 2}, {6, 64, 2, 2}, {6, 96, 1, 1}, {6, 160, 2, 2}, {6, 320, 1, 1}}
	m := mobileNetV2(64, 0.5, stages)
	s, err := runtime.NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	if opt := s.Optimizations(); opt["activation_fusion"] == 0 || opt["conv_residual_fusion"] == 0 {
		t.Errorf("no activation fused into a convolution: %v", opt)
	}
	r := graphtest.Seeded(12)
	for _, batch := range []int{1, 2} {
		feeds := map[string]*tensor.Tensor{"input": graphtest.RandF32(r, 1, batch, 3, 64, 64)}
		graphtest.AgreeWithORT(t, m, fmt.Sprintf("mobilenet_v2_b%d", batch), feeds, runActswap, 1e-4, 1e-4)
	}
}
