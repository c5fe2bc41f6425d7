package runtime_test

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// Exporter-shaped models built in Go (BERT- and GPT-2-like transformers as the TorchScript and
// dynamo exporters write them, a dynamo graph full of shape arithmetic, a MobileNet-style CNN),
// each run in actswap and onnxruntime at two batch and two sequence (or spatial) sizes, before and
// after rewrite.Apply. They stand in for exporter output we do not have in testdata: the patterns
// (Shape→Gather→Unsqueeze→Concat→Reshape views, int64 masks turned additive, decomposed
// LayerNorm, constant subgraphs) are the ones real exports contain.

// modelDims are a model's sizes. Tests use small ones (smallDims) so they stay fast; the
// "_large" cases build at BERT-mini-like sizes (largeDims: hidden 96, 4 heads, FFN 384, 64
// positions), where the runtime's blocked and vectorised paths take over.
type modelDims struct {
	hidden, heads, headDim, ffn, maxPos int
}

var (
	smallDims = modelDims{hidden: 16, heads: 2, headDim: 8, ffn: 32, maxPos: 16}
	largeDims = modelDims{hidden: 96, heads: 4, headDim: 24, ffn: 384, maxPos: 64}
)

const (
	vocab = 30
	// finfoMin is torch.finfo(torch.float32).min, the mask value of recent transformers releases.
	finfoMin = -3.4028234663852886e38
)

// exporter wraps a graphtest.Builder with the layers the models share.
type exporter struct {
	*graphtest.Builder
	modelDims
	r     *rand.Rand
	opset int
}

func newExporter(name string, opset int, seed uint64) *exporter {
	return &exporter{Builder: graphtest.New(name, opset), modelDims: smallDims, r: graphtest.Seeded(seed), opset: opset}
}

// weight is a float32 initializer scaled like PyTorch's default init (±1/√fanIn).
func (e *exporter) weight(fanIn int, shape ...int) string {
	n := tensor.NumElements(shape)
	return e.F32(shape, graphtest.RandF32s(e.r, float32(1/math.Sqrt(float64(fanIn))), n)...)
}

func (e *exporter) scalar(v float32) string { return e.F32([]int{}, v) }

func (e *exporter) linear(x string, in, out int) string {
	return e.Op("Add", []string{e.Op("MatMul", []string{x, e.weight(in, in, out)}), e.weight(in, out)})
}

// unsqueeze uses the axes attribute before opset 13 and the axes input from 13 on.
func (e *exporter) unsqueeze(x string, axes ...int64) string {
	if e.opset < 13 {
		return e.Op("Unsqueeze", []string{x}, graphtest.A("axes", axes))
	}
	return e.Op("Unsqueeze", []string{x, e.ConstI64(axes...)})
}

// dim is Shape(x)[i] as a scalar int64 (Shape→Gather with a scalar index).
func (e *exporter) dim(x string, i int64) string {
	return e.Op("Gather", []string{e.Op("Shape", []string{x}), e.ConstScalarI64(i)}, graphtest.A("axis", 0))
}

// layerNorm over the last axis of hidden features: the opset-17 op, or the decomposition the
// TorchScript exporter wrote before it (ReduceMean/Sub/Pow/Sqrt/Div), axes as attribute (opset
// 13) or input (opset 18).
func (e *exporter) layerNorm(x, style string) string {
	g := graphtest.RandF32s(e.r, 0.2, e.hidden)
	for i := range g {
		g[i]++ // around 1, as trained LayerNorm scales are
	}
	gamma := e.F32([]int{e.hidden}, g...)
	beta := e.weight(4, e.hidden)
	if style == "op" {
		return e.Op("LayerNormalization", []string{x, gamma, beta}, graphtest.A("axis", -1), graphtest.A("epsilon", float32(1e-12)))
	}
	mean := func(v string) string {
		if style == "decomp18" {
			return e.Op("ReduceMean", []string{v, e.ConstI64(-1)})
		}
		return e.Op("ReduceMean", []string{v}, graphtest.A("axes", []int64{-1}))
	}
	centred := e.Op("Sub", []string{x, mean(x)})
	variance := mean(e.Op("Pow", []string{centred, e.scalar(2)}))
	std := e.Op("Sqrt", []string{e.Op("Add", []string{variance, e.scalar(1e-12)})})
	return e.Op("Add", []string{e.Op("Mul", []string{e.Op("Div", []string{centred, std}), gamma}), beta})
}

// geluErf is the TorchScript export of exact GELU: x·0.5·(1 + erf(x/√2)).
func (e *exporter) geluErf(x string) string {
	erf := e.Op("Erf", []string{e.Op("Div", []string{x, e.scalar(1.4142135381698608)})})
	return e.Op("Mul", []string{e.Op("Mul", []string{x, e.Op("Add", []string{erf, e.scalar(1)})}), e.scalar(0.5)})
}

// geluTanh is GPT-2's "gelu_new": 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) with Pow(x, 3);
// c is the √(2/π) value (an initializer, or a constant subgraph in dynamo exports).
func (e *exporter) geluTanh(x, c string) string {
	cube := e.Op("Pow", []string{x, e.scalar(3)})
	inner := e.Op("Add", []string{x, e.Op("Mul", []string{cube, e.scalar(0.044715)})})
	t := e.Op("Tanh", []string{e.Op("Mul", []string{inner, c})})
	return e.Op("Mul", []string{e.Op("Mul", []string{e.scalar(0.5), x}), e.Op("Add", []string{e.scalar(1), t})})
}

// splitHeads views [b, s, hidden] as [b, heads, s, headDim]: through a Concat of dims computed
// from Shape (as exporters trace x.size(0), x.size(1)), or a literal [0, -1, heads, headDim].
func (e *exporter) splitHeads(x string, computed bool) string {
	shape := e.ConstI64(0, -1, int64(e.heads), int64(e.headDim))
	if computed {
		shape = e.Op("Concat", []string{e.unsqueeze(e.dim(x, 0), 0), e.unsqueeze(e.dim(x, 1), 0), e.ConstI64(int64(e.heads), int64(e.headDim))}, graphtest.A("axis", 0))
	}
	return e.Op("Transpose", []string{e.Op("Reshape", []string{x, shape})}, graphtest.A("perm", []int64{0, 2, 1, 3}))
}

func (e *exporter) mergeHeads(x string) string {
	t := e.Op("Transpose", []string{x}, graphtest.A("perm", []int64{0, 2, 1, 3}))
	return e.Op("Reshape", []string{t, e.ConstI64(0, -1, int64(e.hidden))})
}

// attention is scaled dot-product attention over [b, heads, s, headDim] with an additive mask
// (broadcastable to [b, heads, s, s]) or a boolean keep-mask turned into finfo.min by Where.
func (e *exporter) attention(q, k, v, addMask, keepMask string) string {
	kt := e.Op("Transpose", []string{k}, graphtest.A("perm", []int64{0, 1, 3, 2}))
	scores := e.Op("Div", []string{e.Op("MatMul", []string{q, kt}), e.scalar(float32(math.Sqrt(float64(e.headDim))))})
	if addMask != "" {
		scores = e.Op("Add", []string{scores, addMask})
	}
	if keepMask != "" {
		scores = e.Op("Where", []string{keepMask, scores, e.scalar(finfoMin)})
	}
	return e.Op("MatMul", []string{e.Op("Softmax", []string{scores}, graphtest.A("axis", -1)), v})
}

// bertStyle selects how a BERT variant is exported.
type bertStyle struct {
	opset     int
	layerNorm string // "op", "decomp13", "decomp18"
	mask      string // "mul10000", "mulmin" (Sub(1, m)·finfo.min), "where" (Where(mask, 0, -inf))
	computed  bool   // head views from Shape arithmetic rather than literal shapes
	attnOp    bool   // opset-23 Attention op for the attention core
	large     bool   // largeDims rather than smallDims
}

