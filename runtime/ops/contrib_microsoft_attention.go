package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// com.microsoft Attention and EmbedLayerNormalization: the two fusions onnxruntime's BERT
// optimizer writes besides SkipLayerNormalization and BiasGelu. Past state (KV cache), rotary
// embeddings and the 4-D Megatron mask are rejected with an error rather than approximated.

func init() {
	Register(MicrosoftDomain, "Attention", 1, newMSAttention)
	Register(MicrosoftDomain, "EmbedLayerNormalization", 1, newEmbedLayerNorm)
}

func newMSAttention(n *Node) (Kernel, error) {
	heads := int(n.AttrInt("num_heads", 0))
	if heads <= 0 {
		return nil, fmt.Errorf("Attention: num_heads must be positive, got %d", heads)
	}
	causal := n.AttrInt("unidirectional", 0) != 0
	filter := float64(n.AttrFloat("mask_filter_value", -10000))
	sizes := n.AttrInts("qkv_hidden_sizes", nil)
	if n.AttrInt("do_rotary", 0) != 0 {
		return nil, fmt.Errorf("Attention: do_rotary is not supported")
	}
	if len(sizes) != 0 && len(sizes) != 3 {
		return nil, fmt.Errorf("Attention: qkv_hidden_sizes has %d values, want 3", len(sizes))
	}
	scaleAttr := float64(n.AttrFloat("scale", 0))
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		x, w := in[0], in[1]
		if err := requireFloat(x, "input"); err != nil {
			return nil, err
		}
		if len(x.Shape) != 3 || len(w.Shape) != 2 || w.Shape[0] != x.Shape[2] || w.DType != x.DType {
			return nil, fmt.Errorf("input %v%v and weights %v%v: want [batch, seq, in] and [in, q+k+v] of one type", x.DType, x.Shape, w.DType, w.Shape)
		}
		if len(in) > 4 && in[4] != nil {
			return nil, fmt.Errorf("past state is not supported")
		}
		batch, seq, inDim := x.Shape[0], x.Shape[1], x.Shape[2]
		qh, kh, vh := w.Shape[1]/3, w.Shape[1]/3, w.Shape[1]/3
		if len(sizes) == 3 {
			qh, kh, vh = int(sizes[0]), int(sizes[1]), int(sizes[2])
		}
		if qh+kh+vh != w.Shape[1] || qh != kh || qh%heads != 0 || vh%heads != 0 {
			return nil, fmt.Errorf("weights %v do not split into q/k/v hidden sizes %d/%d/%d over %d heads", w.Shape, qh, kh, vh, heads)
		}
		hd, vd := qh/heads, vh/heads
		scale := scaleAttr
		if scale == 0 {
			scale = 1 / math.Sqrt(float64(hd))
		}
		var bias []float64
		if len(in) > 2 && in[2] != nil {
			if in[2].Len() != w.Shape[1] {
				return nil, fmt.Errorf("bias has shape %v, want [%d]", in[2].Shape, w.Shape[1])
			}
			bias = toFloat64s(in[2])
		}
		maskAdd, err := msAttentionMask(optional(in, 3), batch, seq, filter)
		if err != nil {
			return nil, err
		}
		var relBias []float64
		relBatch := 0
		if b := optional(in, 5); b != nil {
			if len(b.Shape) != 4 || (b.Shape[0] != 1 && b.Shape[0] != batch) || b.Shape[1] != heads || b.Shape[2] != seq || b.Shape[3] != seq {
				return nil, fmt.Errorf("attention_bias has shape %v, want [%d or 1, %d, %d, %d]", b.Shape, batch, heads, seq, seq)
			}
			relBias, relBatch = toFloat64s(b), b.Shape[0]
		}
		// Project: proj[b, s, :] = x[b, s, :]·W + bias.
		xs, ws := toFloat64s(x), toFloat64s(w)
		cols := w.Shape[1]
		proj := make([]float64, batch*seq*cols)
		ctx.Parallel(batch*seq, 1, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				row := proj[r*cols : (r+1)*cols]
				if bias != nil {
					copy(row, bias)
				}
				for i := range inDim {
					xv := xs[r*inDim+i]
					for j, wv := range ws[i*cols : (i+1)*cols] {
						row[j] += xv * wv
					}
				}
			}
		})
		y := make([]float64, batch*seq*vh)
		ctx.Parallel(batch*heads, 1, func(lo, hi int) {
			p := make([]float64, seq)
			for bh := lo; bh < hi; bh++ {
				b, h := bh/heads, bh%heads
				for i := range seq {
					q := proj[(b*seq+i)*cols+h*hd:][:hd]
					top := math.Inf(-1)
					for j := range seq {
						k := proj[(b*seq+j)*cols+qh+h*hd:][:hd]
						s := 0.0
						for d := range hd {
							s += q[d] * k[d]
						}
						s *= scale
						if maskAdd != nil {
							s += maskAdd(b, i, j)
						}
						if causal && j > i {
							s += -math.MaxFloat32
						}
						if relBias != nil {
							s += relBias[((b%relBatch*heads+h)*seq+i)*seq+j]
						}
						p[j] = s
						top = max(top, s)
					}
					sum := 0.0
					for j := range p {
						p[j] = math.Exp(p[j] - top)
						sum += p[j]
					}
					out := y[(b*seq+i)*vh+h*vd:][:vd]
					for j := range seq {
						v := proj[(b*seq+j)*cols+2*qh+h*vd:][:vd]
						for d := range vd {
							out[d] += p[j] / sum * v[d]
						}
					}
				}
			}
		})
		out := ctx.Alloc(x.DType, []int{batch, seq, vh})
		if err := storeFloats(y, out); err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

