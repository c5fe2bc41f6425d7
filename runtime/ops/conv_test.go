package ops

import (
	"flag"
	"fmt"
	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/testutil"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// TestPytorchConvertedKernelCases runs the single-node cases of the suite's pytorch-converted and
// pytorch-operator folders for the GEMM, convolution and pooling kernels (the node/ folder is
// covered by TestNodeCases).
func TestPytorchConvertedKernelCases(t *testing.T) {
	t.Parallel()
	node := suiteDir(t)
	root := filepath.Dir(node)
	prefixes := []string{"test_Conv", "test_ConvTranspose", "test_AvgPool", "test_MaxPool", "test_LPPool",
		"test_Linear", "test_operator_addmm", "test_operator_mm", "test_operator_conv", "test_operator_maxpool",
		"test_AdaptiveAvgPool", "test_AdaptiveMaxPool"}
	ran := 0
	for _, folder := range []string{"pytorch-converted", "pytorch-operator"} {
		entries, err := os.ReadDir(filepath.Join(root, folder))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			match := false
			for _, p := range prefixes {
				match = match || strings.HasPrefix(e.Name(), p)
			}
			if !match {
				continue
			}
			status, err := runNodeCase(filepath.Join(root, folder, e.Name()))
			switch {
			case err != nil:
				t.Errorf("%s/%s: %v", folder, e.Name(), err)
			case status == "":
				ran++
			default:
				t.Logf("%s/%s: %s", folder, e.Name(), status)
			}
		}
	}
	t.Logf("%d pytorch cases passed", ran)
	// 45 pass today; fewer means cases were lost (renamed folders, a runner that no longer
	// recognises them), which would otherwise pass silently.
	if ran < minPytorchKernelCases {
		t.Fatalf("only %d pytorch-converted/-operator kernel cases ran and passed, want at least %d", ran, minPytorchKernelCases)
	}
}

// minPytorchKernelCases is how many of the matched pytorch cases pass today.
const minPytorchKernelCases = 45

// convTestNode builds a node for the GEMM/conv/pool kernel tests: attrs values are int, []int
// or string.
func convTestNode(op string, attrs map[string]any, nIn int, consts ...*tensor.Tensor) *Node {
	p := &onnx.NodeProto{OpType: &op, Output: []string{"y"}}
	for i := 0; i < nIn; i++ {
		p.Input = append(p.Input, fmt.Sprintf("x%d", i))
	}
	for name, v := range attrs {
		a := &onnx.AttributeProto{Name: proto.String(name)}
		switch x := v.(type) {
		case int:
			a.Type = onnx.AttributeProto_INT.Enum()
			a.I = proto.Int64(int64(x))
		case float32:
			a.Type = onnx.AttributeProto_FLOAT.Enum()
			a.F = proto.Float32(x)
		case string:
			a.Type = onnx.AttributeProto_STRING.Enum()
			a.S = []byte(x)
		case []int:
			a.Type = onnx.AttributeProto_INTS.Enum()
			for _, i := range x {
				a.Ints = append(a.Ints, int64(i))
			}
		}
		p.Attribute = append(p.Attribute, a)
	}
	n := NewNode(p, 22)
	copy(n.Const, consts)
	return n
}

// relu is a fused activation for the kernel tests, written out independently of the runtime's.
func relu(dst []float32) {
	for i, v := range dst {
		dst[i] = max(v, 0)
	}
}

func randTensor(r *rand.Rand, shape ...int) *tensor.Tensor {
	v := make([]float32, tensor.NumElements(shape))
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return tensor.New(shape, v)
}

// refConv is the textbook N-d convolution in float64, straight from the definition.
func refConv(x, w, b *tensor.Tensor, group int, strides, dilations, padBegin, out []int) []float64 {
	n, c, m := x.Shape[0], x.Shape[1], w.Shape[0]
	in, kernel := x.Shape[2:], w.Shape[2:]
	cg, mg := c/group, m/group
	xs, ws := tensor.Strides(x.Shape), tensor.Strides(w.Shape)
	res := make([]float64, n*m*tensor.NumElements(out))
	oIdx := make([]int, len(out))
	kIdx := make([]int, len(kernel))
	i := 0
	for bn := 0; bn < n; bn++ {
		for om := 0; om < m; om++ {
			g := om / mg
			clear(oIdx)
			for op := 0; op < tensor.NumElements(out); op++ {
				var sum float64
				if b != nil {
					sum = float64(b.F32()[om])
				}
				for ic := 0; ic < cg; ic++ {
					clear(kIdx)
					for kp := 0; kp < tensor.NumElements(kernel); kp++ {
						xo := bn*xs[0] + (g*cg+ic)*xs[1]
						wo := om*ws[0] + ic*ws[1]
						inside := true
						for d := range kernel {
							pos := oIdx[d]*strides[d] + kIdx[d]*dilations[d] - padBegin[d]
							inside = inside && pos >= 0 && pos < in[d]
							xo += pos * xs[d+2]
							wo += kIdx[d] * ws[d+2]
						}
						if inside {
							sum += float64(x.F32()[xo]) * float64(w.F32()[wo])
						}
						odometer(kIdx, kernel)
					}
				}
				res[i] = sum
				i++
				odometer(oIdx, out)
			}
		}
	}
	return res
}

