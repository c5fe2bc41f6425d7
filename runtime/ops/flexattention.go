package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// PreviewDomain holds ONNX operators still in preview (ai.onnx.preview).
const PreviewDomain = "ai.onnx.preview"

func init() {
	Register(PreviewDomain, "FlexAttention", 1, newFlexAttention)
}

// newFlexAttention (ai.onnx.preview 1): scaled dot-product attention whose scores and
// probabilities pass through user graphs — Y = (prob_mod(softmax(score_mod(Q·Kᵀ·scale))))·V,
// with Q [B, Hq, L, E], K [B, Hkv, S, E], V [B, Hkv, S, Ev] and each key/value head shared by
// Hq/Hkv consecutive query heads (grouped-query attention). It follows the operator's function
// body: √scale (default 1/√E) multiplies Q and K in their type, the scores are rounded to that
// type and then cast to the softmax precision (float32, or float64 for float64 inputs, or the
// softmax_precision attribute), where score_mod, the softmax over S, prob_mod and the product
// with V happen; Y is cast back. score_mod and prob_mod take and return the whole [B, Hq, L, S]
// tensor. Sums are in float64.
func newFlexAttention(n *Node) (Kernel, error) {
	var scoreMod, probMod Graph
	var err error
	if n.AttrGraph("score_mod") != nil {
		if scoreMod, err = compileBody(n, "score_mod"); err != nil {
			return nil, err
		}
	}
	if n.AttrGraph("prob_mod") != nil {
		if probMod, err = compileBody(n, "prob_mod"); err != nil {
			return nil, err
		}
	}
	scaleAttr, hasScale := float64(n.AttrFloat("scale", 0)), n.HasAttr("scale")
	precision := tensor.DType(n.AttrInt("softmax_precision", 0))
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 3); err != nil {
			return nil, err
		}
		q, k, v := in[0], in[1], in[2]
		if q.Rank() != 4 || k.Rank() != 4 || v.Rank() != 4 {
			return nil, fmt.Errorf("Q %v, K %v and V %v must be 4-D [batch, heads, sequence, head size]", q.Shape, k.Shape, v.Shape)
		}
		dt := q.DType
		if !dt.IsFloat() || k.DType != dt || v.DType != dt {
			return nil, fmt.Errorf("Q, K and V must be one float type, got %v, %v, %v", q.DType, k.DType, v.DType)
		}
		B, Hq, L, E := q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
		Hkv, S, Ev := k.Shape[1], k.Shape[2], v.Shape[3]
		switch {
		case k.Shape[0] != B || v.Shape[0] != B || k.Shape[3] != E || v.Shape[1] != Hkv || v.Shape[2] != S:
			return nil, fmt.Errorf("K %v and V %v do not fit Q %v", k.Shape, v.Shape, q.Shape)
		case Hkv == 0 || Hq%Hkv != 0:
			return nil, fmt.Errorf("%d query heads are not a multiple of %d key/value heads", Hq, Hkv)
		}
		sp := precision
		if sp == tensor.Undefined {
			sp = tensor.Float32
			if dt == tensor.Float64 {
				sp = tensor.Float64
			}
		}
		scale := scaleAttr
		if !hasScale {
			scale = float64(float32(1 / math.Sqrt(float64(float32(E)))))
		}
		root := roundFloat(dt, float64(float32(math.Sqrt(float64(float32(scale))))))
		qs, ks, vs := toFloat64s(q), toFloat64s(k), toFloat64s(v)
		rep := Hq / Hkv
		scores := make([]float64, B*Hq*L*S)
		qScaled, kScaled := make([]float64, E), make([]float64, S*E)
		for b := range B {
			for h := range Hq {
				kh := (b*Hkv + h/rep) * S * E
				for i := range S * E {
					kScaled[i] = roundFloat(dt, ks[kh+i]*root)
				}
				for l := range L {
					qrow := qs[((b*Hq+h)*L+l)*E:]
					for e := range E {
						qScaled[e] = roundFloat(dt, qrow[e]*root)
					}
					out := scores[((b*Hq+h)*L+l)*S:]
					for s := range S {
						sum := 0.0
						for e := range E {
							sum += qScaled[e] * kScaled[s*E+e]
						}
						out[s] = roundFloat(sp, roundFloat(dt, sum))
					}
				}
			}
		}
		shape := []int{B, Hq, L, S}
		probs, err := applyMod(ctx, scoreMod, "score_mod", sp, shape, scores)
		if err != nil {
			return nil, err
		}
		for row := range B * Hq * L {
			softmaxRounded(probs[row*S:(row+1)*S], sp)
		}
		if probs, err = applyMod(ctx, probMod, "prob_mod", sp, shape, probs); err != nil {
			return nil, err
		}
		y := make([]float64, B*Hq*L*Ev)
		for b := range B {
			for h := range Hq {
				vh := vs[(b*Hkv+h/rep)*S*Ev:]
				for l := range L {
					p := probs[((b*Hq+h)*L+l)*S:]
					out := y[((b*Hq+h)*L+l)*Ev:]
					for e := range Ev {
						sum := 0.0
						for s := range S {
							sum += p[s] * roundFloat(sp, vh[s*Ev+e])
						}
						out[e] = roundFloat(sp, sum)
					}
				}
			}
		}
		res, err := floatOut(ctx, dt, []int{B, Hq, L, Ev}, y)
		return []*tensor.Tensor{res}, err
	}), nil
}

// applyMod runs a score_mod or prob_mod graph on vals (shape, type dt) and returns its result's
// values; without a graph it returns vals.
func applyMod(ctx *Context, g Graph, attr string, dt tensor.DType, shape []int, vals []float64) ([]float64, error) {
	if g == nil {
		return vals, nil
	}
	in := tensor.Zeros(dt, shape)
	if err := storeFloats(vals, in); err != nil {
		return nil, err
	}
	outs, err := g.Run(ctx, []*tensor.Tensor{in})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", attr, err)
	}
	if len(outs) != 1 || outs[0] == nil || !tensor.SameShape(outs[0].Shape, shape) || outs[0].DType != dt {
		return nil, fmt.Errorf("%s must return one %v%v tensor, got %d outputs", attr, dt, shape, len(outs))
	}
	return toFloat64s(outs[0]), nil
}

// softmaxRounded turns row into softmax(row) in place, in float64, rounded to dt. A row of −∞ (every
// key masked) gives NaN, as the operator's Softmax does.
func softmaxRounded(row []float64, dt tensor.DType) {
	top := math.Inf(-1)
	for _, v := range row {
		top = math.Max(top, v)
	}
	sum := 0.0
	for i, v := range row {
		row[i] = math.Exp(v - top)
		sum += row[i]
	}
	for i := range row {
		row[i] = roundFloat(dt, row[i]/sum)
	}
}
