package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// The opset-27 state-carrying ops of linear-attention and state-space language models:
// CausalConvWithState (a depthwise causal 1-D convolution whose left context is the previous
// call's last k−1 inputs) and LinearAttention (the recurrent form S ← decay·S + k⊗v, o = scale·qᵀS,
// with the delta rule's correction). Both follow ONNX's reference step by step, in float64, and
// round once to the input's type; they run per token in decoding, so they are plain loops.

func init() {
	Register(DefaultDomain, "CausalConvWithState", 27, newCausalConvWithState)
	Register(DefaultDomain, "LinearAttention", 27, newLinearAttention)
}

func newCausalConvWithState(n *Node) (Kernel, error) {
	act := n.AttrString("activation", "none")
	if act != "none" && act != "silu" && act != "swish" {
		return nil, fmt.Errorf("CausalConvWithState: activation %q is not none, silu or swish", act)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, fmt.Errorf("CausalConvWithState: %w", err)
		}
		x, w := in[0], in[1]
		if len(x.Shape) != 3 || len(w.Shape) != 3 || w.Shape[0] != x.Shape[1] || w.Shape[1] != 1 || w.Shape[2] < 1 {
			return nil, fmt.Errorf("CausalConvWithState: input %v and weight %v are not [B, C, L] and [C, 1, k]", x.Shape, w.Shape)
		}
		b, c, l, k := x.Shape[0], x.Shape[1], x.Shape[2], w.Shape[2]
		var bias, past []float64
		if len(in) > 2 && in[2] != nil {
			if bias = toFloat64s(in[2]); len(bias) != c {
				return nil, fmt.Errorf("CausalConvWithState: bias has %d values for %d channels", len(bias), c)
			}
		}
		if len(in) > 3 && in[3] != nil {
			if !tensor.SameShape(in[3].Shape, []int{b, c, k - 1}) {
				return nil, fmt.Errorf("CausalConvWithState: past_state %v is not [%d, %d, %d]", in[3].Shape, b, c, k-1)
			}
			past = toFloat64s(in[3])
		}
		xv, wv := toFloat64s(x), toFloat64s(w)
		y := make([]float64, b*c*l)
		state := make([]float64, b*c*(k-1))
		padded := make([]float64, l+k-1)
		for bi := 0; bi < b; bi++ {
			for ci := 0; ci < c; ci++ {
				row := bi*c + ci
				clear(padded[:k-1])
				if past != nil {
					copy(padded, past[row*(k-1):(row+1)*(k-1)])
				}
				copy(padded[k-1:], xv[row*l:(row+1)*l])
				for t := 0; t < l; t++ {
					s := 0.0
					for j := 0; j < k; j++ {
						s += padded[t+j] * wv[ci*k+j]
					}
					if bias != nil {
						s += bias[ci]
					}
					if act != "none" {
						s /= 1 + math.Exp(-s)
					}
					y[row*l+t] = s
				}
				copy(state[row*(k-1):], padded[l:])
			}
		}
		out := ctx.Results(2)
		out[0] = ctx.Alloc(x.DType, x.Shape)
		out[1] = ctx.Alloc(x.DType, []int{b, c, k - 1})
		if err := storeFloats(y, out[0]); err != nil {
			return nil, err
		}
		if err := storeFloats(state, out[1]); err != nil {
			return nil, err
		}
		return out, nil
	}), nil
}

type linearAttention struct {
	qHeads, kvHeads int
	scale           float64
	gating, delta   bool
}

func newLinearAttention(n *Node) (Kernel, error) {
	la := &linearAttention{qHeads: int(n.AttrInt("q_num_heads", 0)), kvHeads: int(n.AttrInt("kv_num_heads", 0)),
		scale: float64(n.AttrFloat("scale", 0))}
	switch rule := n.AttrString("update_rule", "gated_delta"); rule {
	case "linear":
	case "gated":
		la.gating = true
	case "delta":
		la.delta = true
	case "gated_delta":
		la.gating, la.delta = true, true
	default:
		return nil, fmt.Errorf("LinearAttention: update_rule %q is not linear, gated, delta or gated_delta", rule)
	}
	if la.qHeads <= 0 || la.kvHeads <= 0 || la.qHeads%la.kvHeads != 0 {
		return nil, fmt.Errorf("LinearAttention: q_num_heads %d must be a positive multiple of kv_num_heads %d", la.qHeads, la.kvHeads)
	}
	return la, nil
}

