package main

import (
	"fmt"
	"github.com/actswap/actswap/internal/asmgen"
	"github.com/actswap/actswap/internal/vecmath/coeffs"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// AVX-512 versions of the elementwise kernels of gen.go (Exp, Sigmoid, Tanh, Erf, GELU,
// GELUTanh, HardSwish): the same operations in the same order, lane for lane, so the results
// are those of the AVX2 kernels bit for bit (NaN payloads aside). What differs is the form: the
// exponential's constants sit in registers, the others are broadcast from memory by the
// instruction that uses them, the sign and range tests give opmasks that merge the two branches
// (no VBLENDVPS on zmm), AND/OR/XOR are the integer VPANDD/VPORD/VPXORD (the float ones on zmm
// need AVX512DQ), and the scalings by 2^n are VSCALEFPS. GEMM epilogues call these once per
// output row of a few hundred values, so the whole row, tail included, stays in assembly.

// avx512 is the 16-lane width: the tail runs under an opmask (tailMask16).
var avx512 = width{lanes: 16, isa: "AVX512F", reg: func() VecVirtual { return ZMM() },
	tail: func(src, dst Register, done string, body func(x VecVirtual) VecVirtual) {
		k := tailMask16("src", done)
		xt := ZMM()
		VMOVUPS_Z(Mem{Base: src}, k, xt) // lanes past the end are 0, mapped and not stored
		VMOVUPS(body(xt), k, Mem{Base: dst})
	}}

// horner16 is horner with the coefficients broadcast from memory.
func horner16(name string, c []float32, t VecVirtual) VecVirtual {
	p := bcast(coef(name, len(c)-1, c[len(c)-1]))
	for i := len(c) - 2; i >= 0; i-- {
		VFMADD213PS_BCST(coef(name, i, c[i]), t, p) // p = p·t + c_i
	}
	return p
}

func abs16(x VecVirtual) VecVirtual {
	a := ZMM()
	VPANDD_BCST(vecU32("absMask", 0x7fffffff), x, a)
	return a
}

// signSet16 returns the opmask of the lanes of x whose sign bit is set (VBLENDVPS's test).
func signSet16(x VecVirtual) OpmaskVirtual {
	k := K()
	VPTESTMD_BCST(vecU32("signMask", 0x80000000), x, k)
	return k
}

// withSignOf16 is withSignOf: |y| (y ≥ 0) with the sign bit of x.
func withSignOf16(y, x VecVirtual) VecVirtual {
	s := ZMM()
	VPANDD_BCST(vecU32("signMask", 0x80000000), x, s)
	VPORD(s, y, y)
	return y
}

// sigmoidExp16 returns e^−|x| as sigmoidExp8 computes it.
func sigmoidExp16(c exp16, x VecVirtual) VecVirtual {
	e := ZMM()
	VPORD_BCST(vecU32("signMask", 0x80000000), x, e) // −|x|
	VMAXPS(e, c.lo, e)                               // a NaN lane stays NaN; e ≤ 0 needs no upper clamp
	p, n := c.hornerParts(e)
	VSCALEFPS(n, p, p)
	return p
}

func sigmoid16() func(VecVirtual) VecVirtual {
	c := newSigmoidExp16()
	return func(x VecVirtual) VecVirtual {
		e := sigmoidExp16(c, x)
		s := ZMM()
		VADDPS(c.one, e, s)
		VDIVPS(s, c.one, s)           // 1/(1+e)
		VMULPS(e, s, signSet16(x), s) // sign bit of x set: e/(1+e)
		return s
	}
}

// silu16 is x·σ(x) (SiLU, Swish) as silu8: x/(1+e), the dividend x·e where x's sign bit is set,
// e = e^−|x|: four operations after e where Sigmoid's result times x takes five.
func silu16() func(VecVirtual) VecVirtual {
	c := newSigmoidExp16()
	return func(x VecVirtual) VecVirtual {
		e := sigmoidExp16(c, x)
		num := ZMM()
		VMOVAPS(x, num)
		VMULPS(e, x, signSet16(x), num) // sign bit of x set: x·e
		d := ZMM()
		VADDPS(c.one, e, d)
		VDIVPS(d, num, num)
		return num
	}
}

func tanh16() func(VecVirtual) VecVirtual {
	c := newExp16()
	return func(x VecVirtual) VecVirtual {
		a := abs16(x)
		small := K()
		VCMPPS_BCST(U8(asmgen.CmpLT), vecF32("tanhSmall", coeffs.TanhSmall), a, small)
		// Large |x|: (1 − e)/(1 + e), e = e^(−2|x|), with x's sign.
		e := ZMM()
		VMULPS_BCST(vecF32("minusTwo", -2), a, e)
		e = c.of(e)
		num, den := ZMM(), ZMM()
		VSUBPS(e, c.one, num)
		VADDPS(c.one, e, den)
		VDIVPS(den, num, num)
		big := withSignOf16(num, x)
		// Small |x|: x + x³·q(x²).
		x2 := ZMM()
		VMULPS(x, x, x2)
		q := horner16("tanhP", coeffs.TanhPoly[:], x2)
		VMULPS(x, x2, x2) // x³
		VFMADD213PS(x, x2, q)
		VMOVAPS(q, small, big)
		return big
	}
}

// erfcTail16 is erfcTail8: scale·erfc(u/√2)·e^(u²/2) for u in [0, uMax].
func erfcTail16(c exp16, u VecVirtual, scale float32) VecVirtual {
	t := ZMM()
	VMOVAPS(c.one, t)
	VFMADD231PS_BCST(vecF32("erfcT", coeffs.ErfcT), u, t) // 1 + T·u
	VDIVPS(t, c.one, t)
	cs := make([]float32, len(coeffs.ErfcPoly[:]))
	for i, v := range coeffs.ErfcPoly[:] {
		cs[i] = v * scale
	}
	return horner16(fmt.Sprintf("erfcR%dth", int(1/scale)), cs, t)
}

func erf16() func(VecVirtual) VecVirtual {
	c := newExp16()
	return func(x VecVirtual) VecVirtual {
		a := abs16(x)
		small := K()
		VCMPPS_BCST(U8(asmgen.CmpLT), vecF32("erfSmall", coeffs.ErfSmall), a, small)
		// Large |x|: 1 − e^(−x²)·erfcTail(√2·|x|), with x's sign.
		u := ZMM()
		VMULPS_BCST(vecF32("sqrt2", math.Sqrt2), a, u)
		VMINPS(u, bcast(vecF32("uMax", coeffs.UMax)), u)
		r := erfcTail16(c, u, 1)
		m := ZMM()
		VMULPS(a, a, m)
		VPXORD_BCST(vecU32("signMask", 0x80000000), m, m)
		VMULPS(c.of(m), r, r)
		y := ZMM()
		VSUBPS(r, c.one, y)
		big := withSignOf16(y, x)
		// Small |x|: x·p(x²).
		x2 := ZMM()
		VMULPS(x, x, x2)
		p := horner16("erfP", coeffs.ErfPoly[:], x2)
		VMULPS(x, p, p)
		VMOVAPS(p, small, big)
		return big
	}
}

// gelu16 is gelu8. Its scalings by s1 = 2^n1 and s2 = 2^n2 (n1 = ⌊n/2⌋, n2 = n − n1 = ⌈n/2⌉)
// are VSCALEFPS by n/2, which floors its scale, and by ⌈n/2⌉: multiplications by the same powers
// of two, each rounded once, so the same bits.
func gelu16() func(VecVirtual) VecVirtual {
	c := newExpParts16()
	return func(x VecVirtual) VecVirtual {
		u := abs16(x)
		VMINPS(u, bcast(vecF32("uMax", coeffs.UMax)), u)
		// −u²/2 = hi + lo exactly: w = −u/2 is exact, hi = u·w rounded, lo = u·w − hi by FMA.
		w, hi, lo := ZMM(), ZMM(), ZMM()
		VMULPS_BCST(vecF32("minusHalf", -0.5), u, w)
		VMULPS(w, u, hi)
		VMOVAPS(hi, lo)
		VFMSUB231PS(w, u, lo)      // lo = u·w − hi
		g := erfcTail16(c, u, 0.5) // R/2
		VFMADD231PS(lo, g, g)      // R·(1 + lo) ≈ R·e^lo
		p, n := c.parts(hi)
		VMULPS(p, g, g)
		h := ZMM()
		VMULPS_BCST(vecF32("half", 0.5), n, h) // n/2, exact
		VSCALEFPS(h, g, g)                     // q = ½R·e^(−u²/2)/2^n2, a normal float
		VRNDSCALEPS(U8(2), h, h)               // n2 = ⌈n/2⌉
		pos := ZMM()
		VSCALEFPS(h, g, pos) // Φ(−u)
		VSUBPS(pos, c.one, pos)
		VMULPS(x, pos, pos) // x·(1 − Φ(−x))
		neg := ZMM()
		VMAXPS(x, bcast(vecF32("minusUMax", -coeffs.UMax)), neg)
		VMULPS(g, neg, neg)
		VSCALEFPS(h, neg, neg) // x·Φ(x) for x < 0
		VMOVAPS(neg, signSet16(x), pos)
		return pos
	}
}

func geluTanh16() func(VecVirtual) VecVirtual {
	c := newExp16()
	return func(x VecVirtual) VecVirtual {
		xc := ZMM()
		VMAXPS(x, bcast(vecF32("geluTanhLo", coeffs.GeluTanhLo)), xc)
		z := ZMM()
		VMULPS(xc, xc, z)
		VMULPS_BCST(vecF32("geluTanhK", coeffs.GeluTanhK), z, z)
		VADDPS(c.one, z, z)
		VMULPS(xc, z, z)
		VMULPS_BCST(vecF32("geluTanhC", coeffs.GeluTanhC), z, z)
		e := abs16(z)
		VMULPS_BCST(vecF32("minusTwo", -2), e, e)
		e = c.of(e)
		s := ZMM()
		VADDPS(c.one, e, s)
		VDIVPS(s, c.one, s)
		VMULPS(e, s, signSet16(z), s) // z < 0: e/(1+e)
		VMULPS(xc, s, s)
		return s
	}
}

func hardSwish16(x VecVirtual) VecVirtual {
	t := bcast(vecF32("half", 0.5))
	VFMADD231PS_BCST(vecF32("sixth", 1.0/6), x, t) // x/6 + ½
	VMAXPS_BCST(vecF32("zero", 0), t, t)           // a NaN t becomes 0, but x·t is NaN again below
	VMINPS_BCST(vecF32("one", 1), t, t)
	VMULPS(x, t, t)
	return t
}