func TestConvAgainstReference(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		x, w      []int
		group     int
		attrs     map[string]any
		bias      bool
		padBegin  []int // expected begin pads, for the reference
		strides   []int
		dilations []int
	}{
		{"3x3 pad1", []int{1, 3, 9, 11}, []int{8, 3, 3, 3}, 1, map[string]any{"pads": []int{1, 1, 1, 1}}, true, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"stride2 asym pads", []int{2, 4, 10, 7}, []int{7, 4, 3, 2}, 1, map[string]any{"pads": []int{0, 1, 2, 0}, "strides": []int{2, 2}}, false, []int{0, 1}, []int{2, 2}, []int{1, 1}},
		{"dilated", []int{1, 2, 12, 12}, []int{5, 2, 3, 3}, 1, map[string]any{"dilations": []int{2, 3}, "pads": []int{2, 2, 2, 2}}, true, []int{2, 2}, []int{1, 1}, []int{2, 3}},
		{"groups", []int{1, 6, 8, 8}, []int{9, 2, 3, 3}, 3, map[string]any{"group": 3, "pads": []int{1, 1, 1, 1}}, true, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"depthwise strided", []int{2, 5, 9, 9}, []int{5, 1, 3, 3}, 5, map[string]any{"group": 5, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}, true, []int{1, 1}, []int{2, 2}, []int{1, 1}},
		{"pointwise", []int{1, 40, 7, 9}, []int{33, 40, 1, 1}, 1, nil, true, []int{0, 0}, []int{1, 1}, []int{1, 1}},
		{"pointwise strided", []int{1, 8, 7, 9}, []int{4, 8, 1, 1}, 1, map[string]any{"strides": []int{2, 2}}, false, []int{0, 0}, []int{2, 2}, []int{1, 1}},
		{"same upper", []int{1, 3, 7, 8}, []int{4, 3, 4, 3}, 1, map[string]any{"auto_pad": "SAME_UPPER", "strides": []int{2, 1}}, false, []int{1, 1}, []int{2, 1}, []int{1, 1}},
		{"same lower", []int{1, 3, 7, 8}, []int{4, 3, 4, 3}, 1, map[string]any{"auto_pad": "SAME_LOWER", "strides": []int{2, 1}}, false, []int{2, 1}, []int{2, 1}, []int{1, 1}},
		{"wide image, many channels", []int{1, 20, 30, 37}, []int{70, 20, 3, 3}, 1, map[string]any{"pads": []int{1, 1, 1, 1}}, true, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"strided dilated", []int{1, 3, 13, 14}, []int{5, 3, 3, 2}, 1, map[string]any{"strides": []int{3, 2}, "dilations": []int{2, 3}, "pads": []int{2, 1, 1, 2}}, true, []int{2, 1}, []int{3, 2}, []int{2, 3}},
		{"stem 7x7 stride 2", []int{1, 3, 40, 37}, []int{16, 3, 7, 7}, 1, map[string]any{"strides": []int{2, 2}, "pads": []int{3, 3, 3, 3}}, true, []int{3, 3}, []int{2, 2}, []int{1, 1}},
		{"1-D", []int{2, 3, 17}, []int{4, 3, 5}, 1, map[string]any{"pads": []int{2, 1}, "strides": []int{2}, "dilations": []int{2}}, true, []int{2}, []int{2}, []int{2}},
		{"3-D", []int{1, 2, 5, 6, 7}, []int{3, 2, 2, 3, 2}, 1, map[string]any{"pads": []int{1, 0, 1, 0, 1, 1}, "strides": []int{1, 2, 1}}, true, []int{1, 0, 1}, []int{1, 2, 1}, []int{1, 1, 1}},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range cases {
		x, w := randTensor(r, tc.x...), randTensor(r, tc.w...)
		var b *tensor.Tensor
		inputs := []*tensor.Tensor{x, w}
		if tc.bias {
			b = randTensor(r, tc.w[0])
			inputs = append(inputs, b)
		}
		for _, constW := range []bool{false, true} {
			var consts []*tensor.Tensor
			if constW {
				consts = []*tensor.Tensor{nil, w}
			}
			k, err := newConv(convTestNode("Conv", tc.attrs, len(inputs), consts...))
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			outs, err := k.Run(NewContext(2), inputs)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			y := outs[0]
			want := refConv(x, w, b, tc.group, tc.strides, tc.dilations, tc.padBegin, y.Shape[2:])
			for i, v := range y.F32() {
				if math.Abs(float64(v)-want[i]) > 1e-4*(1+math.Abs(want[i])) {
					t.Fatalf("%s (const W %v): y[%d] = %g, want %g (shape %v)", tc.name, constW, i, v, want[i], y.Shape)
				}
			}
		}
	}
}

// TestConvConcurrentRuns checks that one kernel serves concurrent Runs (scratch is per call).
func TestConvConcurrentRuns(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	w := randTensor(r, 16, 8, 3, 3)
	k, err := newConv(convTestNode("Conv", map[string]any{"pads": []int{1, 1, 1, 1}}, 2, nil, w))
	if err != nil {
		t.Fatal(err)
	}
	xs := make([]*tensor.Tensor, 4)
	want := make([][]float32, len(xs))
	for i := range xs {
		xs[i] = randTensor(r, 1, 8, 20, 20)
		outs, err := k.Run(NewContext(1), []*tensor.Tensor{xs[i], w})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = outs[0].F32()
	}
	var wg sync.WaitGroup
	for rep := 0; rep < 3; rep++ {
		for i := range xs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs, err := k.Run(NewContext(2), []*tensor.Tensor{xs[i], w})
				if err != nil {
					t.Error(err)
					return
				}
				if !slices.Equal(outs[0].F32(), want[i]) {
					t.Errorf("input %d: concurrent result differs", i)
				}
			}()
		}
	}
	wg.Wait()
}