func (la *linearAttention) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needInputs(in, 3); err != nil {
		return nil, fmt.Errorf("LinearAttention: %w", err)
	}
	opt := func(i int) *tensor.Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	q, k, v := in[0], in[1], in[2]
	pastT, decayT, betaT, eraseT := opt(3), opt(4), opt(5), opt(6)
	if len(q.Shape) != 3 || len(k.Shape) != 3 || len(v.Shape) != 3 {
		return nil, fmt.Errorf("LinearAttention: query, key and value must be [B, T, H·D], got %v, %v, %v", q.Shape, k.Shape, v.Shape)
	}
	b, t := q.Shape[0], q.Shape[1]
	hq, hkv := la.qHeads, la.kvHeads
	if q.Shape[2]%hq != 0 || v.Shape[2]%hkv != 0 {
		return nil, fmt.Errorf("LinearAttention: head counts %d/%d do not divide %v and %v", hq, hkv, q.Shape, v.Shape)
	}
	dk, dv := q.Shape[2]/hq, v.Shape[2]/hkv
	if !tensor.SameShape(k.Shape, []int{b, t, hkv * dk}) || v.Shape[0] != b || v.Shape[1] != t {
		return nil, fmt.Errorf("LinearAttention: key %v or value %v does not match query %v", k.Shape, v.Shape, q.Shape)
	}
	if la.gating != (decayT != nil) {
		return nil, fmt.Errorf("LinearAttention: the update rule and the presence of decay disagree")
	}
	if la.delta != (betaT != nil) || eraseT != nil && !la.delta {
		return nil, fmt.Errorf("LinearAttention: the update rule and the presence of beta/erase_gate disagree")
	}
	qv, kv, vv := toFloat64s(q), toFloat64s(k), toFloat64s(v)
	// decayAt(bi, h, ti, d) etc. read the per-token gates in their [B, T, ·] layouts.
	var decay, beta, erase []float64
	decayPerDim := false
	if decayT != nil {
		decay = toFloat64s(decayT)
		switch {
		case len(decayT.Shape) == 3 && decayT.Shape[2] == hkv && decayT.Len() == b*t*hkv:
		case len(decayT.Shape) == 3 && decayT.Shape[2] == hkv*dk && decayT.Len() == b*t*hkv*dk:
			decayPerDim = true
		default:
			return nil, fmt.Errorf("LinearAttention: decay %v is not [%d, %d, %d or %d]", decayT.Shape, b, t, hkv, hkv*dk)
		}
	}
	betaW := 0
	if betaT != nil {
		beta = toFloat64s(betaT)
		if len(betaT.Shape) != 3 || (betaT.Shape[2] != hkv && betaT.Shape[2] != 1) || betaT.Len() != b*t*betaT.Shape[2] {
			return nil, fmt.Errorf("LinearAttention: beta %v is not [%d, %d, %d or 1]", betaT.Shape, b, t, hkv)
		}
		betaW = betaT.Shape[2]
	}
	if eraseT != nil {
		if erase = toFloat64s(eraseT); !tensor.SameShape(eraseT.Shape, []int{b, t, hkv * dk}) {
			return nil, fmt.Errorf("LinearAttention: erase_gate %v is not [%d, %d, %d]", eraseT.Shape, b, t, hkv*dk)
		}
	}
	state := make([]float64, b*hkv*dk*dv)
	stateType := q.DType
	if pastT != nil {
		if !tensor.SameShape(pastT.Shape, []int{b, hkv, dk, dv}) {
			return nil, fmt.Errorf("LinearAttention: past_state %v is not [%d, %d, %d, %d]", pastT.Shape, b, hkv, dk, dv)
		}
		copy(state, toFloat64s(pastT))
		stateType = pastT.DType
	}
	scale := la.scale
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(dk))
	}
	group := hq / hkv
	out := make([]float64, b*t*hq*dv)
	vt := make([]float64, dv)
	for bi := 0; bi < b; bi++ {
		for ti := 0; ti < t; ti++ {
			tok := bi*t + ti
			for h := 0; h < hkv; h++ {
				s := state[(bi*hkv+h)*dk*dv : (bi*hkv+h+1)*dk*dv]
				kt := kv[(tok*hkv+h)*dk : (tok*hkv+h+1)*dk]
				copy(vt, vv[(tok*hkv+h)*dv:(tok*hkv+h+1)*dv])
				if la.gating {
					for d := 0; d < dk; d++ {
						g := decay[tok*hkv+h]
						if decayPerDim {
							g = decay[(tok*hkv+h)*dk+d]
						}
						e := math.Exp(g)
						for m := 0; m < dv; m++ {
							s[d*dv+m] *= e
						}
					}
				}
				if la.delta {
					bt := beta[tok*betaW+min(h, betaW-1)]
					for m := 0; m < dv; m++ {
						r := 0.0
						for d := 0; d < dk; d++ {
							ke := kt[d]
							if erase != nil {
								ke *= erase[(tok*hkv+h)*dk+d]
							}
							r += s[d*dv+m] * ke
						}
						vt[m] = bt * (vt[m] - r)
					}
				}
				for d := 0; d < dk; d++ {
					for m := 0; m < dv; m++ {
						s[d*dv+m] += kt[d] * vt[m]
					}
				}
			}
			// Read: query head hqi uses key/value head hqi/group.
			for hqi := 0; hqi < hq; hqi++ {
				s := state[(bi*hkv+hqi/group)*dk*dv:]
				qt := qv[(tok*hq+hqi)*dk : (tok*hq+hqi+1)*dk]
				o := out[(tok*hq+hqi)*dv : (tok*hq+hqi+1)*dv]
				for m := 0; m < dv; m++ {
					acc := 0.0
					for d := 0; d < dk; d++ {
						acc += qt[d] * s[d*dv+m]
					}
					o[m] = scale * acc
				}
			}
		}
	}
	res := ctx.Results(2)
	res[0] = ctx.Alloc(q.DType, []int{b, t, hq * dv})
	res[1] = ctx.Alloc(stateType, []int{b, hkv, dk, dv})
	if err := storeFloats(out, res[0]); err != nil {
		return nil, err
	}
	if err := storeFloats(state, res[1]); err != nil {
		return nil, err
	}
	return res, nil
}