// buildBERT is a 2-layer post-norm encoder with word, position and token-type embeddings and a
// pooler, fed int64 input_ids and attention_mask [batch, seq].
func buildBERT(name string, st bertStyle) *onnx.ModelProto {
	e := newExporter(name, st.opset, 1)
	if st.large {
		e.modelDims = largeDims
	}
	ids := e.Input("input_ids", tensor.Int64, "batch", "seq")
	mask := e.Input("attention_mask", tensor.Int64, "batch", "seq")

	words := e.Op("Gather", []string{e.weight(1, vocab, e.hidden), ids})
	shape := e.Op("Shape", []string{ids})
	seq := e.Op("Gather", []string{shape, e.ConstScalarI64(1)}, graphtest.A("axis", 0))
	pos := e.Op("Range", []string{e.ConstScalarI64(0), seq, e.ConstScalarI64(1)})
	pos = e.Op("Expand", []string{e.unsqueeze(pos, 0), shape})
	positions := e.Op("Gather", []string{e.weight(1, e.maxPos, e.hidden), pos})
	zeros := e.Op("ConstantOfShape", []string{shape}, graphtest.A("value", tensor.New([]int{1}, []int64{0})))
	types := e.Op("Gather", []string{e.weight(1, 2, e.hidden), zeros})
	h := e.layerNorm(e.Op("Add", []string{e.Op("Add", []string{words, positions}), types}), st.layerNorm)

	// The extended attention mask [b, 1, 1, s].
	var addMask, keepMask string
	switch st.mask {
	case "mul10000", "mulmin":
		m := e.Op("Cast", []string{e.unsqueeze(mask, 1, 2)}, graphtest.A("to", int(tensor.Float32)))
		inv := e.Op("Sub", []string{e.scalar(1), m})
		big := float32(-10000)
		if st.mask == "mulmin" {
			big = finfoMin
		}
		addMask = e.Op("Mul", []string{inv, e.scalar(big)})
	case "where":
		keep := e.Op("Cast", []string{e.unsqueeze(mask, 1, 2)}, graphtest.A("to", int(tensor.Bool)))
		addMask = e.Op("Where", []string{keep, e.scalar(0), e.scalar(float32(math.Inf(-1)))})
	case "keep":
		keepMask = e.Op("Cast", []string{e.unsqueeze(mask, 1, 2)}, graphtest.A("to", int(tensor.Bool)))
	}

	for range 2 {
		q := e.splitHeads(e.linear(h, e.hidden, e.hidden), st.computed)
		k := e.splitHeads(e.linear(h, e.hidden, e.hidden), st.computed)
		v := e.splitHeads(e.linear(h, e.hidden, e.hidden), st.computed)
		var ctx string
		if st.attnOp {
			// onnxruntime's Attention wants the mask's query axis spelled out: [b, 1, s, s].
			s := e.unsqueeze(seq, 0)
			full := e.Op("Concat", []string{e.unsqueeze(e.dim(ids, 0), 0), e.ConstI64(1), s, s}, graphtest.A("axis", 0))
			ctx = e.Node("", "Attention", []string{q, k, v, e.Op("Expand", []string{addMask, full})}, 1)[0]
		} else {
			ctx = e.attention(q, k, v, addMask, keepMask)
		}
		attn := e.linear(e.mergeHeads(ctx), e.hidden, e.hidden)
		h = e.layerNorm(e.Op("Add", []string{attn, h}), st.layerNorm)
		ff := e.linear(e.geluErf(e.linear(h, e.hidden, e.ffn)), e.ffn, e.hidden)
		h = e.layerNorm(e.Op("Add", []string{ff, h}), st.layerNorm)
	}
	first := e.Op("Gather", []string{h, e.ConstScalarI64(0)}, graphtest.A("axis", 1))
	pooled := e.Op("Tanh", []string{e.linear(first, e.hidden, e.hidden)})
	e.Output(h, tensor.Float32, "batch", "seq", e.hidden)
	e.Output(pooled, tensor.Float32, "batch", e.hidden)
	return e.Model()
}

// buildBERTOptimized is buildBERT's architecture as onnxruntime's transformer optimizer leaves it:
// int32 casts of the inputs, com.microsoft EmbedLayerNormalization, Attention with packed QKV
// weights and a mask_index, SkipLayerNormalization with the output bias folded in, and BiasGelu
// (layer 1) or FastGelu with bias (layer 2).
func buildBERTOptimized() *onnx.ModelProto {
	e := newExporter("bert_ort_optimized", 14, 7)
	e.Opset("com.microsoft", 1)
	i32 := func(v string) string { return e.Op("Cast", []string{v}, graphtest.A("to", int(tensor.Int32))) }
	ids := i32(e.Input("input_ids", tensor.Int64, "batch", "seq"))
	types := i32(e.Input("token_type_ids", tensor.Int64, "batch", "seq"))
	mask := i32(e.Input("attention_mask", tensor.Int64, "batch", "seq"))
	ms := func(op string, in []string, nOut int, attrs ...graphtest.Attr) []string {
		return e.Node("com.microsoft", op, in, nOut, attrs...)
	}
	gamma := func() string {
		g := graphtest.RandF32s(e.r, 0.2, e.hidden)
		for i := range g {
			g[i]++
		}
		return e.F32([]int{e.hidden}, g...)
	}
	emb := ms("EmbedLayerNormalization", []string{ids, types, e.weight(1, vocab, e.hidden), e.weight(1, e.maxPos, e.hidden),
		e.weight(1, 2, e.hidden), gamma(), e.weight(4, e.hidden), mask}, 2, graphtest.A("epsilon", float32(1e-12)))
	h, maskIndex := emb[0], emb[1]
	eps := graphtest.A("epsilon", float32(1e-12))
	for layer := range 2 {
		ctx := ms("Attention", []string{h, e.weight(e.hidden, e.hidden, 3*e.hidden), e.weight(e.hidden, 3*e.hidden), maskIndex}, 1, graphtest.A("num_heads", e.heads))[0]
		attn := e.Op("MatMul", []string{ctx, e.weight(e.hidden, e.hidden, e.hidden)})
		h = ms("SkipLayerNormalization", []string{attn, h, gamma(), e.weight(4, e.hidden), e.weight(e.hidden, e.hidden)}, 1, eps)[0]
		up := e.Op("MatMul", []string{h, e.weight(e.hidden, e.hidden, e.ffn)})
		var act string
		if layer == 0 {
			act = ms("BiasGelu", []string{up, e.weight(e.hidden, e.ffn)}, 1)[0]
		} else {
			act = ms("FastGelu", []string{up, e.weight(e.hidden, e.ffn)}, 1)[0]
		}
		down := e.Op("MatMul", []string{act, e.weight(e.ffn, e.ffn, e.hidden)})
		h = ms("SkipLayerNormalization", []string{down, h, gamma(), e.weight(4, e.hidden), e.weight(e.ffn, e.hidden)}, 1, eps)[0]
	}
	first := e.Op("Gather", []string{h, e.ConstScalarI64(0)}, graphtest.A("axis", 1))
	pooled := e.Op("Tanh", []string{e.Op("Gemm", []string{first, e.weight(e.hidden, e.hidden, e.hidden), e.weight(e.hidden, e.hidden)})})
	e.Output(h, tensor.Float32, "batch", "seq", e.hidden)
	e.Output(pooled, tensor.Float32, "batch", e.hidden)
	return e.Model()
}

