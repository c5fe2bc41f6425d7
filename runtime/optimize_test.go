package runtime

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// optGraph is a small test graph: nodes over named values, with float32 initializers.
type optGraph struct {
	inputs  []*onnx.ValueInfoProto
	outputs []string
	inits   map[string]*tensor.Tensor
	nodes   []*onnx.NodeProto
	consts  int
}

func newOptGraph(input string, dims ...any) *optGraph {
	return &optGraph{inputs: []*onnx.ValueInfoProto{valueInfo(input, tensorType(tensor.Float32, dims...))},
		inits: map[string]*tensor.Tensor{}}
}

// c adds a float32 initializer and returns its name.
func (g *optGraph) c(shape []int, vals ...float32) string {
	g.consts++
	name := fmt.Sprintf("c%d", g.consts)
	g.inits[name] = tensor.New(shape, vals)
	return name
}

// op appends a node and returns its output's name.
func (g *optGraph) op(opType, out string, inputs ...string) string {
	g.nodes = append(g.nodes, mkNode("", opType, out, inputs, []string{out}))
	return out
}

func (g *optGraph) model() *onnx.ModelProto {
	gp := &onnx.GraphProto{Name: proto.String("opt"), Input: g.inputs, Node: g.nodes}
	for _, o := range g.outputs {
		gp.Output = append(gp.Output, valueInfo(o, &onnx.TypeProto{}))
	}
	for name, t := range g.inits {
		gp.Initializer = append(gp.Initializer, tensor.ToProto(t, name))
	}
	return mkModel(gp)
}

// ramp fills a tensor with values spread over [-span, span].
func ramp(shape []int, span float32) *tensor.Tensor {
	t := tensor.Zeros(tensor.Float32, shape)
	d := t.F32()
	for i := range d {
		d[i] = span * (2*float32(i%97)/96 - 1)
	}
	return t
}

// checkOptimized compiles m with and without optimizations, checks the pass counts in want, and
// compares every graph output on feeds.
func checkOptimized(t *testing.T, m *onnx.ModelProto, want map[string]int, feeds map[string]*tensor.Tensor, tol float64) map[string]*tensor.Tensor {
	t.Helper()
	opt, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewSession(m, WithoutOptimizations())
	if err != nil {
		t.Fatal(err)
	}
	counts := opt.Optimizations()
	for name, n := range want {
		if counts[name] != n {
			t.Errorf("pass %s fired %d times, want %d (all: %v)", name, counts[name], n, counts)
		}
	}
	a, err := opt.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	b, err := plain.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opt.Outputs() {
		if msg := compareValues(a[o.Name], b[o.Name], tol, tol); msg != "" {
			t.Errorf("output %q: optimized vs unoptimized: %s", o.Name, msg)
		}
	}
	return a
}

func TestIdentityAndDropoutRemoval(t *testing.T) {
	g := newOptGraph("x", 2, 3)
	a := g.op("Identity", "a", "x")
	b := g.op("Dropout", "b", a)
	y := g.op("Relu", "y", b)
	y2 := g.op("Identity", "y2", y) // a graph output: stays
	g.outputs = []string{y, y2}
	m := g.model()
	x := ramp([]int{2, 3}, 2)
	checkOptimized(t, m, map[string]int{"identity_removal": 2}, map[string]*tensor.Tensor{"x": x}, 0)

	// A removed value can still be asked for: the unoptimized graph answers.
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(map[string]*tensor.Tensor{"x": x}, "b", "y")
	if err != nil {
		t.Fatal(err)
	}
	if msg := compareValues(got["b"], x, 0, 0); msg != "" {
		t.Errorf("removed value b: %s", msg)
	}
}