func TestConvRejectsBadShapes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	k, err := newConv(convTestNode("Conv", map[string]any{"group": 2}, 2))
	if err != nil {
		t.Fatal(err)
	}
	bad := [][]*tensor.Tensor{
		{randTensor(r, 1, 3, 5, 5), randTensor(r, 4, 2, 3, 3)}, // 3 channels, 2 groups
		{randTensor(r, 1, 4, 5, 5), randTensor(r, 4, 2, 3)},    // rank mismatch
		{randTensor(r, 1, 4, 2, 2), randTensor(r, 4, 2, 3, 3)}, // kernel larger than image
	}
	for i, in := range bad {
		if _, err := k.Run(NewContext(1), in); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

// TestFusedActivation checks that each ActivationFuser gives act(unfused output).
func TestFusedActivation(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(19, 20))
	cases := []struct {
		name    string
		factory Factory
		attrs   map[string]any
		inputs  []*tensor.Tensor
	}{
		{"Conv", newConv, map[string]any{"pads": []int{1, 1, 1, 1}}, []*tensor.Tensor{randTensor(r, 1, 3, 9, 9), randTensor(r, 8, 3, 3, 3), randTensor(r, 8)}},
		{"Conv depthwise", newConv, map[string]any{"group": 4}, []*tensor.Tensor{randTensor(r, 1, 4, 6, 6), randTensor(r, 4, 1, 3, 3)}},
		{"Conv 1-D", newConv, nil, []*tensor.Tensor{randTensor(r, 1, 3, 9), randTensor(r, 5, 3, 2)}},
		{"Gemm", newGemm, map[string]any{"transB": 1}, []*tensor.Tensor{randTensor(r, 7, 5), randTensor(r, 9, 5), randTensor(r, 9)}},
		{"Gemm full C", newGemm, nil, []*tensor.Tensor{randTensor(r, 7, 5), randTensor(r, 5, 9), randTensor(r, 7, 9)}},
		{"MatMul", newMatMul, nil, []*tensor.Tensor{randTensor(r, 2, 7, 5), randTensor(r, 5, 9)}},
		{"MatMul batched", newMatMul, nil, []*tensor.Tensor{randTensor(r, 2, 7, 5), randTensor(r, 2, 5, 9)}},
	}
	for _, tc := range cases {
		plain, err := tc.factory(convTestNode(tc.name, tc.attrs, len(tc.inputs)))
		if err != nil {
			t.Fatal(err)
		}
		fused, err := tc.factory(convTestNode(tc.name, tc.attrs, len(tc.inputs)))
		if err != nil {
			t.Fatal(err)
		}
		if !fused.(ActivationFuser).FuseActivation(relu) {
			t.Fatalf("%s: fusion refused", tc.name)
		}
		want, err := plain.Run(NewContext(1), tc.inputs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fused.Run(NewContext(2), tc.inputs)
		if err != nil {
			t.Fatal(err)
		}
		w := slices.Clone(want[0].F32())
		relu(w)
		if !slices.Equal(got[0].F32(), w) {
			t.Errorf("%s: fused output differs from relu(output)", tc.name)
		}
	}
}

// TestFusedResidual checks Conv with a fused shortcut and activation against relu(conv + r).
func TestFusedResidual(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(21, 22))
	cases := []struct {
		attrs map[string]any
		x, w  []int
	}{
		{map[string]any{"pads": []int{1, 1, 1, 1}}, []int{2, 6, 8, 9}, []int{8, 6, 3, 3}},
		{map[string]any{"group": 2, "pads": []int{1, 1, 1, 1}}, []int{1, 6, 8, 9}, []int{8, 3, 3, 3}},
		{map[string]any{"group": 4}, []int{1, 4, 6, 6}, []int{4, 1, 1, 1}},
		{nil, []int{1, 3, 9}, []int{5, 3, 2}},
	}
	for i, tc := range cases {
		x, w := randTensor(r, tc.x...), randTensor(r, tc.w...)
		if g, ok := tc.attrs["group"].(int); ok {
			w = randTensor(r, tc.w[0], tc.x[1]/g, tc.w[2], tc.w[3])
		}
		plain, err := newConv(convTestNode("Conv", tc.attrs, 2))
		if err != nil {
			t.Fatal(err)
		}
		want, err := plain.Run(NewContext(1), []*tensor.Tensor{x, w})
		if err != nil {
			t.Fatal(err)
		}
		res := randTensor(r, want[0].Shape...)
		fused, err := newConv(convTestNode("Conv", tc.attrs, 4))
		if err != nil {
			t.Fatal(err)
		}
		fused.(ResidualFuser).FuseResidual()
		fused.(ActivationFuser).FuseActivation(relu)
		got, err := fused.Run(NewContext(2), []*tensor.Tensor{x, w, nil, res})
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range want[0].F32() {
			if e := max(v+res.F32()[j], 0); got[0].F32()[j] != e {
				t.Fatalf("case %d: y[%d] = %g, want %g", i, j, got[0].F32()[j], e)
			}
		}
		if _, err := fused.Run(NewContext(1), []*tensor.Tensor{x, w}); err == nil {
			t.Errorf("case %d: missing residual input accepted", i)
		}
	}
}