func optional(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// msAttentionMask reads mask_index in the forms onnxruntime's CPU Attention accepts: [batch] valid
// lengths (right padding), [2·batch] end then start positions, [batch, seq] raw 1/0 keys, or
// [batch, seq, seq] raw per query. Masked keys add filter. nil mask: no masking.
func msAttentionMask(m *tensor.Tensor, batch, seq int, filter float64) (func(b, i, j int) float64, error) {
	if m == nil {
		return nil, nil
	}
	v := asInt64s(m)
	if v == nil {
		return nil, fmt.Errorf("mask_index has type %v, want int32", m.DType)
	}
	masked := func(keep bool) float64 {
		if keep {
			return 0
		}
		return filter
	}
	switch {
	case len(m.Shape) == 1 && m.Shape[0] == batch:
		return func(b, _, j int) float64 { return masked(int64(j) < v[b]) }, nil
	case len(m.Shape) == 1 && m.Shape[0] == 2*batch:
		return func(b, _, j int) float64 { return masked(int64(j) < v[b] && int64(j) >= v[batch+b]) }, nil
	case len(m.Shape) == 2 && m.Shape[0] == batch && m.Shape[1] == seq:
		return func(b, _, j int) float64 { return masked(v[b*seq+j] != 0) }, nil
	case len(m.Shape) == 3 && m.Shape[0] == batch && m.Shape[1] == seq && m.Shape[2] == seq:
		return func(b, i, j int) float64 { return masked(v[(b*seq+i)*seq+j] != 0) }, nil
	}
	return nil, fmt.Errorf("mask_index has shape %v; supported: [%d], [%d], [%d, %d], [%d, %d, %d]", m.Shape, batch, 2*batch, batch, seq, batch, seq, seq)
}

// newEmbedLayerNorm: output = LayerNorm(word[input_ids] + position[position_ids] (+
// segment[segment_ids])) · gamma + beta over the hidden axis; mask_index[b] counts row b's
// non-zero mask entries (seq when no mask); embedding_sum is the sum before normalization.
func newEmbedLayerNorm(n *Node) (Kernel, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-12))
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		ids := optional(in, 0)
		word, posEmb := optional(in, 2), optional(in, 3)
		gammaT, betaT := optional(in, 5), optional(in, 6)
		if ids == nil || word == nil || posEmb == nil || gammaT == nil || betaT == nil {
			return nil, fmt.Errorf("input_ids, word_embedding, position_embedding, gamma and beta are required")
		}
		idv := asInt64s(ids)
		if idv == nil || len(ids.Shape) != 2 {
			return nil, fmt.Errorf("input_ids is %v%v, want int32 [batch, seq]", ids.DType, ids.Shape)
		}
		batch, seq := ids.Shape[0], ids.Shape[1]
		if err := requireFloat(word, "word_embedding"); err != nil {
			return nil, err
		}
		if len(word.Shape) != 2 {
			return nil, fmt.Errorf("word_embedding has shape %v, want [vocab, hidden]", word.Shape)
		}
		hidden := word.Shape[1]
		table := func(t *tensor.Tensor, name string) ([]float64, int, error) {
			if len(t.Shape) != 2 || t.Shape[1] != hidden || t.DType != word.DType {
				return nil, 0, fmt.Errorf("%s is %v%v, want %v[rows, %d]", name, t.DType, t.Shape, word.DType, hidden)
			}
			return toFloat64s(t), t.Shape[0], nil
		}
		wv, wRows, err := table(word, "word_embedding")
		if err != nil {
			return nil, err
		}
		pv, pRows, err := table(posEmb, "position_embedding")
		if err != nil {
			return nil, err
		}
		var sv []float64
		var sRows int
		var segv []int64
		if seg := optional(in, 1); seg != nil {
			segEmb := optional(in, 4)
			if segEmb == nil {
				return nil, fmt.Errorf("segment_ids given without segment_embedding")
			}
			if sv, sRows, err = table(segEmb, "segment_embedding"); err != nil {
				return nil, err
			}
			if segv = asInt64s(seg); segv == nil || !tensor.SameShape(seg.Shape, ids.Shape) {
				return nil, fmt.Errorf("segment_ids is %v%v, want int32 %v", seg.DType, seg.Shape, ids.Shape)
			}
		}
		var posIDs []int64
		posBatch := 0
		if p := optional(in, 8); p != nil {
			if posIDs = asInt64s(p); posIDs == nil || len(p.Shape) != 2 || p.Shape[1] != seq || (p.Shape[0] != 1 && p.Shape[0] != batch) {
				return nil, fmt.Errorf("position_ids is %v%v, want int [1 or %d, %d]", p.DType, p.Shape, batch, seq)
			}
			posBatch = p.Shape[0]
		}
		gamma, err := expandTo(gammaT, []int{hidden}, "gamma")
		if err != nil {
			return nil, err
		}
		beta, err := expandTo(betaT, []int{hidden}, "beta")
		if err != nil {
			return nil, err
		}
		lookup := func(tab []float64, rows int, id int64, name string) ([]float64, error) {
			if id < 0 || id >= int64(rows) {
				return nil, fmt.Errorf("%s index %d out of range [0, %d)", name, id, rows)
			}
			return tab[int(id)*hidden : (int(id)+1)*hidden], nil
		}
		sum := make([]float64, batch*seq*hidden)
		y := make([]float64, len(sum))
		for b := range batch {
			for s := range seq {
				r := b*seq + s
				row := sum[r*hidden : (r+1)*hidden]
				pos := int64(s)
				if posIDs != nil {
					pos = posIDs[(b%posBatch)*seq+s]
				}
				we, err := lookup(wv, wRows, idv[r], "input_ids")
				if err != nil {
					return nil, err
				}
				pe, err := lookup(pv, pRows, pos, "position")
				if err != nil {
					return nil, err
				}
				for j := range row {
					row[j] = we[j] + pe[j]
				}
				if segv != nil {
					se, err := lookup(sv, sRows, segv[r], "segment_ids")
					if err != nil {
						return nil, err
					}
					for j := range row {
						row[j] += se[j]
					}
				}
				mean, sq := 0.0, 0.0
				for _, v := range row {
					mean += v
				}
				mean /= float64(hidden)
				for _, v := range row {
					sq += (v - mean) * (v - mean)
				}
				inv := 1 / math.Sqrt(sq/float64(hidden)+eps)
				for j, v := range row {
					y[r*hidden+j] = (v-mean)*inv*gamma[j] + beta[j]
				}
			}
		}
		out := ctx.Alloc(word.DType, []int{batch, seq, hidden})
		if err := storeFloats(y, out); err != nil {
			return nil, err
		}
		outs := []*tensor.Tensor{out, nil, nil}
		if n.HasOutput(1) {
			counts := make([]int32, batch)
			mask := optional(in, 7)
			for b := range batch {
				counts[b] = int32(seq)
			}
			if mask != nil {
				mv := asInt64s(mask)
				if mv == nil || !tensor.SameShape(mask.Shape, ids.Shape) {
					return nil, fmt.Errorf("mask is %v%v, want int32 %v", mask.DType, mask.Shape, ids.Shape)
				}
				for b := range batch {
					counts[b] = 0
					for s := range seq {
						if mv[b*seq+s] != 0 {
							counts[b]++
						}
					}
				}
			}
			outs[1] = tensor.New([]int{batch}, counts)
		}
		if n.HasOutput(2) {
			outs[2] = ctx.Alloc(word.DType, []int{batch, seq, hidden})
			if err := storeFloats(sum, outs[2]); err != nil {
				return nil, err
			}
		}
		return outs, nil
	}), nil
}