// tokenFeeds are input_ids and an attention mask with padding at the end of some rows (every row
// keeps its first token).
func tokenFeeds(r *rand.Rand, batch, seq int) map[string]*tensor.Tensor {
	mask := make([]int64, batch*seq)
	for b := range batch {
		keep := seq - b%seq // row b pads its last b tokens
		for s := range keep {
			mask[b*seq+s] = 1
		}
	}
	return map[string]*tensor.Tensor{
		"input_ids":      graphtest.RandI64(r, 0, vocab, batch, seq),
		"attention_mask": tensor.New([]int{batch, seq}, mask),
	}
}

// gpt2Style selects how the GPT-2 block is exported.
type gpt2Style struct {
	opset     int
	splitAttr bool   // Split with num_outputs (opset 18) rather than a split-sizes input
	causal    string // "trilu", "range" (Range/Less/Where) or "slice" (of a constant buffer)
	conv1D    bool   // HF GPT-2 Conv1D: flatten to 2-D, Gemm, reshape back with a computed shape
	large     bool   // largeDims rather than smallDims
}

// conv1D is HF GPT-2's Conv1D as traced: x.view(-1, in) → addmm (Gemm) → view(x.shape[:-1] + (out,)).
func (e *exporter) conv1D(x string, in, out int) string {
	flat := e.Op("Reshape", []string{x, e.ConstI64(-1, int64(in))})
	y := e.Op("Gemm", []string{flat, e.weight(in, in, out), e.weight(in, out)})
	lead := e.Op("Slice", []string{e.Op("Shape", []string{x}), e.ConstI64(0), e.ConstI64(-1)})
	return e.Op("Reshape", []string{y, e.Op("Concat", []string{lead, e.ConstI64(int64(out))}, graphtest.A("axis", 0))})
}

// buildGPT2 is one pre-norm GPT-2 block (past-free) over token and position embeddings.
func buildGPT2(name string, st gpt2Style) *onnx.ModelProto {
	e := newExporter(name, st.opset, 2)
	if st.large {
		e.modelDims = largeDims
	}
	ids := e.Input("input_ids", tensor.Int64, "batch", "seq")
	shape := e.Op("Shape", []string{ids})
	seq := e.Op("Gather", []string{shape, e.ConstScalarI64(1)}, graphtest.A("axis", 0))
	pos := e.unsqueeze(e.Op("Range", []string{e.ConstScalarI64(0), seq, e.ConstScalarI64(1)}), 0)
	x := e.Op("Add", []string{e.Op("Gather", []string{e.weight(1, vocab, e.hidden), ids}), e.Op("Gather", []string{e.weight(1, e.maxPos, e.hidden), pos})})

	ln := "op" // before opset 17 the exporter decomposes LayerNorm
	if st.opset < 17 {
		ln = "decomp13"
	}
	var qkv string
	if st.conv1D {
		qkv = e.conv1D(e.layerNorm(x, ln), e.hidden, 3*e.hidden)
	} else {
		qkv = e.linear(e.layerNorm(x, ln), e.hidden, 3*e.hidden)
	}
	var parts []string
	if st.splitAttr {
		parts = e.Node("", "Split", []string{qkv}, 3, graphtest.A("axis", 2), graphtest.A("num_outputs", 3))
	} else {
		parts = e.Node("", "Split", []string{qkv, e.ConstI64(int64(e.hidden), int64(e.hidden), int64(e.hidden))}, 3, graphtest.A("axis", 2))
	}
	q, k, v := e.splitHeads(parts[0], true), e.splitHeads(parts[1], true), e.splitHeads(parts[2], true)

	var keep string
	switch st.causal {
	case "trilu":
		square := e.Op("Concat", []string{e.unsqueeze(seq, 0), e.unsqueeze(seq, 0)}, graphtest.A("axis", 0))
		ones := e.Op("ConstantOfShape", []string{square}, graphtest.A("value", tensor.New([]int{1}, []float32{1})))
		keep = e.Op("Cast", []string{e.Op("Trilu", []string{ones}, graphtest.A("upper", 0))}, graphtest.A("to", int(tensor.Bool)))
	case "range":
		r := e.Op("Range", []string{e.ConstScalarI64(0), seq, e.ConstScalarI64(1)})
		future := e.Op("Less", []string{e.unsqueeze(r, 1), e.unsqueeze(r, 0)}) // key index after query index
		keep = e.Op("Not", []string{future})
	case "slice":
		// HF GPT-2: the registered bool buffer bias[:, :, k-q:k, :k] of a lower-triangular
		// [1, 1, maxPos, maxPos] constant; here query and key lengths are both seq.
		tri := make([]bool, e.maxPos*e.maxPos)
		for i := range e.maxPos {
			for j := 0; j <= i; j++ {
				tri[i*e.maxPos+j] = true
			}
		}
		buf := e.Init("", tensor.New([]int{1, 1, e.maxPos, e.maxPos}, tri))
		kl := e.unsqueeze(e.dim(k, 2), 0)
		ql := e.unsqueeze(e.dim(q, 2), 0)
		rows := e.Op("Slice", []string{buf, e.Op("Sub", []string{kl, ql}), kl, e.ConstI64(2), e.ConstI64(1)})
		keep = e.Op("Slice", []string{rows, e.ConstI64(0), kl, e.ConstI64(3), e.ConstI64(1)})
	}
	ctx := e.attention(q, k, v, "", keep)
	x = e.Op("Add", []string{x, e.linear(e.mergeHeads(ctx), e.hidden, e.hidden)})
	sqrt2pi := e.scalar(float32(math.Sqrt(2 / math.Pi)))
	mlp := e.linear(e.geluTanh(e.linear(e.layerNorm(x, ln), e.hidden, 4*e.hidden), sqrt2pi), 4*e.hidden, e.hidden)
	x = e.layerNorm(e.Op("Add", []string{x, mlp}), ln)
	// Next-token logits of the last position, x[:, -1] @ wteᵀ.
	last := e.Op("Gather", []string{x, e.ConstScalarI64(-1)}, graphtest.A("axis", 1))
	logits := e.Op("MatMul", []string{last, e.Op("Transpose", []string{e.weight(1, vocab, e.hidden)}, graphtest.A("perm", []int64{1, 0}))})
	e.Output(x, tensor.Float32, "batch", "seq", e.hidden)
	e.Output(logits, tensor.Float32, "batch", vocab)
	return e.Model()
}