// BenchmarkConvResNet runs ResNet-18's convolution shapes (batch 1, 224×224 input) on one
// thread and reports GFLOP/s; compare with internal/gemm's BenchmarkFMAPeak.
func BenchmarkConvResNet(b *testing.B) {
	shapes := []struct{ c, hw, m, k, stride, pad int }{
		{3, 224, 64, 7, 2, 3}, {64, 56, 64, 3, 1, 1}, {64, 56, 128, 3, 2, 1}, {128, 28, 128, 3, 1, 1},
		{128, 28, 256, 3, 2, 1}, {256, 14, 256, 3, 1, 1}, {256, 14, 512, 3, 2, 1}, {512, 7, 512, 3, 1, 1},
		{3, 224, 32, 3, 2, 1}, {128, 56, 32, 3, 1, 1}, {128, 14, 32, 3, 1, 1}, {32, 112, 32, 3, 1, 1}, {16, 112, 96, 1, 1, 0}, {96, 56, 24, 1, 1, 0}, {144, 56, 24, 1, 1, 0}, {192, 28, 32, 1, 1, 0}, {384, 14, 64, 1, 1, 0}, {32, 28, 192, 1, 1, 0}, {64, 56, 128, 1, 2, 0}, {128, 28, 256, 1, 2, 0}, {256, 14, 512, 1, 2, 0}, {64, 56, 256, 1, 1, 0}, {256, 56, 64, 1, 1, 0}, {1024, 14, 256, 1, 1, 0}, {512, 7, 2048, 1, 1, 0},
		{32, 112, 16, 1, 1, 0}, {24, 56, 144, 1, 1, 0}, {320, 7, 1280, 1, 1, 0}, {960, 7, 320, 1, 1, 0},
		{160, 7, 960, 1, 1, 0}, {960, 7, 160, 1, 1, 0}, {96, 14, 576, 1, 1, 0}, {576, 14, 96, 1, 1, 0},
		{64, 14, 384, 1, 1, 0}, {384, 14, 64, 1, 1, 0}, {32, 28, 192, 1, 1, 0}, {192, 28, 64, 1, 1, 0}, {256, 14, 1024, 1, 1, 0}, {128, 14, 512, 1, 1, 0},
	}
	for _, sh := range shapes {
		// The lowerings the shape may take: the gather product where it pays, else the others;
		// "packed" also turns off reading 1×1 convolutions' planes in place.
		for _, v := range []struct {
			name     string
			lowering convLowering
		}{{"best", convLowering{}}, {"direct", convLowering{direct: true}}, {"gather", convLowering{forceGather: true}}, {"nogather", convLowering{noGather: true}},
			{"packed", convLowering{noGather: true, packPointwise: true}}, {"alltaps", convLowering{allTaps: true}},
			{"group1", convLowering{tapGrouping: 1}}, {"group2", convLowering{tapGrouping: 2}}, {"group3", convLowering{tapGrouping: 3}},
			{"block1", convLowering{tapBlock: 1}}, {"block32", convLowering{tapBlock: 32}}, {"block64", convLowering{tapBlock: 64}},
			{"winograd", convLowering{winograd: true}}} {
			b.Run(fmt.Sprintf("c%d_hw%d_m%d_k%d_s%d_%s", sh.c, sh.hw, sh.m, sh.k, sh.stride, v.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				x, w := randTensor(r, 1, sh.c, sh.hw, sh.hw), randTensor(r, sh.m, sh.c, sh.k, sh.k)
				attrs := map[string]any{"strides": []int{sh.stride, sh.stride}, "pads": []int{sh.pad, sh.pad, sh.pad, sh.pad}}
				k, err := newConv(convTestNode("Conv", attrs, 2, nil, w))
				if err != nil {
					b.Fatal(err)
				}
				k.(*convKernel).lowering = v.lowering
				ctx := &Context{Threads: 1, Allocator: reusedOutput{}}
				outs, err := k.Run(ctx, []*tensor.Tensor{x, w})
				if err != nil {
					b.Fatal(err)
				}
				flops := 2 * float64(outs[0].Len()*sh.c*sh.k*sh.k)
				start := testutil.ProcessCPU()
				for b.Loop() {
					if _, err := k.Run(ctx, []*tensor.Tensor{x, w}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				testutil.ReportCPU(b, start, flops)
			})
		}
	}
}

// BenchmarkConvColdWeights runs several convolutions of one ResNet-18 shape with different
// weights round robin (the gather lowering, one thread), so that each run's weights come from
// memory as in the model — 9.4 MB per 512-channel layer, more than the caches keep — where
// BenchmarkConvResNet, one convolution run again and again, finds them cached.
func BenchmarkConvColdWeights(b *testing.B) {
	for _, sh := range []struct{ c, hw, m, n int }{{512, 7, 512, 6}, {256, 14, 256, 12}} {
		b.Run(fmt.Sprintf("c%d_hw%d", sh.c, sh.hw), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x := randTensor(r, 1, sh.c, sh.hw, sh.hw)
			var ks []Kernel
			var ws []*tensor.Tensor
			for i := 0; i < sh.n; i++ {
				w := randTensor(r, sh.m, sh.c, 3, 3)
				attrs := map[string]any{"strides": []int{1, 1}, "pads": []int{1, 1, 1, 1}}
				k, err := newConv(convTestNode("Conv", attrs, 2, nil, w))
				if err != nil {
					b.Fatal(err)
				}
				k.(*convKernel).lowering = convLowering{forceGather: true}
				ks, ws = append(ks, k), append(ws, w)
			}
			ctx := &Context{Threads: 1, Allocator: reusedOutput{}}
			for i, k := range ks {
				if _, err := k.Run(ctx, []*tensor.Tensor{x, ws[i]}); err != nil {
					b.Fatal(err)
				}
			}
			flops := 2 * float64(sh.m*sh.hw*sh.hw*sh.c*9)
			start := testutil.ProcessCPU()
			i := 0
			for b.Loop() {
				if _, err := ks[i%len(ks)].Run(ctx, []*tensor.Tensor{x, ws[i%len(ks)]}); err != nil {
					b.Fatal(err)
				}
				i++
			}
			testutil.ReportCPU(b, start, flops)
		})
	}
}

// convAgreesWithRef runs Conv k on (x, w, b) with threads and checks every output against the
// float64 definition (refConv) within 1e-4 relative; it returns the output and the reference.
// label names the case in failures.
func convAgreesWithRef(t *testing.T, label string, k Kernel, threads int, x, w, b *tensor.Tensor, group int, strides, dilations, padBegin []int) (*tensor.Tensor, []float64) {
	t.Helper()
	outs, err := k.Run(NewContext(threads), []*tensor.Tensor{x, w, b})
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	y := outs[0]
	want := refConv(x, w, b, group, strides, dilations, padBegin, y.Shape[2:])
	for i, v := range y.F32() {
		if math.Abs(float64(v)-want[i]) > 1e-4*(1+math.Abs(want[i])) {
			t.Fatalf("%s (x %v, w %v): y[%d] = %g, want %g", label, x.Shape, w.Shape, i, v, want[i])
		}
	}
	return y, want
}

// TestConvRandomGeometries sweeps random 2-D geometries through every lowering path (pointwise,
// in-place stride-1, phase-split strided, depthwise) against the float64 definition.
func TestConvRandomGeometries(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(23, 24))
	for trial := 0; trial < 60; trial++ {
		group := []int{1, 1, 2, 3}[r.IntN(4)]
		cg, mg := 1+r.IntN(3), 1+r.IntN(4)
		if trial%7 == 0 { // depthwise
			cg, mg = 1, 1
		}
		kh, kw := 1+r.IntN(4), 1+r.IntN(4)
		strides := []int{1 + r.IntN(3), 1 + r.IntN(3)}
		dilations := []int{1 + r.IntN(2), 1 + r.IntN(2)}
		pads := []int{r.IntN(3), r.IntN(3), r.IntN(3), r.IntN(3)}
		ih := (kh-1)*dilations[0] + 1 + r.IntN(9)
		iw := (kw-1)*dilations[1] + 1 + r.IntN(20)
		x := randTensor(r, 1+r.IntN(2), cg*group, ih, iw)
		w := randTensor(r, mg*group, cg, kh, kw)
		b := randTensor(r, mg*group)
		attrs := map[string]any{"group": group, "strides": strides, "dilations": dilations, "pads": pads}
		k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		convAgreesWithRef(t, fmt.Sprintf("trial %d (%v)", trial, attrs), k, 1+trial%2, x, w, b, group, strides, dilations, pads[:2])
	}
}

