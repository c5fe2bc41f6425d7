package calibrate

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/onnxops"
)

// freeParams are the parameters of one set that end-to-end refinement moves: PWLU's heights and
// outer slopes (the bounds stay: moving them re-slices every interval, and the output is linear in
// the rest), Zorro's eight shape, scale and shift values (the gate is structural), CRReLU's ε.
func freeParams(p onnxops.Params) ([]float64, error) {
	switch q := p.(type) {
	case onnxops.PWLUParams:
		return append(append([]float64{}, q.Heights...), q.KL, q.KR), nil
	case onnxops.ZorroParams:
		v := q.Vector()
		return v[:], nil
	case onnxops.CRReLUParams:
		return []float64{q.Epsilon}, nil
	}
	return nil, fmt.Errorf("cannot refine parameters of type %T", p)
}

// withFreeParams is p with its free parameters replaced by v (the layout of freeParams).
func withFreeParams(p onnxops.Params, v []float64) (onnxops.Params, error) {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("parameter %d is not finite", i)
		}
	}
	var out onnxops.Params
	switch q := p.(type) {
	case onnxops.PWLUParams:
		n := len(q.Heights)
		if len(v) != n+2 {
			return nil, fmt.Errorf("PWLU with %d heights takes %d free parameters, got %d", n, n+2, len(v))
		}
		out = onnxops.PWLUParams{BL: q.BL, BR: q.BR, Heights: append([]float64{}, v[:n]...), KL: v[n], KR: v[n+1]}
	case onnxops.ZorroParams:
		if len(v) != 8 {
			return nil, fmt.Errorf("Zorro takes 8 free parameters, got %d", len(v))
		}
		out = onnxops.ZorroFromVector([8]float64(v), q.Gate)
	case onnxops.CRReLUParams:
		if len(v) != 1 {
			return nil, fmt.Errorf("CRReLU takes 1 free parameter, got %d", len(v))
		}
		out = onnxops.CRReLUParams{Epsilon: v[0]}
	default:
		return nil, fmt.Errorf("cannot refine parameters of type %T", p)
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

// paramSteps are the finite-difference steps for the free parameters: 1% of the parameter's size
// or of the scale of the site's values, whichever is larger. For PWLU (linear in its free
// parameters) the step only has to be large against float32 rounding in the tail.
func paramSteps(v []float64, scale float64) []float64 {
	h := make([]float64, len(v))
	for i, x := range v {
		h[i] = 1e-2 * math.Max(math.Abs(x), scale)
	}
	return h
}

// pointwiseGramian is Σ_j w_j ∇θf(x_j) ∇θf(x_j)ᵀ over a site's histogram: the Gauss–Newton matrix
// of the pointwise fit's loss. Regularising the end-to-end step with it keeps the refined function
// close to the pointwise fit where the data are, in the units of the activation, and leaves the
// parameters the data never touch (PWLU intervals without values) to the small ridge.
func pointwiseGramian(p onnxops.Params, h *Histogram, steps []float64) ([][]float64, error) {
	v, err := freeParams(p)
	if err != nil {
		return nil, err
	}
	k := len(v)
	grads := make([]onnxops.Params, k)
	for i := range v {
		w := append([]float64{}, v...)
		w[i] += steps[i]
		if grads[i], err = withFreeParams(p, w); err != nil {
			return nil, err
		}
	}
	gram := make([][]float64, k)
	for i := range gram {
		gram[i] = make([]float64, k)
	}
	if h == nil {
		return gram, nil
	}
	total := h.Total()
	g := make([]float64, k)
	for j, c := range h.Counts {
		if c == 0 {
			continue
		}
		x := h.Center(j)
		base := p.Eval(x)
		for i := range g {
			g[i] = (grads[i].Eval(x) - base) / steps[i]
		}
		w := c / total
		for a := range k {
			if g[a] == 0 {
				continue
			}
			for b := range k {
				gram[a][b] += w * g[a] * g[b]
			}
		}
	}
	return gram, nil
}