func TestDropoutInTrainingModeStays(t *testing.T) {
	g := newOptGraph("x", 2, 3)
	ratio := g.c([]int{}, 0.5)
	g.inits["train"] = tensor.New([]int{}, []bool{true})
	g.nodes = append(g.nodes, mkNode("", "Dropout", "d", []string{"x", ratio, "train"}, []string{"y"}))
	g.outputs = []string{"y2"}
	g.op("Identity", "y2", "y")
	s, err := NewSession(g.model())
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Optimizations()["identity_removal"]; n != 0 {
		t.Errorf("identity_removal fired %d times on a training-mode Dropout", n)
	}
}

func TestBatchNormFolding(t *testing.T) {
	for _, withBias := range []bool{true, false} {
		t.Run(fmt.Sprint("bias=", withBias), func(t *testing.T) {
			g := newOptGraph("x", 1, 2, 5, 5)
			w := ramp([]int{3, 2, 3, 3}, 0.5)
			g.inits["w"] = w
			conv := []string{"x", "w"}
			if withBias {
				conv = append(conv, g.c([]int{3}, 0.1, -0.2, 0.3))
			}
			g.nodes = append(g.nodes, mkNode("", "Conv", "conv", conv, []string{"c"},
				&onnx.AttributeProto{Name: proto.String("pads"), Ints: []int64{1, 1, 1, 1}, Type: onnx.AttributeProto_INTS.Enum()}))
			scale, bias := g.c([]int{3}, 1.5, 0.5, -1), g.c([]int{3}, 0.2, 0, -0.3)
			mean, variance := g.c([]int{3}, 0.1, -0.4, 0.25), g.c([]int{3}, 0.9, 2, 0.04)
			g.nodes = append(g.nodes, mkNode("", "BatchNormalization", "bn", []string{"c", scale, bias, mean, variance},
				[]string{"n"}, floatAttr("epsilon", 1e-3)))
			g.outputs = []string{g.op("Relu", "y", "n")}
			checkOptimized(t, g.model(), map[string]int{"batchnorm_folding": 1, "activation_fusion": 1},
				map[string]*tensor.Tensor{"x": ramp([]int{1, 2, 5, 5}, 3)}, 1e-5)
		})
	}
}

func TestBatchNormNotFoldedWhenConvOutputIsShared(t *testing.T) {
	g := newOptGraph("x", 1, 1, 3, 3)
	g.inits["w"] = ramp([]int{1, 1, 1, 1}, 1)
	g.op("Conv", "c", "x", "w")
	one, zero := g.c([]int{1}, 1), g.c([]int{1}, 0)
	g.op("BatchNormalization", "n", "c", one, zero, zero, one)
	g.outputs = []string{"n", "c"}
	checkOptimized(t, g.model(), map[string]int{"batchnorm_folding": 0},
		map[string]*tensor.Tensor{"x": ramp([]int{1, 1, 3, 3}, 1)}, 0)
}

