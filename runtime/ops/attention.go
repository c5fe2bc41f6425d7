package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/tensor"
)

func init() {
	RegisterRange(DefaultDomain, "Attention", newAttention, 23, 24)
}

// attentionKernel is ONNX Attention: softmax(softcap(scale·Q·Kᵀ) + bias)·V per (batch, head),
// with 3-D (batch, seq, heads·size) or 4-D (batch, heads, seq, size) operands, a KV cache
// (past_key/past_value → present_key/present_value), grouped-query heads, boolean or additive
// masks, causal masking and per-batch valid KV lengths (nonpad_kv_seqlen, opset 24).
type attentionKernel struct {
	causal     bool
	qHeads     int
	kvHeads    int
	scale      float32
	hasScale   bool
	softcap    float32
	outputMode int
}

func newAttention(n *Node) (Kernel, error) {
	k := &attentionKernel{
		causal:     n.AttrInt("is_causal", 0) != 0,
		qHeads:     int(n.AttrInt("q_num_heads", 0)),
		kvHeads:    int(n.AttrInt("kv_num_heads", 0)),
		scale:      n.AttrFloat("scale", 0),
		hasScale:   n.HasAttr("scale"),
		softcap:    n.AttrFloat("softcap", 0),
		outputMode: int(n.AttrInt("qk_matmul_output_mode", 0)),
	}
	if k.outputMode < 0 || k.outputMode > 3 {
		return nil, fmt.Errorf("qk_matmul_output_mode %d is not 0..3", k.outputMode)
	}
	if n.NumInputs() < 3 {
		return nil, fmt.Errorf("Attention needs Q, K and V, has %d inputs", n.NumInputs())
	}
	return k, nil
}

// headsView reads a 3-D or 4-D operand as (batch, heads, seq, size) without copying.
type headsView struct {
	data                   []float32
	batch, heads, seq, dim int
	packed                 bool // 3-D layout: (batch, seq, heads·dim)
}

func (v headsView) at(b, h, s int) []float32 {
	if v.packed {
		off := (b*v.seq+s)*v.heads*v.dim + h*v.dim
		return v.data[off : off+v.dim]
	}
	off := ((b*v.heads+h)*v.seq + s) * v.dim
	return v.data[off : off+v.dim]
}

func newHeadsView(t *tensor.Tensor, data []float32, heads int, what string) (headsView, error) {
	switch t.Rank() {
	case 4:
		return headsView{data: data, batch: t.Shape[0], heads: t.Shape[1], seq: t.Shape[2], dim: t.Shape[3]}, nil
	case 3:
		if heads <= 0 || t.Shape[2]%heads != 0 {
			return headsView{}, fmt.Errorf("Attention: %s %v: hidden size is not a multiple of %d heads", what, t.Shape, heads)
		}
		return headsView{data: data, batch: t.Shape[0], heads: heads, seq: t.Shape[1], dim: t.Shape[2] / heads, packed: true}, nil
	}
	return headsView{}, fmt.Errorf("Attention: %s %v must be 3-D or 4-D", what, t.Shape)
}

// cache concatenates past (batch, heads, pastLen, dim) and the new keys or values into a
// contiguous (batch, heads, total, dim) buffer, the present_key/present_value output.
func cache(past []float32, pastLen int, cur headsView) []float32 {
	total := pastLen + cur.seq
	out := make([]float32, cur.batch*cur.heads*total*cur.dim)
	for b := 0; b < cur.batch; b++ {
		for h := 0; h < cur.heads; h++ {
			dst := out[(b*cur.heads+h)*total*cur.dim:]
			if pastLen > 0 {
				copy(dst, past[(b*cur.heads+h)*pastLen*cur.dim:(b*cur.heads+h+1)*pastLen*cur.dim])
			}
			for s := 0; s < cur.seq; s++ {
				copy(dst[(pastLen+s)*cur.dim:], cur.at(b, h, s))
			}
		}
	}
	return out
}

// attentionMask is attn_mask broadcast to (batch, heads, q, kv): additive values, or booleans
// where false masks. Keys past its last dim are masked.
type attentionMask struct {
	add              []float32
	keep             []bool
	dims             [4]int
	strides          [4]int
	present, boolean bool
}

func newAttentionMask(t *tensor.Tensor) (attentionMask, error) {
	m := attentionMask{present: t != nil}
	if t == nil {
		return m, nil
	}
	if t.Rank() < 2 || t.Rank() > 4 {
		return m, fmt.Errorf("Attention: attn_mask %v must have rank 2 to 4", t.Shape)
	}
	shape := append(make([]int, 4-t.Rank()), t.Shape...)
	for i := range shape[:4-t.Rank()] {
		shape[i] = 1
	}
	copy(m.dims[:], shape)
	st := tensor.Strides(shape)
	for i := range m.strides {
		if shape[i] != 1 {
			m.strides[i] = st[i]
		}
	}
	if t.DType == tensor.Bool {
		m.boolean, m.keep = true, t.Data.([]bool)
		return m, nil
	}
	add, err := floatInput(t, "Attention: attn_mask")
	m.add = add
	return m, err
}

