package onnxops

import (
	"fmt"
	"math"
)

// CRReLUParams is the single parameter of CRReLU(x) = max(x,0) + ε·x·e^(−x²/2) [activations.md §3].
type CRReLUParams struct{ Epsilon float64 }

// CRReLUCutoff (|x| beyond it) is where the correction term is taken as 0, so that ±Inf never meets Inf·0.
const CRReLUCutoff = 40

// Family returns FamilyCRReLU.
func (CRReLUParams) Family() Family { return FamilyCRReLU }

// Validate rejects a non-finite ε.
func (p CRReLUParams) Validate() error {
	if math.IsNaN(p.Epsilon) || math.IsInf(p.Epsilon, 0) {
		return fmt.Errorf("CRReLU: epsilon %v is not finite", p.Epsilon)
	}
	return nil
}

// Eval evaluates CRReLU at x.
func (p CRReLUParams) Eval(x float64) float64 {
	if math.Abs(x) > CRReLUCutoff {
		return ReLU(x)
	}
	return ReLU(x) + p.Epsilon*x*math.Exp(-x*x/2)
}

// Deriv returns ∂f/∂x (the left derivative, ε, at x = 0) and ∂f/∂ε [§3.2].
func (p CRReLUParams) Deriv(x float64) (dx, dEps float64) {
	if math.IsNaN(x) {
		return x, x
	}
	if x > 0 {
		dx = 1
	}
	if math.Abs(x) > CRReLUCutoff {
		return dx, 0
	}
	g := math.Exp(-x * x / 2)
	return dx + p.Epsilon*(1-x*x)*g, x * g
}