// TestConvGatherLowering sweeps geometries that take the gather lowering where the machine has
// it (16-, 32- and 64-channel tiles, depth ≥ 256: strided, dilated, padded, grouped, batched, with a
// fused residual and activation) against the float64 definition, with constant and with
// run-time weights.
func TestConvGatherLowering(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(31, 32))
	for trial := 0; trial < 16; trial++ {
		group := 1 + trial%2
		mg := []int{16, 48, 64, 128, 32, 96}[trial%6] // the 16-, 64- and 32-wide tiles, each at least twice
		kh, kw := 1+r.IntN(3), 1+r.IntN(3)
		cg := 256/(kh*kw) + 1 + r.IntN(8)
		strides := []int{1 + r.IntN(2), 1 + r.IntN(2)}
		dilations := []int{1 + r.IntN(2), 1}
		pads := []int{r.IntN(2), r.IntN(2), r.IntN(2), r.IntN(2)}
		if trial%5 == 4 {
			pads = []int{0, 0, 0, 0} // unpadded images are read in place, a whole image apart
		}
		ih := (kh-1)*dilations[0] + 1 + r.IntN(9)
		iw := (kw-1)*dilations[1] + 1 + r.IntN(12)
		x := randTensor(r, 1+trial%4, cg*group, ih, iw) // batches fold into one product, or chunks of foldImages
		w := randTensor(r, mg*group, cg, kh, kw)
		b := randTensor(r, mg*group)
		attrs := map[string]any{"group": group, "strides": strides, "dilations": dilations, "pads": pads}
		for _, constW := range []bool{true, false} {
			var consts []*tensor.Tensor
			if constW {
				consts = []*tensor.Tensor{nil, w}
			}
			k, err := newConv(convTestNode("Conv", attrs, 4, consts...))
			if err != nil {
				t.Fatal(err)
			}
			k.(*convKernel).lowering.foldImages = trial % 3 // 0: the whole batch
			// One image at a time runs in chunks of pixels where its product is large; small
			// chunks here (≥ 1 pixel), uneven in every other trial.
			k.(*convKernel).lowering.chunkValues = []int{0, 7 * mg, 100}[trial%3]
			label := fmt.Sprintf("trial %d (%v, const %v, batch %d, fold %d, chunk %d)", trial, attrs, constW, x.Shape[0], trial%3, k.(*convKernel).lowering.chunkValues)
			y, want := convAgreesWithRef(t, label, k, 1+trial%2, x, w, b, group, strides, dilations, pads[:2])
			if pads[0]+pads[1]+pads[2]+pads[3] == 0 {
				// On one thread too: two threads split a batch by images (imageParts), and only
				// one thread folds unpadded images of a grouped convolution into one product,
				// each a whole image (all groups' channels) apart.
				convAgreesWithRef(t, label+", 1 thread", k, 1, x, w, b, group, strides, dilations, pads[:2])
			}
			res := randTensor(r, y.Shape...)
			k.(ResidualFuser).FuseResidual()
			k.(ActivationFuser).FuseActivation(relu)
			fused, err := k.Run(NewContext(1+trial%2), []*tensor.Tensor{x, w, b, res})
			if err != nil {
				t.Fatalf("%s: fused: %v", label, err)
			}
			for i := range y.F32() {
				tol := 1e-4 * (1 + math.Abs(want[i]))
				if e := max(want[i]+float64(res.F32()[i]), 0); math.Abs(float64(fused[0].F32()[i])-e) > tol {
					t.Fatalf("%s: fused y[%d] = %g, want %g", label, i, fused[0].F32()[i], e)
				}
			}
		}
	}
}