// geluChains are the exporters' spellings of GELU that gelu_fusion must recognise. rounded
// marks chains whose constants are not the exact ones (float16 spellings, folded products), so
// the unfused chain itself is only within 1e-3 of GELU.
var geluChains = []struct {
	name    string
	tanh    bool
	build   func(g *optGraph) string
	rounded bool
}{
	{"erf Div, Mul(x) then Mul(0.5)", false, func(g *optGraph) string {
		d := g.op("Div", "d", "x", g.c(nil, float32(math.Sqrt2)))
		e := g.op("Erf", "e", d)
		a := g.op("Add", "a", e, g.c(nil, 1))
		m := g.op("Mul", "m", "x", a)
		return g.op("Mul", "y", m, g.c(nil, 0.5))
	}, false},
	{"erf Mul(1/√2), Mul(0.5·x, ·)", false, func(g *optGraph) string {
		d := g.op("Mul", "d", g.c(nil, float32(1/math.Sqrt2)), "x")
		e := g.op("Erf", "e", d)
		a := g.op("Add", "a", g.c(nil, 1), e)
		h := g.op("Mul", "h", "x", g.c(nil, 0.5))
		return g.op("Mul", "y", a, h)
	}, false},
	{"tanh Pow", true, func(g *optGraph) string {
		p := g.op("Pow", "p", "x", g.c(nil, 3))
		c := g.op("Mul", "c", p, g.c(nil, 0.044715))
		s := g.op("Add", "s", "x", c)
		u := g.op("Mul", "u", s, g.c(nil, float32(math.Sqrt(2/math.Pi))))
		th := g.op("Tanh", "t", u)
		a := g.op("Add", "a", th, g.c(nil, 1))
		m := g.op("Mul", "m", "x", a)
		return g.op("Mul", "y", m, g.c(nil, 0.5))
	}, false},
	{"tanh x·(x·x), 0.5 first", true, func(g *optGraph) string {
		sq := g.op("Mul", "sq", "x", "x")
		p := g.op("Mul", "p", sq, "x")
		c := g.op("Mul", "c", g.c(nil, 0.044715), p)
		s := g.op("Add", "s", c, "x")
		u := g.op("Mul", "u", g.c(nil, float32(math.Sqrt(2/math.Pi))), s)
		th := g.op("Tanh", "t", u)
		a := g.op("Add", "a", th, g.c(nil, 1))
		m := g.op("Mul", "m", a, g.c(nil, 0.5))
		return g.op("Mul", "y", "x", m)
	}, false},
	// A float16 export's constants: √2 is 1.4140625, 1.5e-4 off (the runtime's own 1e-5
	// tolerance left these chains unfused before it shared the rewriter's patterns).
	{"erf with float16 constants", false, func(g *optGraph) string {
		d := g.op("Div", "d", "x", g.c(nil, 1.4140625))
		e := g.op("Erf", "e", d)
		a := g.op("Add", "a", e, g.c(nil, 1))
		m := g.op("Mul", "m", "x", a)
		return g.op("Mul", "y", m, g.c(nil, 0.5))
	}, true},
	{"tanh Megatron x·(1 + 0.044715·x·x)", true, func(g *optGraph) string {
		sq := g.op("Mul", "sq", "x", "x")
		c := g.op("Mul", "c", g.c(nil, 0.044715), sq)
		s := g.op("Add", "s", g.c(nil, 1), c)
		u := g.op("Mul", "u", g.op("Mul", "xs", "x", g.c(nil, 0.79788456)), s)
		a := g.op("Add", "a", g.op("Tanh", "t", u), g.c(nil, 1))
		return g.op("Mul", "y", g.op("Mul", "h", "x", g.c(nil, 0.5)), a)
	}, false},
	{"tanh folded 0.797885·x + 0.035677·x³", true, func(g *optGraph) string {
		p := g.op("Pow", "p", "x", g.c(nil, 3))
		s := g.op("Add", "s", g.op("Mul", "l", g.c(nil, 0.797885), "x"), g.op("Mul", "c", p, g.c(nil, 0.035677)))
		a := g.op("Add", "a", g.op("Tanh", "t", s), g.c(nil, 1))
		return g.op("Mul", "y", g.op("Mul", "m", "x", a), g.c(nil, 0.5))
	}, true},
}

func TestGeluFusion(t *testing.T) {
	for _, c := range geluChains {
		t.Run(c.name, func(t *testing.T) {
			g := newOptGraph("x", 3, 100)
			g.outputs = []string{c.build(g)}
			x := ramp([]int{3, 100}, 8)
			x.F32()[5] = float32(math.NaN())
			tol := 1e-5
			if c.rounded {
				tol = 1e-3
			}
			got := checkOptimized(t, g.model(), map[string]int{"gelu_fusion": 1}, map[string]*tensor.Tensor{"x": x}, tol)
			y := got["y"].F32()
			for i, v := range x.F32() {
				want := geluRef(float64(v), c.tanh)
				if math.IsNaN(want) != math.IsNaN(float64(y[i])) || !math.IsNaN(want) && math.Abs(float64(y[i])-want) > 2e-6*max(1, math.Abs(want)) {
					t.Fatalf("gelu(%v) = %v, want %v", v, y[i], want)
				}
			}
		})
	}
	// An inner value that is also a graph output keeps the chain as written.
	g := newOptGraph("x", 4)
	g.outputs = []string{geluChains[0].build(g), "e"}
	checkOptimized(t, g.model(), map[string]int{"gelu_fusion": 0}, map[string]*tensor.Tensor{"x": ramp([]int{4}, 2)}, 0)
}