// buildDynamo is opset-18 dynamo-exporter shape work around a tanh-GELU MLP: constants computed by
// subgraphs, views from Shape→Gather→Unsqueeze→Concat→Reshape, int64 shape arithmetic, Expand to a
// computed shape, Slice to INT64_MAX, Squeeze/Unsqueeze with axes inputs, Shape with start.
func buildDynamo() *onnx.ModelProto {
	e := newExporter("dynamo18", 18, 3)
	x := e.Input("x", tensor.Float32, "batch", "seq", e.hidden)
	// √(2/π) as torch._decomp writes it: a float64 constant subgraph cast like x.
	two := e.Const(tensor.Scalar(2.0))
	pi := e.Const(tensor.Scalar(math.Pi))
	c := e.Op("Sqrt", []string{e.Op("CastLike", []string{e.Op("Div", []string{two, pi}), x})})

	b := e.unsqueeze(e.dim(x, 0), 0)
	s := e.unsqueeze(e.dim(x, 1), 0)
	// Expand a learned bias to [b, s, hidden] computed from the input's shape.
	full := e.Op("Concat", []string{b, s, e.ConstI64(int64(e.hidden))}, graphtest.A("axis", 0))
	bias := e.Op("Expand", []string{e.weight(4, 1, 1, e.hidden), full})
	// x.expand(-1, -1, hidden) as TorchScript writes it: -1 entries replaced by 1 via
	// ConstantOfShape/Mul/Equal/Where before Expand.
	want := e.Op("Concat", []string{e.ConstI64(-1), e.ConstI64(-1), e.ConstI64(int64(e.hidden))}, graphtest.A("axis", 0))
	ones := e.Op("ConstantOfShape", []string{e.ConstI64(3)}, graphtest.A("value", tensor.New([]int{1}, []int64{1})))
	minus := e.Op("Mul", []string{ones, e.ConstScalarI64(-1)})
	shape := e.Op("Where", []string{e.Op("Equal", []string{want, minus}), ones, want})
	bias = e.Op("Add", []string{bias, e.Op("Expand", []string{e.weight(4, 1, 1, 1), shape})})
	h := e.Op("Add", []string{x, bias})
	h = e.geluTanh(e.linear(h, e.hidden, e.ffn), c)
	h = e.linear(h, e.ffn, e.hidden)

	// View as heads, keep the second half of each head (Slice to INT64_MAX), flatten back with
	// sizes computed in int64 arithmetic: seq·heads·(headDim/2).
	view := e.Op("Concat", []string{b, s, e.ConstI64(int64(e.heads)), e.ConstI64(-1)}, graphtest.A("axis", 0))
	heads4 := e.Op("Reshape", []string{h, view})
	half := e.Op("Slice", []string{heads4, e.ConstI64(int64(e.headDim) / 2), e.ConstI64(math.MaxInt64), e.ConstI64(3), e.ConstI64(1)})
	flatDim := e.Op("Mul", []string{e.dim(x, 1), e.ConstScalarI64(int64(e.heads * e.headDim / 2))})
	flat := e.Op("Reshape", []string{half, e.Op("Concat", []string{b, e.unsqueeze(flatDim, 0)}, graphtest.A("axis", 0))})

	// Drop the first position (Slice 1:INT64_MAX on axis 1 with the axes input), then
	// Unsqueeze/ReduceMean/Squeeze with axes inputs.
	tail := e.Op("Slice", []string{h, e.ConstI64(1), e.ConstI64(math.MaxInt64), e.ConstI64(1)})
	u := e.Op("Unsqueeze", []string{tail, e.ConstI64(1)})
	m := e.Op("ReduceMean", []string{u, e.ConstI64(2)}, graphtest.A("keepdims", 1))
	sq := e.Op("Squeeze", []string{m, e.ConstI64(1, 2)})
	// The last dim read with Shape(start=-1) scales the result (as x.shape[-1] ** -0.5 would).
	last := e.Op("Cast", []string{e.Op("Shape", []string{x}, graphtest.A("start", -1))}, graphtest.A("to", int(tensor.Float32)))
	scaled := e.Op("Div", []string{sq, e.Op("Sqrt", []string{last})})

	// x[:, 0] = cls (aten::index_put → ScatterND) and x[arange(b), 0] (aten::index → GatherND),
	// with [b, 2] indices built from Range over the batch.
	rows := e.unsqueeze(e.Op("Range", []string{e.ConstScalarI64(0), e.dim(x, 0), e.ConstScalarI64(1)}), 1)
	idx := e.Op("Concat", []string{rows, e.Op("Mul", []string{rows, e.ConstScalarI64(0)})}, graphtest.A("axis", 1))
	cls := e.Op("Expand", []string{e.weight(1, 1, e.hidden), e.Op("Concat", []string{b, e.ConstI64(int64(e.hidden))}, graphtest.A("axis", 0))})
	put := e.Op("ScatterND", []string{h, idx, cls})
	picked := e.Op("GatherND", []string{e.Op("Add", []string{put, x}), idx})

	e.Output(flat, tensor.Float32, "batch", nil)
	e.Output(scaled, tensor.Float32, "batch", e.hidden)
	e.Output(picked, tensor.Float32, "batch", e.hidden)
	return e.Model()
}

// buildCNN mixes the ops ResNet/MobileNet/EfficientNet exports emit, over a [batch, 3, H, W] image
// with dynamic batch and spatial size.
func buildCNN() *onnx.ModelProto {
	e := newExporter("mobilenetish", 17, 4)
	x := e.Input("image", tensor.Float32, "batch", 3, "height", "width")
	conv := func(x string, in, out, k, stride, group int) string {
		p := int64(k / 2)
		return e.Op("Conv", []string{x, e.weight(in/group*k*k, out, in/group, k, k), e.weight(in*k*k, out)},
			graphtest.A("kernel_shape", []int64{int64(k), int64(k)}), graphtest.A("strides", []int64{int64(stride), int64(stride)}),
			graphtest.A("pads", []int64{p, p, p, p}), graphtest.A("group", group))
	}
	squeezeExcite := func(x string, c int, gate string) string {
		s := e.Op("GlobalAveragePool", []string{x})
		s = e.Op("Relu", []string{conv(s, c, c/2, 1, 1, 1)})
		s = e.Op(gate, []string{conv(s, c/2, c, 1, 1, 1)})
		return e.Op("Mul", []string{x, s})
	}
	h := e.Op("HardSwish", []string{conv(x, 3, 8, 3, 2, 1)})
	d := conv(h, 8, 8, 3, 1, 8) // depthwise
	d = e.Op("Clip", []string{d, e.scalar(0), e.scalar(6)})
	d = squeezeExcite(d, 8, "Sigmoid")
	d = squeezeExcite(d, 8, "HardSigmoid")
	h = e.Op("Add", []string{h, conv(d, 8, 8, 1, 1, 1)})

	// Branches of equal size: Pad+AveragePool, and pool-down then Resize back (nearest, linear).
	padded := e.Op("Pad", []string{h, e.ConstI64(0, 0, 1, 1, 0, 0, 1, 1), e.scalar(0)})
	avg := e.Op("AveragePool", []string{padded}, graphtest.A("kernel_shape", []int64{3, 3}))
	down := e.Op("AveragePool", []string{h}, graphtest.A("kernel_shape", []int64{2, 2}), graphtest.A("strides", []int64{2, 2}))
	scales := e.F32([]int{4}, 1, 1, 2, 2)
	near := e.Op("Resize", []string{down, "", scales}, graphtest.A("mode", "nearest"))
	lin := e.Op("Resize", []string{down, "", scales}, graphtest.A("mode", "linear"))
	cat := e.Op("Relu", []string{e.Op("Concat", []string{avg, near, lin, h}, graphtest.A("axis", 1))})
	flat := e.Op("Flatten", []string{e.Op("GlobalAveragePool", []string{cat})}, graphtest.A("axis", 1))
	logits := e.Op("Gemm", []string{flat, e.weight(32, 10, 32), e.weight(32, 10)}, graphtest.A("transB", 1))
	e.Output(logits, tensor.Float32, "batch", 10)
	e.Output(cat, tensor.Float32, "batch", 32, nil, nil)
	return e.Model()
}