// row returns the mask's additive contribution for query i of (b, h) into dst (len total kv).
func (m *attentionMask) row(b, h, i int, dst []float32) error {
	if !m.present {
		clear(dst)
		return nil
	}
	if (m.dims[0] != 1 && b >= m.dims[0]) || (m.dims[1] != 1 && h >= m.dims[1]) || (m.dims[2] != 1 && i >= m.dims[2]) {
		return fmt.Errorf("Attention: attn_mask %v does not broadcast to batch %d, head %d, query %d", m.dims, b, h, i)
	}
	base := b*m.strides[0] + h*m.strides[1] + i*m.strides[2]
	negInf := float32(math.Inf(-1))
	for j := range dst {
		switch {
		case j >= m.dims[3]:
			dst[j] = negInf
		case m.boolean:
			dst[j] = 0
			if !m.keep[base+j] {
				dst[j] = negInf
			}
		default:
			dst[j] = m.add[base+j]
		}
	}
	return nil
}

func (k *attentionKernel) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	input := func(i int) *tensor.Tensor {
		if i < len(inputs) {
			return inputs[i]
		}
		return nil
	}
	q, kt, vt := input(0), input(1), input(2)
	if q == nil || kt == nil || vt == nil {
		return nil, fmt.Errorf("Attention: Q, K and V are required")
	}
	if q.Rank() != kt.Rank() || q.Rank() != vt.Rank() {
		return nil, fmt.Errorf("Attention: Q %v, K %v and V %v must have the same rank", q.Shape, kt.Shape, vt.Shape)
	}
	qv, err := floatInput(q, "Attention: Q")
	if err != nil {
		return nil, err
	}
	kv, err := floatInput(kt, "Attention: K")
	if err != nil {
		return nil, err
	}
	vv, err := floatInput(vt, "Attention: V")
	if err != nil {
		return nil, err
	}
	Q, err := newHeadsView(q, qv, k.qHeads, "Q")
	if err != nil {
		return nil, err
	}
	K, err := newHeadsView(kt, kv, k.kvHeads, "K")
	if err != nil {
		return nil, err
	}
	V, err := newHeadsView(vt, vv, k.kvHeads, "V")
	if err != nil {
		return nil, err
	}
	if K.batch != Q.batch || V.batch != Q.batch || K.heads != V.heads || K.seq != V.seq || K.dim != Q.dim {
		return nil, fmt.Errorf("Attention: Q %v, K %v and V %v do not agree", q.Shape, kt.Shape, vt.Shape)
	}
	if Q.heads%K.heads != 0 {
		return nil, fmt.Errorf("Attention: %d query heads are not a multiple of %d KV heads", Q.heads, K.heads)
	}
	pastLen := 0
	var pastK, pastV []float32
	if pk, pv := input(4), input(5); pk != nil || pv != nil {
		if pk == nil || pv == nil || pk.Rank() != 4 || pv.Rank() != 4 ||
			pk.Shape[0] != K.batch || pk.Shape[1] != K.heads || pk.Shape[3] != K.dim ||
			pv.Shape[0] != V.batch || pv.Shape[1] != V.heads || pv.Shape[2] != pk.Shape[2] || pv.Shape[3] != V.dim {
			return nil, fmt.Errorf("Attention: past_key and past_value must be (batch, kv heads, past, size) matching K and V")
		}
		pastLen = pk.Shape[2]
		if pastK, err = floatInput(pk, "Attention: past_key"); err != nil {
			return nil, err
		}
		if pastV, err = floatInput(pv, "Attention: past_value"); err != nil {
			return nil, err
		}
	}
	total := pastLen + K.seq
	presentK, presentV := cache(pastK, pastLen, K), cache(pastV, pastLen, V)
	mask, err := newAttentionMask(input(3))
	if err != nil {
		return nil, err
	}
	var nonpad []int64
	if t := input(6); t != nil {
		var ok bool
		if nonpad, ok = t.Data.([]int64); !ok {
			return nil, fmt.Errorf("Attention: nonpad_kv_seqlen must be int64, is %v", t.DType)
		}
		if len(nonpad) != Q.batch {
			return nil, fmt.Errorf("Attention: nonpad_kv_seqlen has %d values for batch %d", len(nonpad), Q.batch)
		}
	}
	scale := k.scale
	if !k.hasScale {
		scale = float32(1 / math.Sqrt(float64(Q.dim)))
	}

	var yShape []int
	if q.Rank() == 3 {
		yShape = []int{Q.batch, Q.seq, Q.heads * V.dim}
	} else {
		yShape = []int{Q.batch, Q.heads, Q.seq, V.dim}
	}
	y := newFloatOutput(ctx, q.DType, yShape)
	qk := newFloatOutput(ctx, q.DType, []int{Q.batch, Q.heads, Q.seq, total})
	group := Q.heads / K.heads
	var errs = make([]error, Q.batch*Q.heads)
	ctx.Parallel(Q.batch*Q.heads, 1, func(lo, hi int) {
		qBuf := make([]float32, Q.seq*Q.dim)
		scores := make([]float32, Q.seq*total)
		bias := make([]float32, total)
		yBuf := make([]float32, Q.seq*V.dim)
		for bh := lo; bh < hi; bh++ {
			b, h := bh/Q.heads, bh%Q.heads
			kvh := h / group
			for s := 0; s < Q.seq; s++ {
				copy(qBuf[s*Q.dim:], Q.at(b, h, s))
			}
			keys := presentK[(b*K.heads+kvh)*total*K.dim : (b*K.heads+kvh+1)*total*K.dim]
			if err := gemm.Sgemm(false, true, Q.seq, total, Q.dim, scale, qBuf, Q.dim, keys, K.dim, 0, scores, total, 1); err != nil {
				errs[bh] = err
				return
			}
			qkOut := qk.v[bh*Q.seq*total : (bh+1)*Q.seq*total]
			for i := 0; i < Q.seq; i++ {
				row := scores[i*total : (i+1)*total]
				if k.softcap > 0 {
					for j, v := range row {
						row[j] = k.softcap * float32(math.Tanh(float64(v/k.softcap)))
					}
				}
				if k.outputMode <= 1 {
					copy(qkOut[i*total:], row)
				}
				if err := mask.row(b, h, i, bias); err != nil {
					errs[bh] = err
					return
				}
				k.addStructuralMask(bias, i, Q.seq, pastLen, nonpad, b)
				for j := range row {
					row[j] += bias[j]
				}
				if k.outputMode == 2 {
					copy(qkOut[i*total:], row)
				}
				softmaxRow(row)
				if k.outputMode == 3 {
					copy(qkOut[i*total:], row)
				}
			}
			values := presentV[(b*V.heads+kvh)*total*V.dim : (b*V.heads+kvh+1)*total*V.dim]
			if err := gemm.Sgemm(false, false, Q.seq, V.dim, total, 1, scores, total, values, V.dim, 0, yBuf, V.dim, 1); err != nil {
				errs[bh] = err
				return
			}
			for s := 0; s < Q.seq; s++ {
				var dst []float32
				if q.Rank() == 3 {
					off := (b*Q.seq+s)*Q.heads*V.dim + h*V.dim
					dst = y.v[off : off+V.dim]
				} else {
					off := ((b*Q.heads+h)*Q.seq + s) * V.dim
					dst = y.v[off : off+V.dim]
				}
				copy(dst, yBuf[s*V.dim:(s+1)*V.dim])
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	presentShape := func(dim int) []int { return []int{K.batch, K.heads, total, dim} }
	pk := &floatOutput{dt: kt.DType, shape: presentShape(K.dim), v: presentK}
	pv := &floatOutput{dt: vt.DType, shape: presentShape(V.dim), v: presentV}
	if kt.DType == tensor.Float32 {
		pk.t = tensor.New(pk.shape, presentK)
	}
	if vt.DType == tensor.Float32 {
		pv.t = tensor.New(pv.shape, presentV)
	}
	return []*tensor.Tensor{y.tensor(ctx), pk.tensor(ctx), pv.tensor(ctx), qk.tensor(ctx)}, nil
}

// addStructuralMask adds the causal frontier and the nonpad_kv_seqlen padding to query i's bias.
// Causal masking is bottom-right aligned: query i sees key j iff j ≤ i + offset, where offset is
// the past length, or nonpad_kv_seqlen[b] − qLen for an external cache without past_key.
func (k *attentionKernel) addStructuralMask(bias []float32, i, qLen, pastLen int, nonpad []int64, b int) {
	negInf := float32(math.Inf(-1))
	if k.causal {
		offset := pastLen
		if pastLen == 0 && nonpad != nil {
			offset = int(nonpad[b]) - qLen
		}
		for j := range bias {
			if j > i+offset {
				bias[j] = negInf
			}
		}
	}
	if nonpad != nil {
		for j := int(max(0, nonpad[b])); j < len(bias); j++ {
			bias[j] = negInf
		}
	}
}

// softmaxRow normalises row in place; a row with no finite score (fully masked) becomes zeros
// instead of NaNs.
func softmaxRow(row []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range row {
		mx = max(mx, v)
	}
	if math.IsInf(float64(mx), -1) || math.IsNaN(float64(mx)) {
		clear(row)
		return
	}
	var sum float64
	for j, v := range row {
		e := float32(math.Exp(float64(v - mx)))
		row[j] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for j := range row {
		row[j] *= inv
	}
}