func TestGeluF32Accuracy(t *testing.T) {
	xs := make([]float32, 0, 4001)
	for i := -2000; i <= 2000; i++ {
		xs = append(xs, float32(i)/100)
	}
	xs = append(xs, float32(math.Inf(1)), float32(math.Inf(-1)), -1e-30, 1e-30)
	for _, tanh := range []bool{false, true} {
		got := make([]float32, len(xs))
		(&geluKernel{tanh: tanh}).f32()(got, xs)
		for i, x := range xs {
			want := geluRef(float64(x), tanh)
			if x < -10 {
				want = 0 // the kernels flush to the limit (-∞·Φ(-∞) would be NaN)
			}
			if math.IsNaN(float64(got[i])) || math.Abs(float64(got[i])-want) > 1e-6*max(1, math.Abs(want)) {
				t.Errorf("tanh=%v: gelu(%v) = %v, want %v", tanh, x, got[i], want)
			}
		}
	}
}

func TestMatMulBiasActivationFusion(t *testing.T) {
	build := func(rank int, act string) *onnx.ModelProto {
		dims := []any{2, 3, 4}[3-rank:]
		g := newOptGraph("x", dims...)
		g.inits["w"] = ramp([]int{4, 5}, 1)
		mm := g.op("MatMul", "mm", "x", "w")
		a := g.op("Add", "a", g.c([]int{5}, 0.1, -0.2, 0.3, -0.4, 0.5), mm)
		g.outputs = []string{g.op(act, "y", a)}
		return g.model()
	}
	for _, rank := range []int{3, 2, 1} { // rank 1 takes the unfused steps
		for _, act := range []string{"Relu", "Sigmoid"} {
			t.Run(fmt.Sprint(rank, act), func(t *testing.T) {
				shape := []int{2, 3, 4}[3-rank:]
				fused := 0
				if act == "Relu" {
					fused = 1
				}
				checkOptimized(t, build(rank, act), map[string]int{"matmul_bias_fusion": 1, "activation_fusion": fused},
					map[string]*tensor.Tensor{"x": ramp(shape, 2)}, 1e-5)
			})
		}
	}
}

func TestIntegerMatMulReluNotFused(t *testing.T) {
	gp := &onnx.GraphProto{Name: proto.String("int"),
		Input:       []*onnx.ValueInfoProto{valueInfo("x", tensorType(tensor.Int32, 2, 2))},
		Output:      []*onnx.ValueInfoProto{valueInfo("y", tensorType(tensor.Int32, 2, 2))},
		Initializer: []*onnx.TensorProto{tensor.ToProto(tensor.New([]int{2, 2}, []int32{1, -2, 3, -4}), "w")},
		Node: []*onnx.NodeProto{mkNode("", "MatMul", "mm", []string{"x", "w"}, []string{"m"}),
			mkNode("", "Relu", "r", []string{"m"}, []string{"y"})}}
	checkOptimized(t, mkModel(gp), map[string]int{"activation_fusion": 0},
		map[string]*tensor.Tensor{"x": tensor.New([]int{2, 2}, []int32{1, 2, 3, 4})}, 0)
}