// buildCNNDynamo is an EfficientNet/ResNet-flavoured opset-18 export: BatchNormalization kept as
// a node, SiLU as Sigmoid·x, dilated convolution, MaxPool with pads and ceil_mode, reflect Pad with
// an axes input, Resize to sizes computed from Shape (align_corners linear), AveragePool counting
// padding, and a ReduceMean head with an axes input.
func buildCNNDynamo() *onnx.ModelProto {
	e := newExporter("efficientnetish", 18, 6)
	x := e.Input("image", tensor.Float32, "batch", 3, "height", "width")
	bn := func(x string, c int) string {
		v := graphtest.RandF32s(e.r, 0.5, c)
		for i := range v {
			v[i] += 1 // running variance > 0
		}
		return e.Op("BatchNormalization", []string{x, e.weight(1, c), e.weight(1, c), e.weight(1, c), e.F32([]int{c}, v...)},
			graphtest.A("epsilon", float32(1e-3)))
	}
	silu := func(x string) string { return e.Op("Mul", []string{x, e.Op("Sigmoid", []string{x})}) }
	h := silu(bn(e.Op("Conv", []string{x, e.weight(27, 8, 3, 3, 3)}, graphtest.A("pads", []int64{1, 1, 1, 1}), graphtest.A("strides", []int64{2, 2})), 8))
	h = e.Op("MaxPool", []string{h}, graphtest.A("kernel_shape", []int64{3, 3}), graphtest.A("strides", []int64{2, 2}),
		graphtest.A("pads", []int64{1, 1, 1, 1}), graphtest.A("ceil_mode", 1))
	d := e.Op("Conv", []string{h, e.weight(72, 8, 8, 3, 3), e.weight(72, 8)}, graphtest.A("pads", []int64{2, 2, 2, 2}), graphtest.A("dilations", []int64{2, 2}))
	h = e.Op("Relu", []string{e.Op("Add", []string{bn(d, 8), h})})
	padded := e.Op("Pad", []string{h, e.ConstI64(1, 1, 1, 1), e.scalar(0), e.ConstI64(2, 3)}, graphtest.A("mode", "reflect"))
	sm := e.Op("AveragePool", []string{padded}, graphtest.A("kernel_shape", []int64{3, 3}), graphtest.A("pads", []int64{1, 1, 1, 1}),
		graphtest.A("count_include_pad", 1), graphtest.A("strides", []int64{2, 2}))
	shape := e.Op("Shape", []string{h})
	sizes := e.Op("Concat", []string{e.Op("Slice", []string{shape, e.ConstI64(0), e.ConstI64(2)}),
		e.Op("Slice", []string{shape, e.ConstI64(2), e.ConstI64(math.MaxInt64)})}, graphtest.A("axis", 0))
	up := e.Op("Resize", []string{sm, "", "", sizes}, graphtest.A("mode", "linear"), graphtest.A("coordinate_transformation_mode", "align_corners"))
	h = e.Op("Concat", []string{h, up}, graphtest.A("axis", 1))
	pooled := e.Op("ReduceMean", []string{h, e.ConstI64(2, 3)}, graphtest.A("keepdims", 0))
	logits := e.Op("Gemm", []string{pooled, e.weight(16, 10, 16), e.weight(16, 10)}, graphtest.A("transB", 1))
	e.Output(logits, tensor.Float32, "batch", 10)
	e.Output(up, tensor.Float32, "batch", 8, nil, nil)
	return e.Model()
}

// buildDynamoFunctions is how torch 2.1–2.4's dynamo exporter wrote models: aten ops as
// model-local onnxscript functions (a function calling another, an attribute passed by reference,
// CastLike'd Constants inside bodies) called from a thin main graph.
func buildDynamoFunctions() *onnx.ModelProto {
	const lib = "pkg.onnxscript.torch_lib"
	e := newExporter("dynamo_functions", 18, 8)

	lin := graphtest.New("aten_linear", 18)
	wt := lin.Op("Transpose", []string{"weight"}, graphtest.A("perm", []int64{1, 0}))
	lout := lin.Op("Add", []string{lin.Op("MatMul", []string{"input", wt}), "bias"})
	linear := lin.Function(lib, "aten_linear", []string{"input", "weight", "bias"}, []string{lout}, nil)

	gelu := graphtest.New("_aten_gelu_approximate_none", 18)
	half := gelu.Op("CastLike", []string{gelu.Const(tensor.Scalar(0.5)), "self"})
	one := gelu.Op("CastLike", []string{gelu.Const(tensor.Scalar(1.0)), "self"})
	root := gelu.Op("CastLike", []string{gelu.Const(tensor.Scalar(math.Sqrt2)), "self"})
	erf := gelu.Op("Erf", []string{gelu.Op("Div", []string{"self", root})})
	out := gelu.Op("Mul", []string{gelu.Op("Mul", []string{half, "self"}), gelu.Op("Add", []string{erf, one})})
	geluFn := gelu.Function(lib, "_aten_gelu_approximate_none", []string{"self"}, []string{out}, nil)

	leaky := graphtest.New("aten_leaky_relu", 18)
	lo := leaky.Op("LeakyRelu", []string{"self"}, graphtest.A("alpha", graphtest.Ref{Name: "negative_slope", Type: onnx.AttributeProto_FLOAT}))
	leakyFn := leaky.Function(lib, "aten_leaky_relu", []string{"self"}, []string{lo}, []string{"negative_slope"})

	// A block function calling the others.
	blk := graphtest.New("block", 18)
	h := blk.Node(lib, "aten_linear", []string{"x", "w", "b"}, 1)[0]
	h = blk.Node(lib, "_aten_gelu_approximate_none", []string{h}, 1)[0]
	blkFn := blk.Function(lib, "block", []string{"x", "w", "b"}, []string{h}, nil)

	for _, f := range []*onnx.FunctionProto{linear, geluFn, leakyFn, blkFn} {
		e.AddFunction(f)
	}
	x := e.Input("x", tensor.Float32, "batch", "seq", e.hidden)
	y := e.Node(lib, "block", []string{x, e.weight(e.hidden, e.ffn, e.hidden), e.weight(e.hidden, e.ffn)}, 1)[0]
	y = e.Node(lib, "aten_leaky_relu", []string{y}, 1, graphtest.A("negative_slope", float32(0.1)))[0]
	y = e.Node(lib, "aten_linear", []string{y, e.weight(e.ffn, e.hidden, e.ffn), e.weight(e.ffn, e.hidden)}, 1)[0]
	e.Output(y, tensor.Float32, "batch", "seq", e.hidden)
	return e.Model()
}

// buildSDPA is torch_lib's scaled_dot_product_attention as the dynamo exporter decomposes it:
// the scale √(1/√d) computed from Shape(start=-1) and applied to q and kᵀ, a bool key mask turned
// into 0/−inf by Where, and NaN rows (every key masked) zeroed by Where(IsNaN) after Softmax. The
// LayerNormalization in front has all three outputs, as aten::native_layer_norm exports.
func buildSDPA() *onnx.ModelProto {
	e := newExporter("sdpa_dynamo18", 18, 9)
	x := e.Input("x", tensor.Float32, "batch", "seq", e.hidden)
	keep := e.Input("key_mask", tensor.Bool, "batch", "seq")
	ln := e.Node("", "LayerNormalization", []string{x, e.weight(1, e.hidden), e.weight(4, e.hidden)}, 3, graphtest.A("epsilon", float32(1e-5)))
	view := func(t string) string {
		shape := e.Op("Concat", []string{e.unsqueeze(e.dim(t, 0), 0), e.unsqueeze(e.dim(t, 1), 0), e.ConstI64(int64(e.heads), int64(e.headDim))}, graphtest.A("axis", 0))
		r := e.Op("Reshape", []string{t, shape}, graphtest.A("allowzero", 1))
		return e.Op("Transpose", []string{r}, graphtest.A("perm", []int64{0, 2, 1, 3}))
	}
	q, k, v := view(e.linear(ln[0], e.hidden, e.hidden)), view(e.linear(ln[0], e.hidden, e.hidden)), view(e.linear(ln[0], e.hidden, e.hidden))
	d := e.Op("CastLike", []string{e.Op("Shape", []string{q}, graphtest.A("start", -1)), q})
	scale := e.Op("Div", []string{e.scalar(1), e.Op("Sqrt", []string{d})})
	root := e.Op("Sqrt", []string{scale})
	kt := e.Op("Transpose", []string{k}, graphtest.A("perm", []int64{0, 1, 3, 2}))
	scores := e.Op("MatMul", []string{e.Op("Mul", []string{q, root}), e.Op("Mul", []string{kt, root})})
	mask := e.Op("Where", []string{e.unsqueeze(keep, 1, 2), e.scalar(0), e.scalar(float32(math.Inf(-1)))})
	w := e.Op("Softmax", []string{e.Op("Add", []string{scores, mask})}, graphtest.A("axis", -1))
	w = e.Op("Where", []string{e.Op("IsNaN", []string{w}), e.scalar(0), w})
	out := e.linear(e.mergeHeads(e.Op("MatMul", []string{w, v})), e.hidden, e.hidden)
	e.Output(out, tensor.Float32, "batch", "seq", e.hidden)
	e.Output(ln[1], tensor.Float32, "batch", "seq", 1)
	return e.Model()
}

