package vecmath

import "math"

var negInf = math.Inf(-1)

// Scalar float32 versions of the kernels, step for step as the assembly computes them (the
// assembly fuses some multiply-adds, so results may differ in the last bit). They serve CPUs
// without AVX2/FMA, other architectures, and the tails of slices shorter than a vector.

// expParts splits e^x into p·2^n1·2^n2 with p = e^r, |r| ≤ ln2/2, and both scale factors normal
// floats: multiplying by them in that order rounds once, even for denormal results. x must be
// in [expLo, expHi] (or NaN, which propagates through p).
func expParts(x float32) (p, s1, s2 float32) {
	n := float32(math.RoundToEven(float64(x * log2e)))
	r := x - n*ln2Hi
	r -= n * ln2Lo
	p = expPoly[5]
	for i := 4; i >= 0; i-- {
		p = p*r + expPoly[i]
	}
	p = p*(r*r) + r + 1
	ni := int32(n)
	n1 := ni >> 1
	n2 := ni - n1
	return p, pow2(n1), pow2(n2)
}

// pow2 is 2^n for n in the normal exponent range.
func pow2(n int32) float32 { return math.Float32frombits(uint32(n+127) << 23) }

func clampExp(x float32) float32 { return min(max(x, expLo), expHi) }

func expScalar(x float32) float32 {
	if x != x {
		return x
	}
	p, s1, s2 := expParts(clampExp(x))
	return p * s1 * s2
}

// sigmoidScalar is 1/(1+e^−x), from e = e^−|x| so that nothing overflows and the negative side,
// e/(1+e), keeps its relative accuracy down to the denormals.
func sigmoidScalar(x float32) float32 {
	if x != x {
		return x
	}
	e := expScalar(-abs32(x))
	s := 1 / (1 + e)
	if x < 0 {
		return e * s
	}
	return s
}

func tanhScalar(x float32) float32 {
	a := abs32(x)
	if a < tanhSmall {
		x2 := x * x
		q := tanhPoly[4]
		for i := 3; i >= 0; i-- {
			q = q*x2 + tanhPoly[i]
		}
		return (x*x2)*q + x
	}
	if x != x {
		return x
	}
	e := expScalar(-2 * a)
	return math.Float32frombits(math.Float32bits((1-e)/(1+e)) | math.Float32bits(x)&(1<<31))
}

// erfcTail returns erfc(u/√2)·e^(u²/2) for u in [0, uMax].
func erfcTail(u float32) float32 {
	t := 1 / (1 + erfcT*u)
	r := erfcPoly[len(erfcPoly)-1]
	for i := len(erfcPoly) - 2; i >= 0; i-- {
		r = r*t + erfcPoly[i]
	}
	return r
}

func erfScalar(x float32) float32 {
	a := abs32(x)
	if a < erfSmall {
		x2 := x * x
		p := erfPoly[5]
		for i := 4; i >= 0; i-- {
			p = p*x2 + erfPoly[i]
		}
		return x * p
	}
	if x != x {
		return x
	}
	u := min(a*math.Sqrt2, uMax)
	p, s1, s2 := expParts(clampExp(-a * a))
	c := erfcTail(u) * p * s1 * s2
	return math.Float32frombits(math.Float32bits(1-c) | math.Float32bits(x)&(1<<31))
}

// geluScalar is x·Φ(x) with Φ(−u) = ½·e^(−u²/2)·erfcTail(u), u = |x|. u² is split into a float32
// hi part and its exact remainder lo, e^(−u²/2) = e^(−hi/2)·(1 − lo/2): without the split, the
// rounding of u² alone would cost up to u²·6e-8 relative (1e-5 at u = 13) in the negative tail.
func geluScalar(x float32) float32 {
	if x != x {
		return x
	}
	u := min(abs32(x), uMax)
	hi := u * u
	lo := float32(float64(u)*float64(u) - float64(hi)) // exact: u² fits in float64
	g := 0.5 * erfcTail(u) * (1 - 0.5*lo)
	p, s1, s2 := expParts(-0.5 * hi)
	q := g * p * s1 // normal: the one rounding into the denormals is the last multiply
	if x < 0 {
		return (max(x, -uMax) * q) * s2
	}
	return x * (1 - q*s2)
}

// geluTanhScalar is GELU's tanh form, ½x·(1 + tanh z) with z = √(2/π)·(x + 0.044715x³), computed
// as x·σ(2z) so that the negative side does not cancel.
func geluTanhScalar(x float32) float32 {
	if x != x {
		return x
	}
	xc := max(x, geluTanhLo)
	z := geluTanhC * xc * (1 + geluTanhK*xc*xc)
	e := expScalar(-2 * abs32(z))
	s := 1 / (1 + e)
	if z < 0 {
		s *= e
	}
	return xc * s
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
