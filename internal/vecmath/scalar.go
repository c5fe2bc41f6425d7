package vecmath

import "math"

var negInf = math.Inf(-1)

// Scalar float32 versions of the kernels, step for step as the assembly computes them (the
// assembly fuses some multiply-adds, so results may differ in the last bit). They serve CPUs
// without AVX2/FMA, other architectures, and the tails of slices shorter than a vector.

// expParts splits e^x into p·2^n1·2^n2 with p = e^r, |r| ≤ ln2/2, and both scale factors normal
// floats: multiplying by them in that order rounds once, even for denormal results. x must be
// in [expLo, expHi] (or NaN, which propagates through p).
func expParts(x float32) (p, s1, s2 float32) { return expPartsWith(x, expPoly[:]) }

// expPartsWith is expParts with poly for e^r's terms from r² on.
func expPartsWith(x float32, poly []float32) (p, s1, s2 float32) {
	n, r := expReduce(x)
	p = horner32(poly, r)
	p = p*(r*r) + r + 1
	s1, s2 = pow2Halves(n)
	return p, s1, s2
}

// expReduce returns n = x·log2e rounded and r = x − n·ln2 (in two steps, ln2Hi then ln2Lo).
func expReduce(x float32) (n, r float32) {
	// Adding and subtracting 1.5·2^23 rounds to the nearest integer, ties to even (|x·log2e| is
	// far below 2^22); Go evaluates float32 expressions as written, so it is not folded away.
	const round = 12582912
	n = (x*log2e + round) - round
	r = x - n*ln2Hi
	r -= n * ln2Lo
	return n, r
}

// horner32 returns Σ poly[i]·r^i, by Horner's rule from the highest term.
func horner32(poly []float32, r float32) float32 {
	p := poly[len(poly)-1]
	for i := len(poly) - 2; i >= 0; i-- {
		p = p*r + poly[i]
	}
	return p
}

// pow2Halves returns 2^n1 and 2^n2, n1 = n>>1 and n2 = n − n1, for n a whole number as a float.
func pow2Halves(n float32) (s1, s2 float32) {
	ni := int32(n)
	n1 := ni >> 1
	return pow2(n1), pow2(ni - n1)
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

// sigmoidExp is e^x for x ≤ 0 (or NaN) as Sigmoid and SiLU compute it: expParts's reduction,
// the shorter polynomial sigPoly in plain Horner form (sigmoidParts), and no upper clamp, which
// x never reaches.
func sigmoidExp(x float32) float32 {
	p, s1, s2 := sigmoidParts(max(x, expLo))
	return p * s1 * s2
}

// sigmoidParts is expPartsWith for sigPoly with e^r = 1 + r·(1 + r·(sigPoly's terms)) evaluated
// by Horner's rule to the end: two multiply-adds for the last two terms where expPartsWith's
// p·r² + r + 1 takes three operations, one fewer in the vector kernels' longest chain. The
// sigmoid's bound holds as before (TestAccuracy).
func sigmoidParts(x float32) (p, s1, s2 float32) {
	n, r := expReduce(x)
	p = horner32(sigPoly[:], r)
	p = p*r + 1
	p = p*r + 1
	s1, s2 = pow2Halves(n)
	return p, s1, s2
}

// sigmoidScalar is 1/(1+e^−x), from e = e^−|x| so that nothing overflows and the negative side,
// e/(1+e), keeps its relative accuracy down to the denormals.
func sigmoidScalar(x float32) float32 {
	if x != x {
		return x
	}
	e := sigmoidExp(-abs32(x))
	s := 1 / (1 + e)
	if x < 0 {
		return e * s
	}
	return s
}

// siluScalar is x·σ(x), as the vector kernels compute it: from e = e^−|x|, x/(1+e) where x ≥ 0
// and x·e/(1+e) where x < 0 (a sign bit set), two roundings after e where x·σ(x) through
// Sigmoid's 1/(1+e) takes three. At −Inf, e is 0 and x·e NaN, as Mul(x, Sigmoid(x)) gives.
func siluScalar(x float32) float32 {
	if x != x {
		return x
	}
	e := sigmoidExp(-abs32(x))
	num := x
	if math.Signbit(float64(x)) {
		num = x * e
	}
	return num / (1 + e)
}

func tanhScalar(x float32) float32 {
	a := abs32(x)
	if a < tanhSmall {
		x2 := x * x
		q := tanhPoly[4]
		q = q*x2 + tanhPoly[3]
		q = q*x2 + tanhPoly[2]
		q = q*x2 + tanhPoly[1]
		q = q*x2 + tanhPoly[0]
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
	r := erfcPoly[8]
	r = r*t + erfcPoly[7]
	r = r*t + erfcPoly[6]
	r = r*t + erfcPoly[5]
	r = r*t + erfcPoly[4]
	r = r*t + erfcPoly[3]
	r = r*t + erfcPoly[2]
	r = r*t + erfcPoly[1]
	return r*t + erfcPoly[0]
}

func erfScalar(x float32) float32 {
	a := abs32(x)
	if a < erfSmall {
		x2 := x * x
		p := erfPoly[5]
		p = p*x2 + erfPoly[4]
		p = p*x2 + erfPoly[3]
		p = p*x2 + erfPoly[2]
		p = p*x2 + erfPoly[1]
		p = p*x2 + erfPoly[0]
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

// geluScalar is x·Φ(x) with Φ(−u) = ½·e^(−u²/2)·erfcTail(u), u = |x|. −u²/2 is split into a
// float32 hi part and its exact remainder lo, e^(−u²/2) = e^hi·(1 + lo): without the split, the
// rounding of u² alone would cost up to u²·6e-8 relative (1e-5 at u = 13) in the negative tail.
func geluScalar(x float32) float32 {
	if x != x {
		return x
	}
	u := min(abs32(x), uMax)
	w := -0.5 * u // exact
	hi := u * w
	lo := float32(float64(u)*float64(w) - float64(hi)) // exact: u·w fits in float64
	g := 0.5 * erfcTail(u)
	g += g * lo
	p, s1, s2 := expParts(hi)
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

// hardSwishScalar is x·clip(x/6 + ½, 0, 1); a NaN x stays NaN through the last product.
func hardSwishScalar(x float32) float32 {
	t := x*(1.0/6) + 0.5
	if t < 0 {
		t = 0
	}
	if t > 1 {
		t = 1
	}
	return x * t
}