// buildRecurrent is torch.nn.LSTM(batch_first, bidirectional) → GRU → ReLU head as TorchScript
// exports them: Transpose to time-major, zero initial states from ConstantOfShape of a Concat with
// the traced batch size, Y [seq, dirs, batch, hidden] merged by Transpose/Reshape, the last time
// step taken by Gather(-1).
func buildRecurrent() *onnx.ModelProto {
	const in, hid = 8, 6
	e := newExporter("lstm_gru_ts14", 14, 10)
	x := e.Input("x", tensor.Float32, "batch", "seq", in)
	t := e.Op("Transpose", []string{x}, graphtest.A("perm", []int64{1, 0, 2}))
	batch := e.unsqueeze(e.dim(x, 0), 0)
	zeros := func(dirs int64) string {
		shape := e.Op("Concat", []string{e.ConstI64(dirs), batch, e.ConstI64(hid)}, graphtest.A("axis", 0))
		return e.Op("ConstantOfShape", []string{shape}, graphtest.A("value", tensor.New([]int{1}, []float32{0})))
	}
	h0 := zeros(2)
	lstm := e.Node("", "LSTM", []string{t, e.weight(hid, 2, 4*hid, in), e.weight(hid, 2, 4*hid, hid), e.weight(hid, 2, 8*hid), "", h0, zeros(2)}, 3,
		graphtest.A("hidden_size", hid), graphtest.A("direction", "bidirectional"))
	merged := e.Op("Reshape", []string{e.Op("Transpose", []string{lstm[0]}, graphtest.A("perm", []int64{0, 2, 1, 3})), e.ConstI64(0, 0, -1)})
	gru := e.Node("", "GRU", []string{merged, e.weight(hid, 1, 3*hid, 2*hid), e.weight(hid, 1, 3*hid, hid), e.weight(hid, 1, 6*hid), "", zeros(1)}, 2,
		graphtest.A("hidden_size", hid), graphtest.A("linear_before_reset", 1))
	seqOut := e.Op("Squeeze", []string{gru[0], e.ConstI64(1)}) // [seq, batch, hid]
	last := e.Op("Gather", []string{seqOut, e.ConstScalarI64(-1)}, graphtest.A("axis", 0))
	logits := e.linear(e.Op("Relu", []string{e.linear(last, hid, hid)}), hid, 3)
	e.Output(logits, tensor.Float32, "batch", 3)
	e.Output(lstm[1], tensor.Float32, 2, "batch", hid)
	return e.Model()
}

// buildT5 is a T5-v1.1-style encoder layer as TorchScript exports it: relative-position buckets
// computed in the graph (Range, Sub, Abs, Less, Log of a float cast, Cast back to int64 — of −inf
// where the distance is 0, a value Where then discards — Min, Where), gathered into an additive
// [1, heads, s, s] bias; unscaled attention; T5LayerNorm as Pow/ReduceMean/Add/Sqrt/Reciprocal/Mul;
// the gated tanh-GELU feed-forward.
func buildT5() *onnx.ModelProto {
	const buckets, exact, maxDist = 32, 8, 128
	e := newExporter("t5_ts17", 17, 11)
	ids := e.Input("input_ids", tensor.Int64, "batch", "seq")
	h := e.Op("Gather", []string{e.weight(1, vocab, e.hidden), ids})
	seq := e.dim(ids, 1)
	r := e.Op("Range", []string{e.ConstScalarI64(0), seq, e.ConstScalarI64(1)})
	rel := e.Op("Sub", []string{e.unsqueeze(r, 0), e.unsqueeze(r, 1)}) // memory − context, [s, s]
	half := int64(buckets / 2)
	side := e.Op("Mul", []string{e.Op("Cast", []string{e.Op("Greater", []string{rel, e.ConstScalarI64(0)})}, graphtest.A("to", int(tensor.Int64))), e.ConstScalarI64(half)})
	n := e.Op("Abs", []string{rel})
	small := e.Op("Less", []string{n, e.ConstScalarI64(exact)})
	logRatio := e.Op("Log", []string{e.Op("Div", []string{e.Op("Cast", []string{n}, graphtest.A("to", int(tensor.Float32))), e.scalar(exact)})})
	scaled := e.Op("Mul", []string{e.Op("Div", []string{logRatio, e.scalar(float32(math.Log(maxDist / exact)))}), e.scalar(float32(half - exact))})
	large := e.Op("Add", []string{e.Op("Cast", []string{scaled}, graphtest.A("to", int(tensor.Int64))), e.ConstScalarI64(exact)})
	large = e.Op("Min", []string{large, e.Op("Sub", []string{e.ConstScalarI64(half), e.ConstScalarI64(1)})})
	bucket := e.Op("Add", []string{side, e.Op("Where", []string{small, n, large})})
	posBias := e.Op("Gather", []string{e.weight(1, buckets, e.heads), bucket}) // [s, s, heads]
	posBias = e.unsqueeze(e.Op("Transpose", []string{posBias}, graphtest.A("perm", []int64{2, 0, 1})), 0)

	rms := func(x string) string {
		variance := e.Op("ReduceMean", []string{e.Op("Pow", []string{x, e.scalar(2)})}, graphtest.A("axes", []int64{-1}))
		inv := e.Op("Reciprocal", []string{e.Op("Sqrt", []string{e.Op("Add", []string{variance, e.scalar(1e-6)})})})
		return e.Op("Mul", []string{e.weight(1, e.hidden), e.Op("Mul", []string{x, inv})})
	}
	nh := rms(h)
	proj := func() string {
		return e.splitHeads(e.Op("MatMul", []string{nh, e.weight(e.hidden, e.hidden, e.hidden)}), true)
	}
	q, k, v := proj(), proj(), proj()
	scores := e.Op("Add", []string{e.Op("MatMul", []string{q, e.Op("Transpose", []string{k}, graphtest.A("perm", []int64{0, 1, 3, 2}))}), posBias})
	ctx := e.Op("MatMul", []string{e.Op("Softmax", []string{scores}, graphtest.A("axis", -1)), v})
	h = e.Op("Add", []string{h, e.Op("MatMul", []string{e.mergeHeads(ctx), e.weight(e.hidden, e.hidden, e.hidden)})})
	nh = rms(h)
	gate := e.geluTanh(e.Op("MatMul", []string{nh, e.weight(e.hidden, e.hidden, e.ffn)}), e.scalar(float32(math.Sqrt(2/math.Pi))))
	up := e.Op("MatMul", []string{nh, e.weight(e.hidden, e.hidden, e.ffn)})
	h = e.Op("Add", []string{h, e.Op("MatMul", []string{e.Op("Mul", []string{gate, up}), e.weight(e.ffn, e.ffn, e.hidden)})})
	e.Output(rms(h), tensor.Float32, "batch", "seq", e.hidden)
	return e.Model()
}

