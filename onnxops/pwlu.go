package onnxops

import (
	"fmt"
	"math"
)

// PWLUParams is a piecewise linear unit [activations.md §2]: N = len(Heights)−1 uniform intervals
// on [BL, BR] with knot heights Heights, and slopes KL, KR outside the bounds.
type PWLUParams struct {
	BL, BR  float64
	Heights []float64 // N+1 knot heights Y⁰…Y^N
	KL, KR  float64
}

// PWLUGrad holds the derivatives of PWLU at one x.
type PWLUGrad struct {
	DX       float64
	DBL, DBR float64
	DHeights []float64 // len N+1
	DKL, DKR float64
}

// Family returns FamilyPWLU.
func (PWLUParams) Family() Family { return FamilyPWLU }

// N is the number of intervals.
func (p PWLUParams) N() int { return len(p.Heights) - 1 }

// Validate checks N ≥ 1, B_L < B_R and finite values.
func (p PWLUParams) Validate() error {
	if p.N() < 1 {
		return fmt.Errorf("PWLU: %d heights, need at least 2 (N ≥ 1 intervals)", len(p.Heights))
	}
	for _, v := range []float64{p.BL, p.BR, p.KL, p.KR} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("PWLU: bounds and slopes must be finite, got B_L=%v B_R=%v K_L=%v K_R=%v", p.BL, p.BR, p.KL, p.KR)
		}
	}
	if !(p.BL < p.BR) {
		return fmt.Errorf("PWLU: bounds need B_L < B_R, got B_L=%v B_R=%v", p.BL, p.BR)
	}
	for i, h := range p.Heights {
		if math.IsNaN(h) || math.IsInf(h, 0) {
			return fmt.Errorf("PWLU: height %d is %v", i, h)
		}
	}
	return nil
}

// Knot returns B_i = B_L + i·d.
func (p PWLUParams) Knot(i int) float64 {
	return p.BL + float64(i)*(p.BR-p.BL)/float64(p.N())
}

// segment locates x inside [BL, BR): interval i and its fraction u, with t = (x−B_L)/d = i+u.
func (p PWLUParams) segment(x float64) (i int, u float64) {
	n := p.N()
	t := (x - p.BL) / (p.BR - p.BL) * float64(n)
	f := math.Floor(t)
	i = int(f)
	if i < 0 { // rounding at B_L; the function is continuous there
		i = 0
	}
	if i > n-1 {
		i = n - 1
	}
	return i, t - float64(i)
}

// Eval evaluates PWLU at x. NaN propagates; ±Inf with a zero outer slope gives the end height.
func (p PWLUParams) Eval(x float64) float64 {
	n := p.N()
	switch {
	case math.IsNaN(x):
		return x
	case x < p.BL:
		if p.KL == 0 {
			return p.Heights[0]
		}
		return p.Heights[0] + (x-p.BL)*p.KL
	case x >= p.BR:
		if p.KR == 0 {
			return p.Heights[n]
		}
		return p.Heights[n] + (x-p.BR)*p.KR
	}
	d := (p.BR - p.BL) / float64(n)
	i, _ := p.segment(x)
	k := (p.Heights[i+1] - p.Heights[i]) / d
	return p.Heights[i] + (x-p.Knot(i))*k
}

// Deriv returns the derivatives at x [§2.2]; at a knot it uses the right-hand interval.
func (p PWLUParams) Deriv(x float64) PWLUGrad {
	n := p.N()
	g := PWLUGrad{DHeights: make([]float64, n+1)}
	switch {
	case math.IsNaN(x):
		nan := math.NaN()
		g.DX, g.DBL, g.DBR, g.DKL, g.DKR = nan, nan, nan, nan, nan
		for i := range g.DHeights {
			g.DHeights[i] = nan
		}
	case x < p.BL:
		g.DX, g.DHeights[0], g.DKL, g.DBL = p.KL, 1, x-p.BL, -p.KL
	case x >= p.BR:
		g.DX, g.DHeights[n], g.DKR, g.DBR = p.KR, 1, x-p.BR, -p.KR
	default:
		d := (p.BR - p.BL) / float64(n)
		i, u := p.segment(x)
		k := (p.Heights[i+1] - p.Heights[i]) / d
		frac := (float64(i) + u) / float64(n)
		g.DX = k
		g.DHeights[i] = 1 - u
		g.DHeights[i+1] = u
		g.DBL = -k * (1 - frac)
		g.DBR = -k * frac
	}
	return g
}
