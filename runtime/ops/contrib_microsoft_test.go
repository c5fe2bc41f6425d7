package ops_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// The com.microsoft contrib kernels are checked two ways: against float64 evaluations of the
// formulas in onnxruntime's ContribOperators documentation (always), and against onnxruntime
// itself, which implements them natively (when installed).

// runActswap runs a single-node model straight through the kernel registry (these tests stay
// independent of package runtime, which imports this one): inputs come from feeds or initializers.
func runActswap(m *onnx.ModelProto, feeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	g := m.GetGraph()
	if len(g.GetNode()) != 1 {
		return nil, fmt.Errorf("runActswap runs single-node models; %q has %d nodes", g.GetName(), len(g.GetNode()))
	}
	p := g.GetNode()[0]
	version := 0
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == p.GetDomain() || (o.GetDomain() == "ai.onnx" && p.GetDomain() == "") {
			version = int(o.GetVersion())
		}
	}
	values := map[string]*tensor.Tensor{}
	for _, init := range g.GetInitializer() {
		t, err := tensor.FromProto(init)
		if err != nil {
			return nil, err
		}
		values[init.GetName()] = t
	}
	for k, v := range feeds {
		values[k] = v
	}
	f, ok := ops.Lookup(p.GetDomain(), p.GetOpType(), version)
	if !ok {
		return nil, fmt.Errorf("%s:%s v%d not registered", p.GetDomain(), p.GetOpType(), version)
	}
	k, err := f(ops.NewNode(p, version))
	if err != nil {
		return nil, err
	}
	ins := make([]*tensor.Tensor, len(p.GetInput()))
	for i, name := range p.GetInput() {
		if name != "" {
			if ins[i] = values[name]; ins[i] == nil {
				return nil, fmt.Errorf("input %q has no value", name)
			}
		}
	}
	outs, err := k.Run(ops.NewContext(2), ins)
	if err != nil {
		return nil, err
	}
	res := map[string]*tensor.Tensor{}
	for i, name := range p.GetOutput() {
		if name != "" && i < len(outs) {
			res[name] = outs[i]
		}
	}
	return res, nil
}