// buildRoBERTaMisc gathers forms other exporters and architectures use: RoBERTa's position ids
// from the padding mask (Equal/Not/Cast/CumSum/Mul, offset by the pad id), a Whisper-style Conv1d
// stem with the opset-20 Gelu op, attention scores by Einsum, a sequence flip by Slice with step −1,
// Tile, and a pooled mean masked by the int64 mask (ReduceSum with axes input, Clip, Div).
func buildRoBERTaMisc() *onnx.ModelProto {
	const pad = 1
	e := newExporter("roberta_misc20", 20, 12)
	ids := e.Input("input_ids", tensor.Int64, "batch", "seq")
	notPad := e.Op("Cast", []string{e.Op("Not", []string{e.Op("Equal", []string{ids, e.ConstScalarI64(pad)})})}, graphtest.A("to", int(tensor.Int32)))
	incr := e.Op("Mul", []string{e.Op("CumSum", []string{notPad, e.ConstScalarI64(1)}), notPad})
	pos := e.Op("Add", []string{e.Op("Cast", []string{incr}, graphtest.A("to", int(tensor.Int64))), e.ConstScalarI64(pad)})
	h := e.Op("Add", []string{e.Op("Gather", []string{e.weight(1, vocab, e.hidden), ids}), e.Op("Gather", []string{e.weight(1, e.maxPos+2, e.hidden), pos})})

	// Conv1d over [b, hidden, seq], Gelu, back to [b, seq, hidden].
	c := e.Op("Transpose", []string{h}, graphtest.A("perm", []int64{0, 2, 1}))
	c = e.Op("Conv", []string{c, e.weight(3*e.hidden, e.hidden, e.hidden, 3), e.weight(3*e.hidden, e.hidden)}, graphtest.A("pads", []int64{1, 1}))
	c = e.Op("Gelu", []string{c})
	h = e.Op("Add", []string{h, e.Op("Transpose", []string{c}, graphtest.A("perm", []int64{0, 2, 1}))})

	q := e.splitHeads(e.linear(h, e.hidden, e.hidden), true)
	k := e.splitHeads(e.linear(h, e.hidden, e.hidden), true)
	v := e.splitHeads(e.linear(h, e.hidden, e.hidden), true)
	scores := e.Op("Einsum", []string{q, k}, graphtest.A("equation", "bhqd,bhkd->bhqk"))
	scores = e.Op("Mul", []string{scores, e.scalar(float32(1 / math.Sqrt(float64(e.headDim))))})
	h = e.Op("Add", []string{h, e.mergeHeads(e.Op("Einsum", []string{e.Op("Softmax", []string{scores}, graphtest.A("axis", -1)), v}, graphtest.A("equation", "bhqk,bhkd->bhqd")))})

	flipped := e.Op("Slice", []string{h, e.ConstI64(-1), e.ConstI64(math.MinInt64), e.ConstI64(1), e.ConstI64(-1)})
	tiled := e.Op("Tile", []string{e.weight(1, 1, 1, e.hidden/2), e.ConstI64(1, 1, 2)})
	h = e.Op("Add", []string{e.Op("Mul", []string{h, flipped}), tiled})

	m := e.Op("Cast", []string{e.unsqueeze(notPad, 2)}, graphtest.A("to", int(tensor.Float32)))
	sum := e.Op("ReduceSum", []string{e.Op("Mul", []string{h, m}), e.ConstI64(1)}, graphtest.A("keepdims", 0))
	count := e.Op("Clip", []string{e.Op("ReduceSum", []string{m, e.ConstI64(1)}, graphtest.A("keepdims", 0)), e.scalar(1e-9)})
	e.Output(e.Op("Div", []string{sum, count}), tensor.Float32, "batch", e.hidden)
	e.Output(h, tensor.Float32, "batch", "seq", e.hidden)
	return e.Model()
}

// buildQuantizedFFN is a feed-forward block as onnxruntime's quantize_dynamic rewrites it: each
// MatMul becomes DynamicQuantizeLinear on the activations, MatMulInteger against uint8 weights
// with a zero point, Cast to float and a Mul by the product of the two scales, then the bias Add.
func buildQuantizedFFN() *onnx.ModelProto {
	e := newExporter("quantized_ffn", 13, 13)
	x := e.Input("x", tensor.Float32, "batch", "seq", e.hidden)
	qlinear := func(x string, in, out int) string {
		q := e.Node("", "DynamicQuantizeLinear", []string{x}, 3)
		w := make([]uint8, in*out)
		for i := range w {
			w[i] = uint8(e.r.IntN(256))
		}
		wq := e.Init("", tensor.New([]int{in, out}, w))
		wzp := e.Init("", tensor.Scalar(uint8(128)))
		acc := e.Op("MatMulInteger", []string{q[0], wq, q[2], wzp})
		scale := e.Op("Mul", []string{q[1], e.scalar(0.004)})
		y := e.Op("Mul", []string{e.Op("Cast", []string{acc}, graphtest.A("to", int(tensor.Float32))), scale})
		return e.Op("Add", []string{y, e.weight(in, out)})
	}
	h := e.geluErf(qlinear(x, e.hidden, e.ffn))
	e.Output(qlinear(h, e.ffn, e.hidden), tensor.Float32, "batch", "seq", e.hidden)
	return e.Model()
}

func runActswap(m *onnx.ModelProto, feeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	s, err := runtime.NewSession(m)
	if err != nil {
		return nil, err
	}
	return s.Run(feeds)
}

// exporterCase is one model with feeds at two batch and two sequence/spatial sizes, and the
// families its rewrite is checked with.
type exporterCase struct {
	name  string
	model func() *onnx.ModelProto
	feeds func(r *rand.Rand, batch, size int) map[string]*tensor.Tensor
	fams  []onnxops.Family
}

