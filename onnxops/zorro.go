package onnxops

import (
	"fmt"
	"math"
)

// ZorroParams is the generalised Zorro of OPS.md [activations.md §1.10]:
//
//	z = InScale·x + InShift
//	Z(z) = clip(z,0,1) + h(min(z,0); AN,BN) − h(min(1−z,0); AP,BP)
//	Y = OutScale·Z(z) + OutShift, or with Gate, Y = x·(OutScale·Z(z) + OutShift)
//
// with h(u; a, b) = k·u·σ(a(u−b)), k = 1+e^(ab), evaluated without forming k.
type ZorroParams struct {
	AN, BN, AP, BP     float64
	InScale, InShift   float64
	OutScale, OutShift float64
	Gate               bool
}

// ZorroGrad holds the derivatives of Zorro at one x.
type ZorroGrad struct {
	DX                   float64
	DAN, DBN, DAP, DBP   float64
	DInScale, DInShift   float64
	DOutScale, DOutShift float64
}

// ZorroCutoff: where a·|u| exceeds it the hump h is taken as 0 (it is below e^-100·|u| there), so
// that u = ±Inf never meets Inf·0.
const ZorroCutoff = 100

// SymmetricZorro is the paper's Symmetric-Zorro with shape a, b (the authors use a=1.2, b=1).
func SymmetricZorro(a, b float64) ZorroParams {
	return ZorroParams{AN: a, BN: b, AP: a, BP: b, InScale: 1, OutScale: 1}
}

// SigmoidZorro is Z(m·x + 0.5; a, b) (the authors use a=4, b=2, m=0.5).
func SigmoidZorro(a, b, m float64) ZorroParams {
	return ZorroParams{AN: a, BN: b, AP: a, BP: b, InScale: m, InShift: 0.5, OutScale: 1}
}

// TanhZorro is 2·Z((m·x+1)/2; a, b) − 1 (the authors use a=4, b=2, m=1).
func TanhZorro(a, b, m float64) ZorroParams {
	return ZorroParams{AN: a, BN: b, AP: a, BP: b, InScale: m / 2, InShift: 0.5, OutScale: 2, OutShift: -1}
}

// Family returns FamilyZorro.
func (ZorroParams) Family() Family { return FamilyZorro }

// Vector returns the 8 values in the order of the params input
// (a_n, b_n, a_p, b_p, in_scale, in_shift, out_scale, out_shift); Gate is an attribute.
func (p ZorroParams) Vector() [8]float64 {
	return [8]float64{p.AN, p.BN, p.AP, p.BP, p.InScale, p.InShift, p.OutScale, p.OutShift}
}

// ZorroFromVector is the inverse of Vector.
func ZorroFromVector(v [8]float64, gate bool) ZorroParams {
	return ZorroParams{AN: v[0], BN: v[1], AP: v[2], BP: v[3], InScale: v[4], InShift: v[5], OutScale: v[6], OutShift: v[7], Gate: gate}
}

// Validate rejects non-finite parameters.
func (p ZorroParams) Validate() error {
	names := [8]string{"a_n", "b_n", "a_p", "b_p", "in_scale", "in_shift", "out_scale", "out_shift"}
	for i, v := range p.Vector() {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("Zorro: %s is %v", names[i], v)
		}
	}
	return nil
}

// softplus is log(1+e^t) without overflow.
func softplus(t float64) float64 { return math.Max(t, 0) + math.Log1p(math.Exp(-math.Abs(t))) }

func sigmoid(t float64) float64 {
	if t >= 0 {
		return 1 / (1 + math.Exp(-t))
	}
	e := math.Exp(t)
	return e / (1 + e)
}

// zorroHump is h(u; a, b) for u ≤ 0 and its derivatives in u, a and b, via
// G = exp(softplus(−β) + a·u − softplus(a·u − β)), β = a·b, whose exponent is ≤ 0 [§1.8, §1.9].
type zorroHump struct{ h, du, da, db float64 }

func hump(u, a, b float64) zorroHump {
	if u == 0 || math.Abs(a*u) > ZorroCutoff {
		if u == 0 {
			return zorroHump{du: 1}
		}
		return zorroHump{}
	}
	beta := a * b
	g := math.Exp(softplus(-beta) + a*u - softplus(a*u-beta))
	s := sigmoid(beta - a*u)
	dBeta := u * g * (sigmoid(a*u-beta) - sigmoid(-beta))
	dAFixedBeta := u * u * g * s
	return zorroHump{
		h:  u * g,
		du: g * (1 + a*u*s),
		da: dAFixedBeta + dBeta*b, // β = a·b moves with a
		db: dBeta * a,
	}
}

// core evaluates Z at z with ∂Z/∂z and the hump derivatives.
func (p ZorroParams) core(z float64) (zv, dz float64, neg, pos zorroHump) {
	neg = hump(math.Min(z, 0), p.AN, p.BN)
	pos = hump(math.Min(1-z, 0), p.AP, p.BP)
	zv = math.Min(math.Max(z, 0), 1) + neg.h - pos.h
	switch {
	case z < 0:
		dz = neg.du
	case z > 1:
		dz = pos.du
	default:
		dz = 1
	}
	return zv, dz, neg, pos
}

// Eval evaluates Zorro at x. NaN propagates; ±Inf never meets Inf·0 (with Gate, a zero factor
// gives 0, which is the limit of x·Z for x → ±Inf).
func (p ZorroParams) Eval(x float64) float64 {
	if math.IsNaN(x) {
		return x
	}
	zv, _, _, _ := p.core(p.InScale*x + p.InShift)
	w := p.OutScale*zv + p.OutShift
	if !p.Gate {
		return w
	}
	if w == 0 {
		return 0
	}
	return x * w
}

// Deriv returns the derivatives at x in x and in each of the 8 parameters [§1.8, chain rule
// through z = in_scale·x + in_shift and the output affine/gate].
func (p ZorroParams) Deriv(x float64) ZorroGrad {
	if math.IsNaN(x) {
		nan := math.NaN()
		return ZorroGrad{nan, nan, nan, nan, nan, nan, nan, nan, nan}
	}
	zv, dz, neg, pos := p.core(p.InScale*x + p.InShift)
	g := ZorroGrad{
		DX:        p.OutScale * dz * p.InScale,
		DAN:       p.OutScale * neg.da,
		DBN:       p.OutScale * neg.db,
		DAP:       -p.OutScale * pos.da,
		DBP:       -p.OutScale * pos.db,
		DInScale:  p.OutScale * dz * x,
		DInShift:  p.OutScale * dz,
		DOutScale: zv,
		DOutShift: 1,
	}
	if !p.Gate {
		return g
	}
	w := p.OutScale*zv + p.OutShift
	return ZorroGrad{
		DX:  w + x*g.DX,
		DAN: x * g.DAN, DBN: x * g.DBN, DAP: x * g.DAP, DBP: x * g.DBP,
		DInScale: x * g.DInScale, DInShift: x * g.DInShift,
		DOutScale: x * g.DOutScale, DOutShift: x,
	}
}