func geluRef(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
func geluTanhRef(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// contribCase is one single-node model with its inputs in order.
type contribCase struct {
	name      string
	op        string
	attrs     []graphtest.Attr
	inputs    []*tensor.Tensor
	nOut      int
	outTypes  []tensor.DType                                // output types where not float32
	noORT     string                                        // why onnxruntime's CPU build cannot run the op (BiasAdd is CUDA-only)
	reference func(in [][]float64, shape []int) [][]float64 // nil: checked against onnxruntime only
}

func contribCases() []contribCase {
	r := graphtest.Seeded(7)
	x := graphtest.RandF32(r, 4, 2, 3, 8)
	bias := graphtest.RandF32(r, 1, 8)
	skip := graphtest.RandF32(r, 2, 2, 3, 8)
	gamma := graphtest.RandF32(r, 1.5, 8)
	beta := graphtest.RandF32(r, 0.5, 8)
	withBias := func(f func(float64) float64) func(in [][]float64, shape []int) [][]float64 {
		return func(in [][]float64, shape []int) [][]float64 {
			c := shape[len(shape)-1]
			y := make([]float64, len(in[0]))
			for i, v := range in[0] {
				if len(in) > 1 {
					v += in[1][i%c]
				}
				y[i] = f(v)
			}
			return [][]float64{y}
		}
	}
	skipLN := func(in [][]float64, shape []int) [][]float64 {
		c := shape[len(shape)-1]
		y := make([]float64, len(in[0]))
		sum := make([]float64, len(in[0]))
		for r := 0; r < len(y)/c; r++ {
			mean, sq := 0.0, 0.0
			for j := range c {
				s := in[0][r*c+j] + in[1][r*c+j]
				if len(in) > 4 {
					s += in[4][j]
				}
				sum[r*c+j] = s
				mean += s
			}
			mean /= float64(c)
			for j := range c {
				sq += (sum[r*c+j] - mean) * (sum[r*c+j] - mean)
			}
			inv := 1 / math.Sqrt(sq/float64(c)+1e-5)
			for j := range c {
				y[r*c+j] = (sum[r*c+j]-mean)*inv*in[2][j] + in[3][j]
			}
		}
		return [][]float64{y, nil, nil, sum}
	}
	a := graphtest.RandF32(r, 1, 2, 5, 3)
	b := graphtest.RandF32(r, 1, 4, 3)
	return []contribCase{
		{name: "gelu", op: "Gelu", inputs: []*tensor.Tensor{x}, nOut: 1, reference: withBias(geluRef)},
		{name: "bias_gelu", op: "BiasGelu", inputs: []*tensor.Tensor{x, bias}, nOut: 1, reference: withBias(geluRef)},
		{name: "fast_gelu", op: "FastGelu", inputs: []*tensor.Tensor{x}, nOut: 1, reference: withBias(geluTanhRef)},
		{name: "fast_gelu_bias", op: "FastGelu", inputs: []*tensor.Tensor{x, bias}, nOut: 1, reference: withBias(geluTanhRef)},
		{name: "quick_gelu", op: "QuickGelu", inputs: []*tensor.Tensor{x}, nOut: 1,
			reference: withBias(func(v float64) float64 { return v / (1 + math.Exp(-1.702*v)) })},
		{name: "quick_gelu_alpha", op: "QuickGelu", attrs: []graphtest.Attr{graphtest.A("alpha", float32(1.25))},
			inputs: []*tensor.Tensor{x}, nOut: 1,
			reference: withBias(func(v float64) float64 { return v / (1 + math.Exp(-1.25*v)) })},
		{name: "bias_add", op: "BiasAdd", inputs: []*tensor.Tensor{x, bias, skip}, nOut: 1,
			noORT: "onnxruntime implements BiasAdd for CUDA only",
			reference: func(in [][]float64, shape []int) [][]float64 {
				y := make([]float64, len(in[0]))
				for i := range y {
					y[i] = in[0][i] + in[1][i%8] + in[2][i]
				}
				return [][]float64{y}
			}},
		{name: "skip_layernorm", op: "SkipLayerNormalization", attrs: []graphtest.Attr{graphtest.A("epsilon", float32(1e-5))},
			inputs: []*tensor.Tensor{x, skip, gamma, beta, bias}, nOut: 4, reference: skipLN},
		{name: "fused_matmul_transB", op: "FusedMatMul",
			attrs:  []graphtest.Attr{graphtest.A("alpha", float32(0.5)), graphtest.A("transB", 1)},
			inputs: []*tensor.Tensor{a, b}, nOut: 1,
			reference: func(in [][]float64, _ []int) [][]float64 {
				y := make([]float64, 2*5*4)
				for bi := range 2 {
					for i := range 5 {
						for j := range 4 {
							s := 0.0
							for k := range 3 {
								s += in[0][bi*15+i*3+k] * in[1][j*3+k] // B is [4, 3]; op(B) = Bᵀ
							}
							y[bi*20+i*4+j] = 0.5 * s
						}
					}
				}
				return [][]float64{y}
			}},
		{name: "skip_simplified_layernorm", op: "SkipSimplifiedLayerNormalization", attrs: []graphtest.Attr{graphtest.A("epsilon", float32(1e-5))},
			inputs: []*tensor.Tensor{x, skip, gamma}, nOut: 4},
		{name: "skip_simplified_layernorm_bias", op: "SkipSimplifiedLayerNormalization", attrs: []graphtest.Attr{graphtest.A("epsilon", float32(1e-5))},
			inputs: []*tensor.Tensor{x, skip, gamma, bias}, nOut: 4},
		attentionCase("attention_nomask", nil, nil),
		attentionCase("attention_lengths", tensor.New([]int{2}, []int32{3, 2}), nil),
		attentionCase("attention_start_end", tensor.New([]int{4}, []int32{3, 3, 0, 1}), nil),
		attentionCase("attention_raw2d", tensor.New([]int{2, 3}, []int32{1, 1, 0, 1, 0, 1}), nil),
		attentionCase("attention_raw3d", tensor.New([]int{2, 3, 3}, []int32{1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1}), nil),
		attentionCase("attention_causal", tensor.New([]int{2, 3}, []int32{1, 1, 1, 1, 1, 0}), []graphtest.Attr{graphtest.A("unidirectional", 1)}),
		attentionCase("attention_scale", nil, []graphtest.Attr{graphtest.A("scale", float32(0.2))}),
		embedCase("embed_layernorm", true),
		embedCase("embed_layernorm_noseg", false),
		{name: "fused_matmul_transA", op: "FusedMatMul", attrs: []graphtest.Attr{graphtest.A("transA", 1)},
			inputs: []*tensor.Tensor{graphtest.RandF32(r, 1, 3, 4), graphtest.RandF32(r, 1, 2, 3, 5)}, nOut: 1},
	}
}

// attentionCase is com.microsoft Attention over [2, 3, 8] with 2 heads and the given mask_index.
func attentionCase(name string, mask *tensor.Tensor, attrs []graphtest.Attr) contribCase {
	r := graphtest.Seeded(uint64(len(name)))
	in := []*tensor.Tensor{graphtest.RandF32(r, 1, 2, 3, 8), graphtest.RandF32(r, 0.6, 8, 24), graphtest.RandF32(r, 0.3, 24)}
	if mask != nil {
		in = append(in, mask)
	}
	return contribCase{name: name, op: "Attention", attrs: append([]graphtest.Attr{graphtest.A("num_heads", 2)}, attrs...), inputs: in, nOut: 1}
}

// embedCase is com.microsoft EmbedLayerNormalization over int32 ids [2, 5], with or without
// segments, with a mask whose counts come out as mask_index.
func embedCase(name string, segments bool) contribCase {
	r := graphtest.Seeded(21)
	ids := tensor.New([]int{2, 5}, []int32{1, 4, 9, 0, 3, 7, 7, 2, 5, 8})
	seg := tensor.New([]int{2, 5}, []int32{0, 0, 1, 1, 1, 0, 1, 0, 1, 0})
	mask := tensor.New([]int{2, 5}, []int32{1, 1, 1, 1, 0, 1, 1, 0, 0, 0})
	word, pos, segEmb := graphtest.RandF32(r, 1, 10, 8), graphtest.RandF32(r, 1, 6, 8), graphtest.RandF32(r, 1, 2, 8)
	gamma, beta := graphtest.RandF32(r, 2, 8), graphtest.RandF32(r, 1, 8)
	if !segments {
		// A one-row segment table with all-zero ids: the embedding BERT exports without
		// token_type_ids carry.
		seg = tensor.New([]int{2, 5}, make([]int32, 10))
		segEmb = graphtest.RandF32(r, 1, 1, 8)
	}
	return contribCase{name: name, op: "EmbedLayerNormalization", attrs: []graphtest.Attr{graphtest.A("epsilon", float32(1e-5))},
		inputs: []*tensor.Tensor{ids, seg, word, pos, segEmb, gamma, beta, mask}, nOut: 2,
		outTypes: []tensor.DType{tensor.Float32, tensor.Int32}}
}

// buildContrib writes the case as a one-node com.microsoft model.
func buildContrib(tc contribCase) (*onnx.ModelProto, map[string]*tensor.Tensor) {
	b := graphtest.New(tc.name, 17).Opset("com.microsoft", 1)
	feeds := map[string]*tensor.Tensor{}
	var names []string
	for i, t := range tc.inputs {
		name := string(rune('a' + i))
		dims := make([]any, len(t.Shape))
		for j, d := range t.Shape {
			dims[j] = d
		}
		b.Input(name, t.DType, dims...)
		feeds[name] = t
		names = append(names, name)
	}
	outs := b.Node("com.microsoft", tc.op, names, tc.nOut, tc.attrs...)
	for i, o := range outs {
		if tc.nOut == 4 && (i == 1 || i == 2) {
			continue // SkipLayerNormalization's mean and inv_std_var are training outputs
		}
		dt := tensor.Float32
		if i < len(tc.outTypes) {
			dt = tc.outTypes[i]
		}
		b.Output(o, dt, graphtest.AnyRank)
	}
	return b.Model(), feeds
}

func TestMicrosoftContribAgainstFormulas(t *testing.T) {
	t.Parallel()
	for _, tc := range contribCases() {
		if tc.reference == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			m, feeds := buildContrib(tc)
			got, err := runActswap(m, feeds)
			if err != nil {
				t.Fatal(err)
			}
			var in [][]float64
			for _, x := range tc.inputs {
				vals := make([]float64, x.Len())
				for i, v := range x.F32() {
					vals[i] = float64(v)
				}
				in = append(in, vals)
			}
			want := tc.reference(in, tc.inputs[0].Shape)
			for i, out := range m.GetGraph().GetOutput() {
				idx := i
				if tc.nOut == 4 && i == 1 {
					idx = 3
				}
				g := got[out.GetName()]
				if g == nil || len(g.F32()) != len(want[idx]) {
					t.Fatalf("output %q missing or of the wrong size", out.GetName())
				}
				for j, w := range want[idx] {
					if d := math.Abs(float64(g.F32()[j]) - w); d > 1e-5+1e-5*math.Abs(w) {
						t.Fatalf("output %q[%d] = %g, want %g", out.GetName(), j, g.F32()[j], w)
					}
				}
			}
		})
	}
}

