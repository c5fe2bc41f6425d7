package graphtest

import (
	"math"
	"math/rand/v2"

	"github.com/actswap/actswap/tensor"
)

// Names in the model NestedGELUs builds, for tests that look for its sites.
const (
	NestedLoopNode       = "/loop" // the Loop node of the main graph
	NestedFunctionName   = "MLP"   // the model-local function (domain NestedFunctionDomain)
	NestedFunctionDomain = "local" // called twice from the main graph
	NestedWidth          = 8       // features of the input "x" [batch, NestedWidth]
)

// NestedGELUs builds a model whose activations hide where exporters put them: a ReLU in the main
// graph; an erf GELU chain inside the body of a Loop (3 iterations, weights read from the main
// graph's initializers, constants as Constant nodes in the body); and an erf GELU chain inside a
// model-local function local.MLP(x, w) = GELU(x·w), as torch.onnx's export_modules_as_functions
// writes one, called twice. Input "x" [batch, 8], one output [batch, 8]; opset 18.
func NestedGELUs(seed uint64) *Builder {
	r := Seeded(seed)
	b := New("nested", 18)
	x := b.Input("x", tensor.Float32, "batch", NestedWidth)
	weight := func() string {
		return b.Init("", RandF32(r, float32(1.5/math.Sqrt(NestedWidth)), NestedWidth, NestedWidth))
	}
	h := b.Op("MatMul", []string{b.Op("Relu", []string{x}), weight()})

	w2, b2 := weight(), b.Init("", RandF32(r, 0.3, NestedWidth))
	body := b.Body("loop_body")
	body.Input("iter", tensor.Int64)
	cond := body.Input("cond_in", tensor.Bool)
	hin := body.Input("h_in", tensor.Float32, nil, NestedWidth)
	u := body.Op("Add", []string{body.Op("MatMul", []string{hin, w2}), b2})
	hout := erfGELU(body, u)
	body.Output(body.Op("Identity", []string{cond}), tensor.Bool)
	body.Output(hout, tensor.Float32, nil, NestedWidth)
	loop := b.NamedNode(NestedLoopNode, "", "Loop", []string{b.ConstScalarI64(3), b.Const(tensor.Scalar(true)), h}, 1, A("body", body.Graph()))

	fb := New(NestedFunctionName, 18)
	erfGELU(fb, fb.Op("MatMul", []string{"x", "w"}))
	f := fb.Function(NestedFunctionDomain, NestedFunctionName, []string{"x", "w"}, []string{fb.g.Node[len(fb.g.Node)-1].GetOutput()[0]}, nil)
	b.AddFunction(f)
	y1 := b.Node(NestedFunctionDomain, NestedFunctionName, []string{loop[0], weight()}, 1)[0]
	y2 := b.Node(NestedFunctionDomain, NestedFunctionName, []string{y1, weight()}, 1)[0]
	b.Output(y2, tensor.Float32, "batch", NestedWidth)
	return b
}

// erfGELU writes PyTorch's erf GELU chain 0.5·x·(1 + erf(x/√2)) with Constant nodes and returns
// its output.
func erfGELU(b *Builder, x string) string {
	e := b.Op("Erf", []string{b.Op("Div", []string{x, b.ConstF32(float32(math.Sqrt2))})})
	p := b.Op("Add", []string{e, b.ConstF32(1)})
	return b.Op("Mul", []string{b.Op("Mul", []string{x, p}), b.ConstF32(0.5)})
}

// NestedInput is a batch of inputs for NestedGELUs.
func NestedInput(r *rand.Rand, rows int) *tensor.Tensor { return RandF32(r, 1, rows, NestedWidth) }