// TestRecycledBuffersKeepResults: outputs a caller holds are never handed to a later run, and
// repeated runs (which recycle intermediate buffers) give the same values.
func TestRecycledBuffersKeepResults(t *testing.T) {
	g := newOptGraph("x", 2, 8, 16)
	g.inits["w1"] = ramp([]int{16, 32}, 0.5)
	g.inits["w2"] = ramp([]int{32, 16}, 0.5)
	h := g.op("MatMul", "h", "x", "w1")
	r := g.op("Relu", "r", h)
	v := g.op("Reshape", "v", r, "shape")
	g.inits["shape"] = nil
	delete(g.inits, "shape")
	gp := g.model()
	gp.Graph.Initializer = append(gp.Graph.Initializer, tensor.ToProto(tensor.New([]int{2}, []int64{16, 32}), "shape"))
	gp.Graph.Node = append(gp.Graph.Node, mkNode("", "MatMul", "o", []string{v, "w2"}, []string{"o"}),
		mkNode("", "Add", "sum", []string{"o", "o"}, []string{"y"}))
	gp.Graph.Output = []*onnx.ValueInfoProto{valueInfo("y", &onnx.TypeProto{}), valueInfo("v", &onnx.TypeProto{})}
	s, err := NewSession(gp)
	if err != nil {
		t.Fatal(err)
	}
	if s.buffers == nil {
		t.Fatal("session does not recycle buffers")
	}
	x1, x2 := ramp([]int{2, 8, 16}, 1), ramp([]int{2, 8, 16}, 3)
	first, err := s.Run(map[string]*tensor.Tensor{"x": x1})
	if err != nil {
		t.Fatal(err)
	}
	keep := map[string]*tensor.Tensor{"y": first["y"].Clone(), "v": first["v"].Clone()}
	for i := 0; i < 3; i++ {
		if _, err := s.Run(map[string]*tensor.Tensor{"x": x2}); err != nil {
			t.Fatal(err)
		}
	}
	again, err := s.Run(map[string]*tensor.Tensor{"x": x1})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range keep {
		if msg := compareValues(first[name], want, 0, 0); msg != "" {
			t.Errorf("held output %q changed under later runs: %s", name, msg)
		}
		if msg := compareValues(again[name], want, 0, 0); msg != "" {
			t.Errorf("output %q differs on a repeated run: %s", name, msg)
		}
	}
}

// shapeModel reshapes x[batch,6] to [batch,2,3] through the exporters' Shape → Gather →
// Unsqueeze → Concat chain, and also outputs the shape of NonZero(x), which depends on x's values.
func shapeModel() *onnx.ModelProto {
	g := newOptGraph("x", "batch", 6)
	g.inits["zero"] = tensor.New([]int{}, []int64{0})
	g.inits["axes"] = tensor.New([]int{1}, []int64{0})
	g.inits["rest"] = tensor.New([]int{2}, []int64{2, 3})
	sh := g.op("Shape", "sh", "x")
	b := g.op("Gather", "b", sh, "zero")
	b1 := g.op("Unsqueeze", "b1", b, "axes")
	g.nodes = append(g.nodes, mkNode("", "Concat", "target", []string{b1, "rest"}, []string{"target"},
		&onnx.AttributeProto{Name: proto.String("axis"), I: proto.Int64(0), Type: onnx.AttributeProto_INT.Enum()}))
	r := g.op("Reshape", "r", "x", "target")
	y := g.op("Relu", "y", r)
	nz := g.op("NonZero", "nz", "x")
	g.outputs = []string{y, g.op("Shape", "nzshape", nz)}
	return g.model()
}