func TestMicrosoftContribAgainstOnnxruntime(t *testing.T) {
	t.Parallel()
	for _, tc := range contribCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.noORT != "" {
				t.Skip(tc.noORT)
			}
			m, feeds := buildContrib(tc)
			graphtest.AgreeWithORT(t, m, tc.name, feeds, runActswap, graphtest.RTol, graphtest.ATol)
		})
	}
}

// TestOnnxruntimeLayerNormBeforeOpset17: onnxruntime's optimizer writes LayerNormalization and
// SimplifiedLayerNormalization into opset-13 models (its own version-1 schemas); both run here.
func TestOnnxruntimeLayerNormBeforeOpset17(t *testing.T) {
	t.Parallel()
	r := graphtest.Seeded(9)
	for _, op := range []string{"LayerNormalization", "SimplifiedLayerNormalization"} {
		b := graphtest.New(op, 13)
		x := b.Input("x", tensor.Float32, "batch", 4, 8)
		in := []string{x, b.F32([]int{8}, graphtest.RandF32s(r, 2, 8)...)}
		if op == "LayerNormalization" {
			in = append(in, b.F32([]int{8}, graphtest.RandF32s(r, 1, 8)...))
		}
		y := b.Op(op, in, graphtest.A("axis", -1), graphtest.A("epsilon", float32(1e-5)))
		b.Output(y, tensor.Float32, "batch", 4, 8)
		feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 3, 2, 4, 8)}
		graphtest.AgreeWithORT(t, b.Model(), op, feeds, runActswap, graphtest.RTol, graphtest.ATol)
	}
}

// TestMicrosoftContribBadInputs: shape and type errors are reported, not panics.
func TestMicrosoftContribBadInputs(t *testing.T) {
	t.Parallel()
	r := graphtest.Seeded(3)
	x := graphtest.RandF32(r, 1, 2, 4)
	cases := []contribCase{
		{name: "bias_wrong_len", op: "BiasGelu", inputs: []*tensor.Tensor{x, graphtest.RandF32(r, 1, 3)}, nOut: 1},
		{name: "bias_add_rank2", op: "BiasAdd", inputs: []*tensor.Tensor{x, graphtest.RandF32(r, 1, 4), x}, nOut: 1},
		{name: "int_input", op: "Gelu", inputs: []*tensor.Tensor{graphtest.RandI64(r, 0, 3, 2)}, nOut: 1},
		{name: "matmul_inner", op: "FusedMatMul", inputs: []*tensor.Tensor{x, x}, nOut: 1},
	}
	for _, tc := range cases {
		m, feeds := buildContrib(tc)
		if _, err := runActswap(m, feeds); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