func exporterCases() []exporterCase {
	bert := func(name string, st bertStyle) exporterCase {
		return exporterCase{name: name, model: func() *onnx.ModelProto { return buildBERT(name, st) },
			feeds: tokenFeeds, fams: []onnxops.Family{onnxops.FamilyPWLU}}
	}
	gpt2 := func(name string, st gpt2Style) exporterCase {
		return exporterCase{name: name, model: func() *onnx.ModelProto { return buildGPT2(name, st) },
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				return map[string]*tensor.Tensor{"input_ids": graphtest.RandI64(r, 0, vocab, b, s)}
			}, fams: []onnxops.Family{onnxops.FamilyPWLU}}
	}
	return []exporterCase{
		bert("bert_ts17", bertStyle{opset: 17, layerNorm: "op", mask: "mulmin", computed: true}),
		// Not rewritten: onnxops' function bodies need opset 13 (Apply says so and stops).
		{name: "bert_ts11", model: func() *onnx.ModelProto {
			return buildBERT("bert_ts11", bertStyle{opset: 11, layerNorm: "decomp13", mask: "mul10000", computed: true})
		}, feeds: tokenFeeds},
		bert("bert_ts13", bertStyle{opset: 13, layerNorm: "decomp13", mask: "mul10000"}),
		bert("bert_dynamo18", bertStyle{opset: 18, layerNorm: "decomp18", mask: "where", computed: true}),
		bert("bert_dynamo25", bertStyle{opset: 25, layerNorm: "decomp18", mask: "where", computed: true}),
		bert("bert_keepmask17", bertStyle{opset: 17, layerNorm: "op", mask: "keep"}),
		bert("bert_attention23", bertStyle{opset: 23, layerNorm: "op", mask: "mulmin", attnOp: true}),
		{name: "bert_ort_optimized", model: buildBERTOptimized, fams: []onnxops.Family{onnxops.FamilyPWLU, onnxops.FamilyZorro},
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				f := tokenFeeds(r, b, s)
				f["token_type_ids"] = graphtest.RandI64(r, 0, 2, b, s)
				return f
			}},
		{name: "bert_ts17_large", fams: []onnxops.Family{onnxops.FamilyPWLU},
			model: func() *onnx.ModelProto {
				return buildBERT("bert_ts17_large", bertStyle{opset: 17, layerNorm: "op", mask: "mulmin", computed: true, large: true})
			},
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor { return tokenFeeds(r, b, 7*s) }},
		{name: "gpt2_slice13_large", fams: []onnxops.Family{onnxops.FamilyPWLU},
			model: func() *onnx.ModelProto {
				return buildGPT2("gpt2_slice13_large", gpt2Style{opset: 13, causal: "slice", conv1D: true, large: true})
			},
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				return map[string]*tensor.Tensor{"input_ids": graphtest.RandI64(r, 0, vocab, b, 7*s)}
			}},
		gpt2("gpt2_trilu18", gpt2Style{opset: 18, splitAttr: true, causal: "trilu"}),
		gpt2("gpt2_range17", gpt2Style{opset: 17, causal: "range"}),
		gpt2("gpt2_hf_slice13", gpt2Style{opset: 13, causal: "slice", conv1D: true}),
		{name: "dynamo18", model: buildDynamo, fams: []onnxops.Family{onnxops.FamilyPWLU, onnxops.FamilyZorro},
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				return map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 2, b, s, smallDims.hidden)}
			}},
		{name: "sdpa_dynamo18", model: buildSDPA, // no activation sites
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				keep := make([]bool, b*s)
				for i := range b {
					for j := range s {
						// row 0 keeps all keys, row 1 some, row 2 none (its softmax is NaN, zeroed)
						keep[i*s+j] = i == 0 || (i == 1 && j%3 != 2)
					}
				}
				return map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 2, b, s, smallDims.hidden), "key_mask": tensor.New([]int{b, s}, keep)}
			}},
		{name: "dynamo_functions", model: buildDynamoFunctions, // rewrite sees no site outside function bodies
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				return map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 2, b, s, smallDims.hidden)}
			}},
		{name: "roberta_misc20", model: buildRoBERTaMisc, fams: []onnxops.Family{onnxops.FamilyPWLU},
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				ids := graphtest.RandI64(r, 2, vocab, b, s)
				for i := 1; i < b; i++ { // right padding with the pad id 1 in later rows
					for j := s - i; j < s; j++ {
						ids.Data.([]int64)[i*s+j] = 1
					}
				}
				return map[string]*tensor.Tensor{"input_ids": ids}
			}},
		{name: "quantized_ffn13", model: buildQuantizedFFN, fams: []onnxops.Family{onnxops.FamilyPWLU},
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				return map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 2, b, s, smallDims.hidden)}
			}},
		{name: "t5_ts17", model: buildT5, fams: []onnxops.Family{onnxops.FamilyPWLU},
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				return map[string]*tensor.Tensor{"input_ids": graphtest.RandI64(r, 0, vocab, b, 2*s+3)} // up to 21 apart: both bucket branches
			}},
		{name: "lstm_gru_ts14", model: buildRecurrent, fams: []onnxops.Family{onnxops.FamilyPWLU},
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				return map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 1, b, s, 8)}
			}},
		{name: "cnn_dynamo18", model: buildCNNDynamo, fams: []onnxops.Family{onnxops.FamilyPWLU},
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				return map[string]*tensor.Tensor{"image": graphtest.RandF32(r, 1, b, 3, 3*s-1, 2*s+3)}
			}},
		{name: "cnn17", model: buildCNN, fams: []onnxops.Family{onnxops.FamilyPWLU},
			feeds: func(r *rand.Rand, b, s int) map[string]*tensor.Tensor {
				return map[string]*tensor.Tensor{"image": graphtest.RandF32(r, 1, b, 3, 2*s+2, 2*s-2)}
			}},
	}
}

// exporterSizes are the (batch, sequence) pairs each model runs at.
var exporterSizes = [][2]int{{1, 5}, {3, 9}}

func TestExporterModelsAgreeWithOnnxruntime(t *testing.T) {
	for _, tc := range exporterCases() {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model()
			r := graphtest.Seeded(5)
			feeds := make([]map[string]*tensor.Tensor, len(exporterSizes))
			wants := make([]map[string]*tensor.Tensor, len(exporterSizes))
			for i, sz := range exporterSizes {
				feeds[i] = tc.feeds(r, sz[0], sz[1])
				wants[i] = graphtest.AgreeWithORT(t, m, tc.name, feeds[i], runActswap, graphtest.RTol, graphtest.ATol)
			}
			// One session across sizes, back and forth: what it remembers per input shape (shape
			// caching, recycled buffers) must not leak from one size into the next.
			s, err := runtime.NewSession(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range []int{0, 1, 0, 1} {
				got, err := s.Run(feeds[i])
				if err != nil {
					t.Fatalf("shared session, size %v: %v", exporterSizes[i], err)
				}
				for name, w := range wants[i] {
					if err := graphtest.Diff(got[name], w, graphtest.RTol, graphtest.ATol); err != nil {
						t.Errorf("shared session, size %v: output %q: %v", exporterSizes[i], name, err)
					}
				}
			}
			// And concurrently, both sizes at once.
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for g := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					i := g % len(feeds)
					got, err := s.Run(feeds[i])
					for name, w := range wants[i] {
						if err == nil {
							err = graphtest.Diff(got[name], w, graphtest.RTol, graphtest.ATol)
						}
					}
					errs[g] = err
				}()
			}
			wg.Wait()
			for g, err := range errs {
				if err != nil {
					t.Errorf("concurrent run %d: %v", g, err)
				}
			}
			for _, fam := range tc.fams {
				out, rep, err := rewrite.Apply(m, rewrite.Options{To: fam})
				if err != nil {
					t.Fatalf("rewrite → %s: %v", fam, err)
				}
				if len(rep.Replaced) == 0 {
					t.Fatalf("rewrite → %s replaced nothing (found %v, skipped %v)", fam, rep.FoundByPattern(), rep.Skipped)
				}
				for i := range exporterSizes {
					graphtest.AgreeWithORT(t, out, tc.name+"_"+string(fam), feeds[i], runActswap, graphtest.RTol, graphtest.ATol)
				}
			}
		})
	}
}

// TestMicrosoftGeluRewrites: models with onnxruntime's fused GELU ops, rewritten by rewrite.Apply,
// still run in both engines and agree (onnxruntime runs the attached function bodies).
func TestMicrosoftGeluRewrites(t *testing.T) {
	r := graphtest.Seeded(11)
	build := func() *onnx.ModelProto {
		b := graphtest.New("ms_gelus", 17).Opset("com.microsoft", 1)
		x := b.Input("x", tensor.Float32, "batch", 8)
		h := b.Op("MatMul", []string{x, b.F32([]int{8, 8}, graphtest.RandF32s(r, 0.5, 64)...)})
		bias := b.F32([]int{8}, graphtest.RandF32s(r, 0.5, 8)...)
		g1 := b.Node("com.microsoft", "BiasGelu", []string{h, bias}, 1)[0]
		g2 := b.Node("com.microsoft", "FastGelu", []string{g1, bias}, 1)[0]
		g3 := b.Node("com.microsoft", "Gelu", []string{g2}, 1)[0]
		g4 := b.Node("com.microsoft", "QuickGelu", []string{g3}, 1, graphtest.A("alpha", float32(1.702)))[0]
		g5 := b.Node("com.microsoft", "FastGelu", []string{g4}, 1)[0]
		b.Output(g5, tensor.Float32, "batch", 8)
		return b.Model()
	}
	m := build()
	feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 3, 5, 8)}
	graphtest.AgreeWithORT(t, m, "ms_gelus", feeds, runActswap, graphtest.RTol, graphtest.ATol)
	for _, fam := range onnxops.Families {
		out, rep, err := rewrite.Apply(m, rewrite.Options{To: fam})
		if err != nil {
			t.Fatalf("%s: %v", fam, err)
		}
		if len(rep.Replaced) != 5 {
			t.Errorf("%s: replaced %d sites, want 5 (found %v, skipped %v)", fam, len(rep.Replaced), rep.FoundByPattern(), rep.Skipped)
		}
		graphtest.AgreeWithORT(t, out, "ms_gelus_"+string(fam), feeds, runActswap, graphtest.RTol, graphtest.ATol)
	}
}