func TestShapeCaching(t *testing.T) {
	s, err := NewSession(shapeModel())
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Optimizations()["shape_caching"]; n != 4 {
		t.Errorf("shape_caching wrapped %d nodes, want 4 (Shape, Gather, Unsqueeze, Concat; not the Shape of NonZero)", n)
	}
	for i, batch := range []int{1, 2, 1, 3, 2} {
		x := ramp([]int{batch, 6}, 1)
		if i >= 2 {
			x.F32()[0] = 0 // a different count of non-zeros with the same shape
		}
		got, err := s.Run(map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		if y := got["y"]; !slices.Equal(y.Shape, []int{batch, 2, 3}) {
			t.Fatalf("run %d: y has shape %v, want [%d 2 3]", i, y.Shape, batch)
		}
		nonzero := 0
		for _, v := range x.F32() {
			if v != 0 {
				nonzero++
			}
		}
		if nz := got["nzshape"].Data.([]int64); nz[1] != int64(nonzero) {
			t.Fatalf("run %d: NonZero found %d values, want %d", i, nz[1], nonzero)
		}
	}
	// A shape-derived value handed to the caller is the caller's own.
	x := ramp([]int{2, 6}, 1)
	got, err := s.Run(map[string]*tensor.Tensor{"x": x}, "target")
	if err != nil {
		t.Fatal(err)
	}
	got["target"].Data.([]int64)[0] = 99
	again, err := s.Run(map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again["y"].Shape, []int{2, 2, 3}) {
		t.Errorf("after the caller modified a returned shape value, y has shape %v", again["y"].Shape)
	}
}

func TestAddActivationFusion(t *testing.T) {
	g := newOptGraph("x", 2, 3, 40)
	g.inits["w"] = ramp([]int{40, 40}, 0.2)
	h := g.op("MatMul", "h", "x", "w")
	s := g.op("Add", "s", h, "x")
	g.outputs = []string{g.op("Relu", "y", s)}
	checkOptimized(t, g.model(), map[string]int{"add_activation_fusion": 1},
		map[string]*tensor.Tensor{"x": ramp([]int{2, 3, 40}, 2)}, 1e-6)

	// Broadcast operands take the unfused kernels.
	g = newOptGraph("x", 2, 3, 4)
	g.inputs = append(g.inputs, valueInfo("b", tensorType(tensor.Float32, 4)))
	g.outputs = []string{g.op("Relu", "y", g.op("Add", "s", "x", "b"))}
	checkOptimized(t, g.model(), map[string]int{"add_activation_fusion": 1},
		map[string]*tensor.Tensor{"x": ramp([]int{2, 3, 4}, 2), "b": ramp([]int{4}, 1)}, 0)
}

func TestReluInPlace(t *testing.T) {
	for n := 0; n <= 70; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i%9) - 4.5
		}
		if n > 5 {
			x[5] = float32(math.NaN())
		}
		y := append([]float32(nil), x...)
		ops.ReluInPlace(y)
		for i, v := range x {
			want := max(v, 0)
			if y[i] != want && !(math.IsNaN(float64(want)) && math.IsNaN(float64(y[i]))) {
				t.Fatalf("n=%d: relu(%v) = %v", n, v, y[i])
			}
		}
	}
}

func TestLayerNormKernel(t *testing.T) {
	for _, d := range []int{1, 5, 8, 19, 192} {
		for _, withBias := range []bool{true, false} {
			t.Run(fmt.Sprint("d=", d, ",bias=", withBias), func(t *testing.T) {
				g := newOptGraph("x", "batch", 3, d)
				g.inits["scale"] = ramp([]int{d}, 2)
				inputs := []string{"x", "scale"}
				if withBias {
					g.inits["bias"] = ramp([]int{d}, 0.5)
					inputs = append(inputs, "bias")
				}
				g.nodes = append(g.nodes, mkNode("", "LayerNormalization", "ln", inputs, []string{"y"},
					floatAttr("epsilon", 1e-3)))
				g.outputs = []string{"y"}
				x := ramp([]int{2, 3, d}, 4)
				for i := range x.F32() {
					x.F32()[i] += 100 // a large mean: the variance must not cancel
				}
				checkOptimized(t, g.model(), map[string]int{"layernorm_kernel": 1}, map[string]*tensor.Tensor{"x": x}, 2e-5)
			})
		}
	}
	// Mean requested: the original kernel stays.
	g := newOptGraph("x", 2, 4)
	g.inits["scale"] = ramp([]int{4}, 1)
	g.nodes = append(g.nodes, mkNode("", "LayerNormalization", "ln", []string{"x", "scale"}, []string{"y", "mean"}))
	g.outputs = []string{"y", "mean"}
	checkOptimized(t, g.model(), map[string]int{"layernorm_kernel": 0}, map[string]*tensor.Tensor{"x": ramp([]int{2, 4}, 1)}, 0)
}
