package plugintest

import (
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// The held-back GELU models are BERT- and GPT-2-style: built here, small but with the
// real structure (int64 token inputs, embeddings, multi-head attention with a padding or causal
// mask, LayerNormalization, MatMul+bias before each GELU), so that nothing large lives in git.
// bert_tiny: 4 encoder layers, post-LN, erf GELU, input_ids and attention_mask.
// gpt2_tiny: 4 decoder layers, pre-LN, tanh GELU (Pow(x, 3)), a causal mask, input_ids alone.
const (
	tfLayers = 4
	tfHidden = 256
	tfHeads  = 4
	tfFFN    = 1024
	tfSeq    = 128
	tfVocab  = 1000
)

// transformerModels writes bert_tiny and gpt2_tiny, each as DIR/NAME/model.onnx with
// test_data_set_0/input_N.pb, once per test binary, and returns DIR.
func transformerModels(t *testing.T) string {
	t.Helper()
	dir, err := writeTransformerModels()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeTransformerModels does transformerModels' work once per test binary.
var writeTransformerModels = sync.OnceValues(func() (string, error) {
	root, err := os.MkdirTemp("", "actswap-transformers")
	if err != nil {
		return "", err
	}
	r := graphtest.Seeded(2026)
	ids := graphtest.RandI64(r, 0, tfVocab, 1, tfSeq)
	mask := make([]int64, tfSeq)
	for i := range mask {
		mask[i] = 1
		if i >= tfSeq-16 { // the last 16 tokens are padding
			mask[i] = 0
		}
	}
	models := []struct {
		name   string
		m      *onnx.ModelProto
		inputs []*tensor.Tensor
	}{
		{"bert_tiny", transformer(false), []*tensor.Tensor{ids, tensor.New([]int{1, tfSeq}, mask)}},
		{"gpt2_tiny", transformer(true), []*tensor.Tensor{ids}},
	}
	for _, mdl := range models {
		dir := filepath.Join(root, mdl.name, "test_data_set_0")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := onnx.SaveFile(mdl.m, filepath.Join(root, mdl.name, "model.onnx")); err != nil {
			return "", err
		}
		for i, in := range mdl.inputs {
			b, err := proto.Marshal(tensor.ToProto(in, mdl.m.GetGraph().GetInput()[i].GetName()))
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, "input_"+string(rune('0'+i))+".pb"), b, 0o644)
			}
			if err != nil {
				return "", err
			}
		}
	}
	return root, nil
})

// transformer builds a BERT-style encoder (gpt2 false) or a GPT-2-style decoder (gpt2 true).
func transformer(gpt2 bool) *onnx.ModelProto {
	r := graphtest.Seeded(7)
	name := "bert_tiny"
	if gpt2 {
		name = "gpt2_tiny"
	}
	b := graphtest.New(name, 17)
	weight := func(rows, cols int) string { // uniform with variance 1/rows: unit-scale outputs
		return b.Init("", graphtest.RandF32(r, float32(math.Sqrt(3/float64(rows))), rows, cols))
	}
	bias := func(n int) string { return b.Init("", graphtest.RandF32(r, 0.5, n)) }
	ln := func(x string) string {
		return b.Op("LayerNormalization", []string{x, b.Init("", graphtest.RandF32(r, 0.2, tfHidden)), bias(tfHidden)}, graphtest.A("axis", -1), graphtest.A("epsilon", float32(1e-5)))
	}
	linear := func(x string, in, out int) string {
		return b.Op("Add", []string{b.Op("MatMul", []string{x, weight(in, out)}), bias(out)})
	}
	ids := b.Input("input_ids", tensor.Int64, 1, tfSeq)
	h := b.Op("Add", []string{
		b.Op("Gather", []string{b.Init("", graphtest.RandF32(r, 1, tfVocab, tfHidden)), ids}),
		b.Init("", graphtest.RandF32(r, 0.5, tfSeq, tfHidden))})
	var maskAdd string
	if gpt2 {
		causal := make([]float32, tfSeq*tfSeq)
		for i := range tfSeq {
			for j := i + 1; j < tfSeq; j++ {
				causal[i*tfSeq+j] = -1e4
			}
		}
		maskAdd = b.Init("causal_mask", tensor.New([]int{1, 1, tfSeq, tfSeq}, causal))
	} else {
		h = ln(h)
		m := b.Op("Cast", []string{b.Input("attention_mask", tensor.Int64, 1, tfSeq)}, graphtest.A("to", int(tensor.Float32)))
		m = b.Op("Mul", []string{b.Op("Sub", []string{b.ConstF32(1), m}), b.ConstF32(-1e4)})
		maskAdd = b.Op("Reshape", []string{m, b.I64(1, 1, 1, tfSeq)})
	}
	dh := tfHidden / tfHeads
	heads := b.I64(1, tfSeq, tfHeads, int64(dh))
	merged := b.I64(1, tfSeq, tfHidden)
	for range tfLayers {
		x := h
		if gpt2 {
			x = ln(h)
		}
		split := func(v string, perm []int64) string {
			return b.Op("Transpose", []string{b.Op("Reshape", []string{v, heads})}, graphtest.A("perm", perm))
		}
		q := split(linear(x, tfHidden, tfHidden), []int64{0, 2, 1, 3})
		k := split(linear(x, tfHidden, tfHidden), []int64{0, 2, 3, 1})
		v := split(linear(x, tfHidden, tfHidden), []int64{0, 2, 1, 3})
		scores := b.Op("Add", []string{b.Op("Mul", []string{b.Op("MatMul", []string{q, k}), b.ConstF32(float32(1 / math.Sqrt(float64(dh))))}), maskAdd})
		ctx := b.Op("MatMul", []string{b.Op("Softmax", []string{scores}, graphtest.A("axis", -1)), v})
		ctx = b.Op("Reshape", []string{b.Op("Transpose", []string{ctx}, graphtest.A("perm", []int64{0, 2, 1, 3})), merged})
		attn := linear(ctx, tfHidden, tfHidden)
		if gpt2 {
			h = b.Op("Add", []string{h, attn})
			h = b.Op("Add", []string{h, linear(gelu(b, linear(ln(h), tfHidden, tfFFN), true), tfFFN, tfHidden)})
		} else {
			h = ln(b.Op("Add", []string{h, attn}))
			h = ln(b.Op("Add", []string{h, linear(gelu(b, linear(h, tfHidden, tfFFN), false), tfFFN, tfHidden)}))
		}
	}
	if gpt2 {
		h = ln(h)
	}
	b.Output(h, tensor.Float32, 1, tfSeq, tfHidden)
	return b.Model()
}

// gelu is the exporters' GELU: the erf form 0.5·x·(1 + erf(x/√2)) as TorchScript writes it, or
// GPT-2's 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func gelu(b *graphtest.Builder, x string, tanh bool) string {
	var inner string
	if tanh {
		cube := b.Op("Pow", []string{x, b.ConstF32(3)})
		poly := b.Op("Add", []string{x, b.Op("Mul", []string{b.ConstF32(0.044715), cube})})
		inner = b.Op("Tanh", []string{b.Op("Mul", []string{b.ConstF32(float32(math.Sqrt(2 / math.Pi))), poly})})
	} else {
		inner = b.Op("Erf", []string{b.Op("Div", []string{x, b.ConstF32(math.Sqrt2)})})
	}
	half := b.Op("Mul", []string{b.ConstF32(0.5), x})
	return b.Op("Mul", []string{half, b.Op("Add", []string{b.ConstF32(1), inner})})
}