// TestConvPointwiseInPlace covers 1×1 stride-1 convolutions whose planes fill whole GEMM panels,
// read in place as B's rows, with groups and batches, against the float64 definition.
func TestConvPointwiseInPlace(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(41, 42))
	for _, tc := range []struct{ batch, c, m, hw, group int }{{1, 5, 7, 4, 1}, {2, 6, 4, 8, 2}, {1, 33, 20, 8, 1}} {
		x := randTensor(r, tc.batch, tc.c, tc.hw, tc.hw)
		w := randTensor(r, tc.m, tc.c/tc.group, 1, 1)
		b := randTensor(r, tc.m)
		attrs := map[string]any{"group": tc.group}
		k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		convAgreesWithRef(t, fmt.Sprintf("%+v", tc), k, 2, x, w, b, tc.group, []int{1, 1}, []int{1, 1}, []int{0, 0})
	}
}

// reusedOutput is an Allocator that hands out one tensor per size again and again, so that a
// kernel benchmark measures the kernel rather than fresh pages.
type reusedOutput map[int]*tensor.Tensor

func (r reusedOutput) Alloc(dt tensor.DType, shape []int) *tensor.Tensor {
	n := tensor.NumElements(shape)
	if t, ok := r[n]; ok && t.DType == dt {
		return t
	}
	r[n] = tensor.Zeros(dt, shape)
	return r[n]
}

