package calibrate

import (
	"math"

	"github.com/actswap/actswap/onnxops"
)

// crreluInitEpsilon is the papers' initial ε [activations.md §3.1].
const crreluInitEpsilon = 0.01

// crreluMaxEpsilon keeps the fitted function practically monotone [§4.2].
const crreluMaxEpsilon = 0.5

// fitCRReLU solves the one-parameter least squares in closed form [§4.2]: with r = g − ReLU and
// q = x·e^(−x²/2), ε* = Σ w r q / Σ w q². ε = 0 is plain ReLU and lies inside the clamp, and the loss
// is convex in ε, so the clamped optimum is never worse than ReLU.
func fitCRReLU(target Target, d *distribution, opts FitOptions) onnxops.Params {
	if opts.Objective == ObjectiveInit {
		return onnxops.CRReLUParams{Epsilon: crreluInitEpsilon}
	}
	var num, den float64
	for i, x := range d.fit.x {
		q := 0.0
		if math.Abs(x) <= 40 {
			q = x * math.Exp(-x*x/2)
		}
		r := d.fit.y[i] - onnxops.ReLU(x)
		num += d.fit.w[i] * r * q
		den += d.fit.w[i] * q * q
	}
	eps := 0.0
	if den > 0 {
		eps = num / den
	}
	eps = math.Max(-crreluMaxEpsilon, math.Min(crreluMaxEpsilon, eps))
	return onnxops.CRReLUParams{Epsilon: eps}
}