// BenchmarkConvDepthwise runs MobileNetV2's depthwise 3×3 shapes on one thread (with
// -depthwise-planes, the plane-at-a-time path instead of the 16-channel blocked one).
func BenchmarkConvDepthwise(b *testing.B) {
	for _, sh := range []struct{ c, hw, stride int }{{32, 112, 1}, {96, 112, 2}, {144, 56, 1}, {144, 56, 2}, {384, 14, 1}, {960, 7, 1}} {
		b.Run(fmt.Sprintf("c%d_hw%d_s%d", sh.c, sh.hw, sh.stride), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x, w := randTensor(r, 1, sh.c, sh.hw, sh.hw), randTensor(r, sh.c, 1, 3, 3)
			attrs := map[string]any{"group": sh.c, "strides": []int{sh.stride, sh.stride}, "pads": []int{1, 1, 1, 1}}
			k, err := newConv(convTestNode("Conv", attrs, 2, nil, w))
			if err != nil {
				b.Fatal(err)
			}
			k.(*convKernel).lowering.planeDepthwise = *depthwisePlanes
			ctx := &Context{Threads: 1, Allocator: reusedOutput{}}
			outs, err := k.Run(ctx, []*tensor.Tensor{x, w})
			if err != nil {
				b.Fatal(err)
			}
			macs := float64(outs[0].Len() * 9)
			for b.Loop() {
				if _, err := k.Run(ctx, []*tensor.Tensor{x, w}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// TestConvDepthwiseStride2 covers the phase-split depthwise path: 3×3 and 5×5 kernels, odd and
// even padded sizes, asymmetric pads, several channels and images, against the float64
// definition.
func TestConvDepthwiseStride2(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(51, 52))
	for _, tc := range []struct{ c, h, w, k int }{{3, 9, 9, 3}, {2, 10, 13, 3}, {4, 17, 16, 5}, {1, 6, 40, 5}} {
		for _, pads := range [][]int{{1, 1, 1, 1}, {tc.k / 2, 0, 0, tc.k / 2}, {0, 0, 0, 0}, {0, 2, 1, 2}, {2, 3, 0, 1}} {
			x := randTensor(r, 2, tc.c, tc.h, tc.w)
			w := randTensor(r, tc.c, 1, tc.k, tc.k)
			b := randTensor(r, tc.c)
			attrs := map[string]any{"group": tc.c, "strides": []int{2, 2}, "pads": pads}
			k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
			if err != nil {
				t.Fatal(err)
			}
			convAgreesWithRef(t, fmt.Sprintf("%+v pads %v", tc, pads), k, 2, x, w, b, tc.c, []int{2, 2}, []int{1, 1}, pads[:2])
		}
	}
}

var depthwisePlanes = flag.Bool("depthwise-planes", false, "BenchmarkConvDepthwise: time the plane-at-a-time depthwise path")

// TestConvDepthwiseBlocked covers the 16-channel interleaved depthwise path (convDepthwiseBlocked)
// against the float64 definition: strides 1 to 3, dilation, 3×3, 5×5 and 1×3 kernels, asymmetric
// pads, rows that do and do not fill 8-pixel groups (the staged interleave), tiny and wide planes,
// two images and two threads, with and without bias.
func TestConvDepthwiseBlocked(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(71, 72))
	for _, tc := range []struct {
		c, h, w, kh, kw, stride, dilation int
		pads                              []int
		sw                                int // the column stride when it differs from stride
	}{
		{16, 9, 9, 3, 3, 1, 1, []int{1, 1, 1, 1}, 0},
		{32, 16, 16, 3, 3, 2, 1, []int{1, 1, 1, 1}, 0},
		{16, 7, 7, 3, 3, 1, 1, []int{1, 1, 1, 1}, 0},
		{48, 14, 14, 5, 5, 2, 1, []int{2, 2, 2, 2}, 0},
		{16, 17, 24, 3, 3, 3, 1, []int{0, 2, 1, 0}, 0},
		{16, 12, 40, 3, 3, 1, 2, []int{2, 2, 2, 2}, 0},
		{32, 10, 13, 1, 3, 1, 1, []int{0, 1, 0, 1}, 0},
		{16, 112, 112, 3, 3, 2, 1, []int{0, 0, 1, 1}, 0}, // several bands
		{16, 5, 6, 3, 3, 1, 1, []int{0, 0, 0, 0}, 0},
		{16, 11, 13, 3, 3, 2, 1, []int{1, 1, 1, 1}, 1}, // strides 2×1
		{32, 9, 17, 3, 5, 1, 1, []int{1, 2, 1, 2}, 2},  // strides 1×2, a 3×5 kernel
		// Channels that do not fill the last block of 16 (MobileNetV3's 72, 88, 120).
		{24, 9, 9, 3, 3, 1, 1, []int{1, 1, 1, 1}, 0},
		{72, 14, 14, 3, 3, 2, 1, []int{1, 1, 1, 1}, 0},
		{17, 11, 13, 5, 5, 2, 1, []int{2, 2, 2, 2}, 0},
		{40, 7, 7, 5, 5, 1, 1, []int{2, 2, 2, 2}, 0},
	} {
		sw := tc.stride
		if tc.sw > 0 {
			sw = tc.sw
		}
		for _, withBias := range []bool{true, false} {
			x := randTensor(r, 2, tc.c, tc.h, tc.w)
			w := randTensor(r, tc.c, 1, tc.kh, tc.kw)
			attrs := map[string]any{"group": tc.c, "strides": []int{tc.stride, sw},
				"dilations": []int{tc.dilation, tc.dilation}, "pads": tc.pads}
			inputs := 2
			var b *tensor.Tensor
			if withBias {
				b, inputs = randTensor(r, tc.c), 3
			}
			k, err := newConv(convTestNode("Conv", attrs, inputs, nil, w))
			if err != nil {
				t.Fatal(err)
			}
			s, err := k.(*convKernel).cachedShape(x, w)
			if err != nil {
				t.Fatal(err)
			}
			if s.blocked == nil {
				t.Fatalf("%+v: the blocked depthwise path was not chosen", tc)
			}
			label := fmt.Sprintf("%+v bias %v", tc, withBias)
			convAgreesWithRef(t, label, k, 2, x, w, b, tc.c, []int{tc.stride, sw}, []int{tc.dilation, tc.dilation}, tc.pads[:2])
			// W as a run-time input: interleaved per run, so new weights take effect.
			dyn, err := newConv(convTestNode("Conv", attrs, inputs))
			if err != nil {
				t.Fatal(err)
			}
			for round := range 2 {
				w := randTensor(r, tc.c, 1, tc.kh, tc.kw)
				convAgreesWithRef(t, fmt.Sprintf("%s, W fed, round %d", label, round), dyn, 1, x, w, b, tc.c,
					[]int{tc.stride, sw}, []int{tc.dilation, tc.dilation}, tc.pads[:2])
			}
		}
	}
}

// TestConvLoweringsAgree runs every lowering a shape can take — gather product, indirect or
// im2col GEMM, 1×1 planes packed or read in place, depthwise blocked or plane by plane, Winograd — on the
// same inputs and checks they agree with the one sessions choose.
func TestConvLoweringsAgree(t *testing.T) {
	t.Parallel()
	shapes := []struct{ c, hw, m, k, stride, pad, group int }{
		{64, 14, 64, 3, 1, 1, 1}, {32, 15, 64, 3, 2, 1, 1}, {64, 7, 128, 1, 1, 0, 1}, {16, 16, 32, 1, 1, 0, 1},
		{3, 23, 32, 3, 2, 1, 1}, {48, 12, 48, 3, 1, 1, 48}, {32, 9, 32, 5, 2, 2, 32},
	}
	lowerings := []convLowering{{forceGather: true}, {noGather: true}, {noGather: true, packPointwise: true}, {planeDepthwise: true}, {winograd: true}}
	for _, sh := range shapes {
		r := rand.New(rand.NewPCG(uint64(sh.c), uint64(sh.hw)))
		x, w := randTensor(r, 1, sh.c, sh.hw, sh.hw), randTensor(r, sh.m, sh.c/sh.group, sh.k, sh.k)
		attrs := map[string]any{"group": sh.group, "strides": []int{sh.stride, sh.stride}, "pads": []int{sh.pad, sh.pad, sh.pad, sh.pad}}
		run := func(l convLowering) []float32 {
			k, err := newConv(convTestNode("Conv", attrs, 2, nil, w))
			if err != nil {
				t.Fatal(err)
			}
			k.(*convKernel).lowering = l
			out, err := k.Run(NewContext(1), []*tensor.Tensor{x, w})
			if err != nil {
				t.Fatalf("%+v %+v: %v", sh, l, err)
			}
			return out[0].F32()
		}
		want := run(convLowering{})
		for _, l := range lowerings {
			got := run(l)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) {
					t.Fatalf("shape %+v, lowering %+v: y[%d] = %g, default lowering gives %g", sh, l, i, got[i], want[i])
				}
			}
		}
	}
}

// TestConvTunesLowering runs a convolution large enough to be timed on first use: both
// lowerings run, the kept one is remembered for the shape, a second kernel of the same shape
// takes it without timing, and every run agrees with the float64 definition.
func TestConvTunesLowering(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	x, w, b := randTensor(r, 1, 64, 28, 28), randTensor(r, 64, 64, 3, 3), randTensor(r, 64)
	attrs := map[string]any{"pads": []int{1, 1, 1, 1}}
	k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
	if err != nil {
		t.Fatal(err)
	}
	ck := k.(*convKernel)
	s, err := ck.newShape(x, w, ck.lowering)
	if err != nil {
		t.Fatal(err)
	}
	if !gemm.GatherFast() {
		t.Skip("no gather kernel on this machine: one lowering, nothing to time")
	}
	if s.tuneKey == "" {
		t.Fatal("a 58 MFLOP 3×3 convolution is not timed")
	}
	tunedLowerings.Delete(s.tuneKey)
	convAgreesWithRef(t, "tuning run", k, 1, x, w, b, 1, []int{1, 1}, []int{1, 1}, []int{1, 1})
	remembered, ok := tunedLowerings.Load(s.tuneKey)
	if !ok {
		t.Fatal("the timed lowering was not remembered")
	}
	gather, winograd := remembered.(convLowering).forceGather, remembered.(convLowering).winograd
	kept := ck.last.last.Load().value
	if kept.tuneKey != "" || kept.gather != gather || (kept.wino != nil) != winograd {
		t.Fatalf("kernel kept gather=%v, Winograd %v (tuneKey %q), remembered %+v", kept.gather, kept.wino != nil, kept.tuneKey, remembered)
	}
	convAgreesWithRef(t, "tuned run", k, 2, x, w, b, 1, []int{1, 1}, []int{1, 1}, []int{1, 1})
	other, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := other.(*convKernel).cachedShape(x, w)
	if err != nil {
		t.Fatal(err)
	}
	if s2.tuneKey != "" || s2.gather != gather || (s2.wino != nil) != winograd {
		t.Fatalf("a second kernel of the shape: gather=%v (tuneKey %q), remembered %v", s2.gather, s2.tuneKey, gather)
	}
}

// TestConvTuningIgnoresTheBatchSize: a batch run as parts of its rows, one per thread
// (runtime's row split), must take the lowering the whole batch takes, or its sums round
// differently on 2 threads than on 1. So whether a shape is timed, and the key its choice is
// remembered under, depend on the image, not on the batch size; and where kernels of one shape
// time it at once, the first choice remembered is the one all of them run.
func TestConvTuningIgnoresTheBatchSize(t *testing.T) {
	if !gemm.GatherFast() {
		t.Skip("no gather kernel on this machine: one lowering, nothing to time")
	}
	r := rand.New(rand.NewPCG(53, 54))
	attrs := map[string]any{"pads": []int{1, 1, 1, 1}}
	for _, sh := range []struct{ c, m, hw int }{
		{64, 64, 28}, // timed at any batch size
		{32, 32, 14}, // 3.6 MFLOP an image: timed at no batch size, 16 images or 1
	} {
		w := randTensor(r, sh.m, sh.c, 3, 3)
		k, err := newConv(convTestNode("Conv", attrs, 3, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		ck := k.(*convKernel)
		var keys []string
		for _, batch := range []int{1, 8, 16} {
			s, err := ck.newShape(randTensor(r, batch, sh.c, sh.hw, sh.hw), w, ck.lowering)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, s.tuneKey)
		}
		if keys[0] != keys[1] || keys[0] != keys[2] {
			t.Errorf("%+v: tune keys at batch 1, 8, 16: %q", sh, keys)
		}
	}
	lowerings := []convLowering{{timed: true, noGather: true}, {timed: true, forceGather: true}}
	key := "TestConvTuningIgnoresTheBatchSize"
	tunedLowerings.Delete(key)
	defer tunedLowerings.Delete(key)
	for i, timed := range []int{1, 0, 1} {
		kept, err := rememberLowering(key, lowerings, timed)
		if err != nil {
			t.Fatal(err)
		}
		if kept != 1 {
			t.Errorf("timing %d: kernel %d timed lowering %d fastest and kept %d; the first remembered is 1", i, i, timed, kept)
		}
	}
	if _, err := rememberLowering(key, lowerings[:1], 0); err == nil {
		t.Error("a remembered lowering that is not among the candidates was accepted")
	}
}

// TestConvLoweringsSteadyStateAllocations runs each lowering of ResNet-18's 28×28 3×3 shape —
// gather product, indirect GEMM, direct kernel, Winograd — and the patch matrix packed per
// block for a strided convolution with 256 output channels (layer 4's downsampling) on 1 and 2
// threads into a reused output: after the first runs, which fill the pools, a run allocates
// only the output's shape and the result slice. Work handed to the threads goes through the
// pools, not a task or closure per run (the Winograd lowering's own task had taken resnet18 on
// 2 threads from 8.5 to 14.4 allocations a run); the digits models, which
// TestSteadyStateAllocations holds, never take these lowerings.
func TestConvLoweringsSteadyStateAllocations(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	type shape struct{ c, hw, m, stride int }
	for _, tc := range []struct {
		shape
		lowerings []convLowering
	}{
		{shape{32, 28, 32, 1}, []convLowering{{forceGather: true}, {noGather: true}, {direct: true}, {winograd: true}}},
		{shape{32, 14, 256, 2}, []convLowering{{noGather: true}}},
	} {
		r := rand.New(rand.NewPCG(61, 62))
		x, w, b := randTensor(r, 1, tc.c, tc.hw, tc.hw), randTensor(r, tc.m, tc.c, 3, 3), randTensor(r, tc.m)
		attrs := map[string]any{"pads": []int{1, 1, 1, 1}, "strides": []int{tc.stride, tc.stride}}
		for _, l := range tc.lowerings {
			for _, threads := range []int{1, 2} {
				k, err := newConv(convTestNode("Conv", attrs, 3, nil, w, b))
				if err != nil {
					t.Fatal(err)
				}
				k.(*convKernel).lowering = l
				ctx := &Context{Threads: threads, Allocator: reusedOutput{}}
				run := func() {
					if _, err := k.Run(ctx, []*tensor.Tensor{x, w, b}); err != nil {
						t.Fatalf("%+v, lowering %+v: %v", tc.shape, l, err)
					}
				}
				run()
				run()
				if got := testing.AllocsPerRun(20, run); got > 2 {
					t.Errorf("%+v, lowering %+v, %d threads: %.1f allocations a run, want at most 2 (the output's shape and the result slice)", tc.shape, l, threads, got)
				}
			}
		}
	}
}
