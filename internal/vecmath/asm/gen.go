// Command asm generates the AVX2/FMA kernels of package vecmath with avo. Run it through
// `go generate` in internal/vecmath; the .s and stub files it writes are committed.
//
// Every elementwise kernel takes (dst, src []float32), handles the first len(src)/8·8 elements
// (the Go wrappers finish the tail) and may run in place (dst = src). The math is that of
// ../scalar.go, lane for lane, with multiply-adds fused.
package main

import (
	"fmt"
	"github.com/actswap/actswap/internal/asmgen"
	"math"
	"math/bits"
	"strings"

	"github.com/actswap/actswap/internal/vecmath/coeffs"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!noasm")
	unary(avx2, "expAVX2", "e^x", fixed(func(x VecVirtual) VecVirtual { return exp8(x, true) }))
	unary(avx2, "sigmoidAVX2", "1/(1+e^−x)", fixed(sigmoid8))
	unary(avx2, "siluAVX2", "x/(1+e^−x)", fixed(silu8))
	unary(avx2, "tanhAVX2", "tanh x", fixed(tanh8))
	unary(avx2, "erfAVX2", "erf x", fixed(erf8))
	unary(avx2, "geluAVX2", "x·Φ(x)", fixed(gelu8))
	unary(avx2, "geluTanhAVX2", "GELU's tanh form", fixed(geluTanh8))
	unary(avx2, "hardSwishAVX2", "x·clip(x/6 + ½, 0, 1)", fixed(hardSwish8))
	biasedUnary(avx2, "siluBiasAVX2", "x/(1+e^−x)", fixed(silu8))
	biasedUnary(avx2, "hardSwishBiasAVX2", "x·clip(x/6 + ½, 0, 1)", fixed(hardSwish8))
	expSumShifted()
	maxKernel()
	scaleKernel()
	overlapMap("maxIntoAVX2", "sets dst[i] = max(dst[i], src[i]) for every element of src, as Go's max (AVX)", true,
		func(d, s VecVirtual, reg func() VecVirtual) VecVirtual { return maxOf(d, s, reg) })
	overlapMap("reluAVX2", "sets dst[i] = max(src[i], 0) for every element of src, as Go's max (AVX)", false,
		func(_, s VecVirtual, reg func() VecVirtual) VecVirtual { return relu(s, reg) })
	maxPool2x2Kernel()
	poolKernels()
	clampKernel()
	reluBiasKernel()
	arithKernels()
	sumF64Kernel()
	sqDevF64Kernel()
	normalizeKernel("normalizeAVX2", true)
	normalizeKernel("normalizeNoBetaAVX2", false)
	avx512Kernels()
	Generate()
}

// The shared generator pieces, under the names this generator's code uses.
var (
	vecF32, vecU32 = asmgen.VecF32, asmgen.VecU32
	kernel         = asmgen.Kernel
)

func coef(name string, i int, v float32) Mem { return vecF32(fmt.Sprintf("%s%d", name, i), v) }

// horner returns Σ c_k·t^k.
func horner(name string, c []float32, t VecVirtual) VecVirtual {
	p := YMM()
	VMOVUPS(coef(name, len(c)-1, c[len(c)-1]), p)
	for i := len(c) - 2; i >= 0; i-- {
		VFMADD213PS(coef(name, i, c[i]), t, p) // p = p·t + c_i
	}
	return p
}

// expParts computes p, s1, s2 with e^x = p·s1·s2 as expParts in ../scalar.go; x (already
// clamped) is clobbered.
func expParts(x VecVirtual) (p, s1, s2 VecVirtual) { return expPartsWith("expP", coeffs.ExpPoly[:], x) }

// expPartsWith is expParts with the polynomial poly (named name) for e^r.
func expPartsWith(name string, poly []float32, x VecVirtual) (p, s1, s2 VecVirtual) {
	n := YMM()
	VMULPS(vecF32("log2e", coeffs.Log2e), x, n)
	VROUNDPS(U8(0), n, n) // to nearest even
	VFNMADD231PS(vecF32("ln2Hi", coeffs.Ln2Hi), n, x)
	VFNMADD231PS(vecF32("ln2Lo", coeffs.Ln2Lo), n, x)
	p = horner(name, poly, x)
	r2 := YMM()
	VMULPS(x, x, r2)
	VFMADD213PS(x, r2, p) // p·r² + r
	VADDPS(vecF32("one", 1), p, p)
	s1, s2 = pow2Halves(n)
	return p, s1, s2
}

// clampExp limits x to [expLo, expHi] in place; a NaN lane stays NaN (VMAXPS/VMINPS return
// their first Go operand when either is NaN).
func clampExp(x VecVirtual) {
	VMAXPS(x, load(vecF32("expLo", coeffs.ExpLo)), x)
	VMINPS(x, load(vecF32("expHi", coeffs.ExpHi)), x)
}

// load copies a constant into a register: the operand that VMAXPS/VMINPS return on NaN, and
// VDIVPS's dividend, cannot come from memory.
func load(m Mem) VecVirtual {
	r := YMM()
	VMOVUPS(m, r)
	return r
}

// exp8 returns e^x; x is clobbered. Without clamp the caller guarantees the range.
func exp8(x VecVirtual, clamp bool) VecVirtual {
	if clamp {
		clampExp(x)
	}
	p, s1, s2 := expParts(x)
	VMULPS(s1, p, p)
	VMULPS(s2, p, p)
	return p
}

func absOf(x VecVirtual) VecVirtual {
	a := YMM()
	VANDPS(vecU32("absMask", 0x7fffffff), x, a)
	return a
}

// withSignOf returns |y| with the sign bit of x (y ≥ 0 here, so an OR does it).
func withSignOf(y, x VecVirtual) VecVirtual {
	s := YMM()
	VANDPS(vecU32("signMask", 0x80000000), x, s)
	VORPS(s, y, y)
	return y
}

// sigmoidExp8 is e^x for x ≤ 0 (or NaN) as sigmoidExp in ../scalar.go; x is clobbered.
func sigmoidExp8(x VecVirtual) VecVirtual {
	VMAXPS(x, load(vecF32("expLo", coeffs.ExpLo)), x) // a NaN lane stays NaN
	n := YMM()
	VMULPS(vecF32("log2e", coeffs.Log2e), x, n)
	VROUNDPS(U8(0), n, n) // to nearest even
	VFNMADD231PS(vecF32("ln2Hi", coeffs.Ln2Hi), n, x)
	VFNMADD231PS(vecF32("ln2Lo", coeffs.Ln2Lo), n, x)
	p := horner("sigP", coeffs.SigmoidExpPoly[:], x)
	VFMADD213PS(vecF32("one", 1), x, p) // Horner to the end, as sigmoidParts
	VFMADD213PS(vecF32("one", 1), x, p)
	s1, s2 := pow2Halves(n)
	VMULPS(s1, p, p)
	VMULPS(s2, p, p)
	return p
}

// pow2Halves returns 2^n1 and 2^n2, n1 = n>>1 and n2 = n − n1, for n a whole number as a float.
func pow2Halves(n VecVirtual) (s1, s2 VecVirtual) {
	n2 := YMM()
	VCVTPS2DQ(n, n2)
	s1 = YMM()
	VPSRAD(U8(1), n2, s1) // n1 = n>>1
	VPSUBD(s1, n2, n2)    // n2 = n − n1
	bias := vecU32("bias127", 127)
	VPADDD(bias, s1, s1)
	VPSLLD(U8(23), s1, s1)
	VPADDD(bias, n2, n2)
	VPSLLD(U8(23), n2, n2)
	return s1, n2
}

func sigmoid8(x VecVirtual) VecVirtual {
	e := YMM()
	VORPS(vecU32("signMask", 0x80000000), x, e) // −|x|
	e = sigmoidExp8(e)
	s := YMM()
	VADDPS(vecF32("one", 1), e, s)
	VDIVPS(s, load(vecF32("one", 1)), s) // 1/(1+e)
	neg := YMM()
	VMULPS(e, s, neg)
	VBLENDVPS(x, neg, s, s) // sign bit of x set: e/(1+e)
	return s
}

// silu8 is x·σ(x) as siluScalar computes it: x/(1+e), the dividend x·e where x's sign bit is
// set, e = e^−|x|.
func silu8(x VecVirtual) VecVirtual {
	e := YMM()
	VORPS(vecU32("signMask", 0x80000000), x, e) // −|x|
	e = sigmoidExp8(e)
	num := YMM()
	VMULPS(e, x, num)
	VBLENDVPS(x, num, x, num) // sign bit of x set: x·e
	d := YMM()
	VADDPS(vecF32("one", 1), e, d)
	VDIVPS(d, num, num)
	return num
}

func tanh8(x VecVirtual) VecVirtual {
	a := absOf(x)
	small := YMM()
	VCMPPS(U8(asmgen.CmpLT), vecF32("tanhSmall", coeffs.TanhSmall), a, small)
	// Large |x|: (1 − e)/(1 + e), e = e^(−2|x|), with x's sign.
	e := YMM()
	VMULPS(vecF32("minusTwo", -2), a, e)
	e = exp8(e, true)
	num, den := YMM(), YMM()
	VMOVUPS(vecF32("one", 1), num)
	VSUBPS(e, num, num)
	VADDPS(vecF32("one", 1), e, den)
	VDIVPS(den, num, num)
	big := withSignOf(num, x)
	// Small |x|: x + x³·q(x²).
	x2 := YMM()
	VMULPS(x, x, x2)
	q := horner("tanhP", coeffs.TanhPoly[:], x2)
	VMULPS(x, x2, x2) // x³
	VFMADD213PS(x, x2, q)
	VBLENDVPS(small, q, big, big)
	return big
}

// erfcTail8 returns scale·erfc(u/√2)·e^(u²/2) for u in [0, uMax]; scale is a power of two
// folded exactly into the coefficients.
func erfcTail8(u VecVirtual, scale float32) VecVirtual {
	t := YMM()
	VMOVUPS(vecF32("one", 1), t)
	VFMADD231PS(vecF32("erfcT", coeffs.ErfcT), u, t) // 1 + T·u
	VDIVPS(t, load(vecF32("one", 1)), t)
	c := make([]float32, len(coeffs.ErfcPoly[:]))
	for i, v := range coeffs.ErfcPoly[:] {
		c[i] = v * scale
	}
	return horner(fmt.Sprintf("erfcR%dth", int(1/scale)), c, t)
}

func erf8(x VecVirtual) VecVirtual {
	a := absOf(x)
	small := YMM()
	VCMPPS(U8(asmgen.CmpLT), vecF32("erfSmall", coeffs.ErfSmall), a, small)
	// Large |x|: 1 − e^(−x²)·erfcTail(√2·|x|), with x's sign.
	u := YMM()
	VMULPS(vecF32("sqrt2", math.Sqrt2), a, u)
	VMINPS(u, load(vecF32("uMax", coeffs.UMax)), u)
	r := erfcTail8(u, 1)
	m := YMM()
	VMULPS(a, a, m)
	VXORPS(vecU32("signMask", 0x80000000), m, m)
	e := exp8(m, true)
	VMULPS(e, r, r)
	y := YMM()
	VMOVUPS(vecF32("one", 1), y)
	VSUBPS(r, y, y)
	big := withSignOf(y, x)
	// Small |x|: x·p(x²).
	x2 := YMM()
	VMULPS(x, x, x2)
	p := horner("erfP", coeffs.ErfPoly[:], x2)
	VMULPS(x, p, p)
	VBLENDVPS(small, p, big, big)
	return big
}

// gelu8 is x·Φ(x) as geluScalar: Φ(−u) = ½·e^(−u²/2)·erfcTail(u) with u² split exactly into
// hi + lo, and the final scaling by 2^n2 last so that denormal results round once.
func gelu8(x VecVirtual) VecVirtual {
	u := absOf(x)
	VMINPS(u, load(vecF32("uMax", coeffs.UMax)), u)
	// −u²/2 = hi + lo exactly: w = −u/2 is exact, hi = u·w rounded, lo = u·w − hi by FMA.
	w, hi, lo := YMM(), YMM(), YMM()
	VMULPS(vecF32("minusHalf", -0.5), u, w)
	VMULPS(w, u, hi)
	VMOVAPS(hi, lo)
	VFMSUB231PS(w, u, lo)  // lo = u·w − hi
	g := erfcTail8(u, 0.5) // R/2
	VFMADD231PS(lo, g, g)  // R·(1 + lo) ≈ R·e^lo
	p, s1, s2 := expParts(hi)
	VMULPS(p, g, g)
	VMULPS(s1, g, g) // q = ½R·e^(−u²/2)/2^n2, a normal float
	pos := YMM()
	VMULPS(s2, g, pos) // Φ(−u)
	one := YMM()
	VMOVUPS(vecF32("one", 1), one)
	VSUBPS(pos, one, pos)
	VMULPS(x, pos, pos) // x·(1 − Φ(−x))
	neg := YMM()
	VMAXPS(x, load(vecF32("minusUMax", -coeffs.UMax)), neg)
	VMULPS(g, neg, neg)
	VMULPS(s2, neg, neg) // x·Φ(x) for x < 0
	VBLENDVPS(x, neg, pos, pos)
	return pos
}

func geluTanh8(x VecVirtual) VecVirtual {
	xc := YMM()
	VMAXPS(x, load(vecF32("geluTanhLo", coeffs.GeluTanhLo)), xc)
	z := YMM()
	VMULPS(xc, xc, z)
	VMULPS(vecF32("geluTanhK", coeffs.GeluTanhK), z, z)
	VADDPS(vecF32("one", 1), z, z)
	VMULPS(xc, z, z)
	VMULPS(vecF32("geluTanhC", coeffs.GeluTanhC), z, z)
	e := absOf(z)
	VMULPS(vecF32("minusTwo", -2), e, e)
	e = exp8(e, true)
	s := YMM()
	VADDPS(vecF32("one", 1), e, s)
	VDIVPS(s, load(vecF32("one", 1)), s)
	neg := YMM()
	VMULPS(e, s, neg)
	VBLENDVPS(z, neg, s, s)
	VMULPS(xc, s, s)
	return s
}

func hardSwish8(x VecVirtual) VecVirtual {
	t := YMM()
	VMOVUPS(vecF32("half", 0.5), t)
	VFMADD231PS(vecF32("sixth", 1.0/6), x, t) // x/6 + ½
	VMAXPS(vecF32("zero", 0), t, t)           // a NaN t becomes 0, but x·t is NaN again below
	VMINPS(vecF32("one", 1), t, t)
	VMULPS(x, t, t)
	return t
}

// tailMask returns a lane mask (all ones in lanes i < len%8) for the last partial block of the
// slice parameter param, and jumps to done when there is none. Masked loads (VMASKMOVPS) read
// nothing outside the slice and masked stores write nothing outside it, so short rows and tails
// stay in assembly.
func tailMask(param, done string) VecVirtual {
	r := GP64()
	Load(Param(param).Len(), r)
	ANDQ(U32(7), r)
	JE(LabelRef(done))
	rx := XMM()
	VMOVD(r.As32(), rx)
	mask := YMM()
	VPBROADCASTD(rx, mask)
	VPCMPGTD(lanes(), mask, mask) // len%8 > lane index
	return mask
}

// lanes is the constant {0, 1, …, 7} (int32).
func lanes() Mem {
	return asmgen.ReadOnly("laneIndex", func() {
		for i := 0; i < 8; i++ {
			DATA(4*i, U32(i))
		}
	})
}

// width is a vector width the elementwise kernels are emitted for: lanes floats per register
// from reg, isa for the doc comments, and tail, which maps the last partial block (the
// len(src) % lanes elements at src) to dst with body, reading and writing nothing past the
// slices' ends, or jumps to done when there is none.
type width struct {
	lanes int
	isa   string
	reg   func() VecVirtual
	tail  func(src, dst Register, done string, body func(x VecVirtual) VecVirtual)
}

// avx2 is the 8-lane width: the tail goes through VMASKMOVPS.
var avx2 = width{lanes: 8, isa: "AVX2, FMA", reg: func() VecVirtual { return YMM() },
	tail: func(src, dst Register, done string, body func(x VecVirtual) VecVirtual) {
		mask := tailMask("src", done)
		xt := YMM()
		VMASKMOVPS(Mem{Base: src}, mask, xt)
		VMASKMOVPS(body(xt), mask, Mem{Base: dst})
	}}

// fixed is newBody for a body that needs no setup (the AVX2 ones keep their constants in memory).
func fixed(body func(x VecVirtual) VecVirtual) func() func(x VecVirtual) VecVirtual {
	return func() func(x VecVirtual) VecVirtual { return body }
}

// unary emits name(dst, src []float32) mapping src through the body that newBody returns
// (newBody runs once, before the loop, and may load constants into registers): two blocks per
// iteration while there are two (independent chains give the out-of-order core more to overlap
// across the long latency of each body), then one, then w's tail.
func unary(w width, name, what string, newBody func() func(x VecVirtual) VecVirtual) {
	kernel(name, "func(dst, src []float32)", fmt.Sprintf("%s sets dst[i] = %s for every element of src (%s).", name, what, w.isa))
	unaryBody(w, name, newBody, nil)
}

// biasedUnary emits name(dst, src []float32, b float32), which maps src[i] + b (rounded to float32,
// as a separate addition would) through the body: a GEMM epilogue's per-row bias and activation in
// one pass over the row instead of two.
func biasedUnary(w width, name, what string, newBody func() func(x VecVirtual) VecVirtual) {
	kernel(name, "func(dst, src []float32, b float32)", fmt.Sprintf("%s sets dst[i] = f(src[i] + b), f(x) = %s, for every element of src (%s).", name, what, w.isa))
	b := w.reg()
	VBROADCASTSS(NewParamAddr("b", 48), b)
	unaryBody(w, name, newBody, b)
}

// unaryBody is the loop of unary and biasedUnary: bias, when not nil, is added to each block of
// src before the body maps it.
func unaryBody(w width, name string, newBody func() func(x VecVirtual) VecVirtual, bias VecVirtual) {
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	body := newBody()
	if bias != nil {
		mapped := body
		body = func(x VecVirtual) VecVirtual {
			VADDPS(bias, x, x)
			return mapped(x)
		}
	}
	block := 4 * w.lanes // bytes
	SHRQ(U8(bits.TrailingZeros(uint(w.lanes))), n)
	Label(name + "_pair")
	CMPQ(n, U32(2))
	JB(LabelRef(name + "_single"))
	x0, x1 := w.reg(), w.reg()
	VMOVUPS(Mem{Base: src}, x0)
	VMOVUPS(Mem{Base: src, Disp: block}, x1)
	y0 := body(x0)
	y1 := body(x1)
	VMOVUPS(y0, Mem{Base: dst})
	VMOVUPS(y1, Mem{Base: dst, Disp: block})
	ADDQ(U32(2*block), src)
	ADDQ(U32(2*block), dst)
	SUBQ(U32(2), n)
	JMP(LabelRef(name + "_pair"))
	Label(name + "_single")
	CMPQ(n, U32(0))
	JE(LabelRef(name + "_tail"))
	x := w.reg()
	VMOVUPS(Mem{Base: src}, x)
	VMOVUPS(body(x), Mem{Base: dst})
	ADDQ(U32(block), src)
	ADDQ(U32(block), dst)
	Label(name + "_tail")
	w.tail(src, dst, name+"_done", body)
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

func expSumShifted() {
	kernel("expSumShiftedAVX2", "func(dst, src []float32, shift float32) float32", "expSumShiftedAVX2 sets dst[i] = e^(src[i]−shift) for every element of src and returns their sum (AVX2, FMA).")
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	shift := YMM()
	VBROADCASTSS(NewParamAddr("shift", 48), shift)
	acc := YMM()
	VXORPS(acc, acc, acc)
	SHRQ(U8(3), n)
	Label("ess_loop")
	CMPQ(n, U32(0))
	JE(LabelRef("ess_tail"))
	x := YMM()
	VMOVUPS(Mem{Base: src}, x)
	VSUBPS(shift, x, x)
	e := exp8(x, true)
	VMOVUPS(e, Mem{Base: dst})
	VADDPS(e, acc, acc)
	ADDQ(U32(32), src)
	ADDQ(U32(32), dst)
	DECQ(n)
	JMP(LabelRef("ess_loop"))
	Label("ess_tail")
	mask := tailMask("src", "ess_done")
	xt := YMM()
	VMASKMOVPS(Mem{Base: src}, mask, xt)
	VSUBPS(shift, xt, xt)
	et := exp8(xt, true)
	VMASKMOVPS(et, mask, Mem{Base: dst})
	VANDPS(mask, et, et) // lanes past the end add nothing
	VADDPS(et, acc, acc)
	Label("ess_done")
	Store(hsum(acc), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// hsum adds the 8 lanes of v into the low lane of an xmm register.
func hsum(v VecVirtual) Register {
	hi := XMM()
	VEXTRACTF128(U8(1), v, hi)
	lo := v.AsX()
	VADDPS(hi, lo, lo)
	VMOVHLPS(lo, lo, hi)
	VADDPS(hi, lo, lo)
	VPSHUFD(U8(1), lo, hi)
	VADDSS(hi, lo, lo)
	return lo
}

func maxKernel() {
	kernel("maxAVX2", "func(src []float32) float32", "maxAVX2 returns the largest element of src, −Inf if it is empty, or NaN if any element is NaN (AVX2).")
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	SHRQ(U8(3), n)
	m, nan := YMM(), YMM()
	VMOVUPS(vecU32("negInf", 0xff800000), m)
	VXORPS(nan, nan, nan)
	Label("max_loop")
	CMPQ(n, U32(0))
	JE(LabelRef("max_tail"))
	x, u := YMM(), YMM()
	VMOVUPS(Mem{Base: src}, x)
	VCMPPS(U8(asmgen.CmpUNORD), x, x, u)
	VORPS(u, nan, nan)
	VMAXPS(x, m, m)
	ADDQ(U32(32), src)
	DECQ(n)
	JMP(LabelRef("max_loop"))
	Label("max_tail")
	mask := tailMask("src", "max_done")
	xt, ut := YMM(), YMM()
	VMASKMOVPS(Mem{Base: src}, mask, xt)
	VBLENDVPS(mask, xt, load(vecU32("negInf", 0xff800000)), xt) // lanes past the end: −Inf
	VCMPPS(U8(asmgen.CmpUNORD), xt, xt, ut)
	VORPS(ut, nan, nan)
	VMAXPS(xt, m, m)
	Label("max_done")
	// Reduce the maxima and, separately, the NaN mask: VMAXPS alone may drop a NaN.
	lo := reduce(m, func(a, b Op) { VMAXPS(a, b, b) })
	nanLo := reduce(nan, func(a, b Op) { VORPS(a, b, b) })
	VORPS(nanLo, lo, lo) // all ones, a NaN, if any lane saw one
	Store(lo, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// reduce folds the 8 lanes of v with op into lane 0 of the returned register.
func reduce(v VecVirtual, op func(a, b Op)) Register {
	hi := XMM()
	lo := v.AsX()
	VEXTRACTF128(U8(1), v, hi)
	op(hi, lo)
	VMOVHLPS(lo, lo, hi)
	op(hi, lo)
	VPSHUFD(U8(1), lo, hi)
	op(hi, lo)
	return lo
}

func scaleKernel() {
	kernel("scaleAVX2", "func(dst []float32, s float32)", "scaleAVX2 multiplies dst[0:len(dst)/8·8] by s in place (AVX2).")
	dst := Load(Param("dst").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	s := YMM()
	VBROADCASTSS(NewParamAddr("s", 24), s)
	SHRQ(U8(4), n)
	Label("scale_loop2")
	CMPQ(n, U32(0))
	JE(LabelRef("scale_one"))
	a, b := YMM(), YMM()
	VMULPS(Mem{Base: dst}, s, a)
	VMULPS(Mem{Base: dst, Disp: 32}, s, b)
	VMOVUPS(a, Mem{Base: dst})
	VMOVUPS(b, Mem{Base: dst, Disp: 32})
	ADDQ(U32(64), dst)
	DECQ(n)
	JMP(LabelRef("scale_loop2"))
	Label("scale_one")
	m := Load(Param("dst").Len(), GP64())
	TESTQ(U32(8), m)
	JE(LabelRef("scale_done"))
	c := YMM()
	VMULPS(Mem{Base: dst}, s, c)
	VMOVUPS(c, Mem{Base: dst})
	Label("scale_done")
	VZEROUPPER()
	RET()
}

// maxOf returns Go's max(a, b) in every lane: NaN if either is NaN, +0 for max(−0, +0). VMAXPS
// alone returns its first Go operand when either is NaN or both are zero, so it runs both ways
// round: the two results differ only in those lanes, where AND keeps a zero's sign only if both
// zeros are negative, and the unordered mask ORed in makes every NaN lane all ones (a NaN).
func maxOf(a, b VecVirtual, reg func() VecVirtual) VecVirtual {
	r, r2, u := reg(), reg(), reg()
	VMAXPS(b, a, r)
	VMAXPS(a, b, r2)
	VANDPS(r2, r, r)
	VCMPPS(U8(asmgen.CmpUNORD), b, a, u)
	VORPS(u, r, r)
	return r
}

// maxPool2x2Kernel emits maxPool2x2AVX2(dst, src, width): for each of the len(dst)·2/width
// pairs of rows of src (width values each, width a multiple of 8, the pairs back to back),
// the maxima of its 2×2 windows at stride 2 — width/2 values to dst per pair, the pairs' outputs
// back to back. Per 8 columns: the vertical maximum of the two rows, then of lane pairs (even
// lanes against odd ones, shuffled within 128-bit halves), the 4 results gathered into the low
// half. Every maximum is maxOf, Go's max.
func maxPool2x2Kernel() {
	kernel("maxPool2x2AVX2", "func(dst, src []float32, width int)", "maxPool2x2AVX2 stores the maxima of 2×2 windows at stride 2 over pairs of rows width apart (width a multiple of 8), as Go's max (AVX2).")
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("dst").Len(), GP64()) // outputs left
	width := Load(Param("width"), GP64())
	rowBytes := GP64()
	MOVQ(width, rowBytes)
	SHLQ(U8(2), rowBytes)
	Label("pool_row")
	TESTQ(n, n)
	JE(LabelRef("pool_done"))
	cols := GP64()
	MOVQ(width, cols)
	Label("pool_col")
	top, bottom := YMM(), YMM()
	VMOVUPS(Mem{Base: src}, top)
	VMOVUPS(Mem{Base: src, Index: rowBytes, Scale: 1}, bottom)
	reg := func() VecVirtual { return YMM() }
	v := maxOf(top, bottom, reg)
	even, odd := YMM(), YMM()
	VSHUFPS(U8(0x88), v, v, even) // lanes 0 2 0 2 | 4 6 4 6
	VSHUFPS(U8(0xDD), v, v, odd)  // lanes 1 3 1 3 | 5 7 5 7
	m := maxOf(even, odd, reg)
	VPERMPD(U8(0x08), m, m) // 64-bit lanes 0 and 2: the four maxima in the low half
	VMOVUPS(m.AsX(), Mem{Base: dst})
	ADDQ(U32(32), src)
	ADDQ(U32(16), dst)
	SUBQ(U32(4), n)
	SUBQ(U32(8), cols)
	JNE(LabelRef("pool_col"))
	ADDQ(rowBytes, src) // past the bottom row
	JMP(LabelRef("pool_row"))
	Label("pool_done")
	VZEROUPPER()
	RET()
}

// relu is Go's max(x, 0): VMAXPS returns its first Go operand, x, when x is NaN or ±0, so the
// result is ≥ 0, −0 or NaN, and clearing the sign bit turns −0 into +0 and changes nothing else
// (a NaN stays NaN).
func relu(x VecVirtual, reg func() VecVirtual) VecVirtual {
	z, r := reg(), reg()
	VXORPS(z, z, z)
	VMAXPS(x, z, r)
	VANDPS(vecU32("absMask", 0x7fffffff), r, r)
	return r
}

// clampKernel emits clampAVX2(dst, src, lo, hi): dst[i] = min(max(src[i], lo), hi) as the
// comparisons x < lo ? lo : x, then x > hi ? hi : x. VMAXPS(x, lo) computes exactly the first
// (it returns its first Go operand, x, when either is NaN or both are zeros) and VMINPS(y, hi)
// the second, so a NaN x stays NaN, a NaN bound clamps nothing, −0 is kept against a zero bound,
// and lo > hi sends every non-NaN value to hi, as ONNX's Clip says.
func clampKernel() {
	var lo, hi VecVirtual
	setup := func() {
		lo, hi = YMM(), YMM()
		VBROADCASTSS(NewParamAddr("lo", 48), lo)
		VBROADCASTSS(NewParamAddr("hi", 52), hi)
	}
	overlapMapSig("clampAVX2", "func(dst, src []float32, lo, hi float32)",
		"sets dst[i] = min(max(src[i], lo), hi) for every element of src, NaN kept (AVX)", false, setup,
		func(_, s VecVirtual, reg func() VecVirtual) VecVirtual {
			l, h := Op(lo), Op(hi)
			if s.Size() == 16 { // the 4-wide and single-element blocks of short rows
				l, h = lo.AsX(), hi.AsX()
			}
			r := reg()
			VMAXPS(s, l, r)
			VMINPS(r, h, r)
			return r
		})
}

// reluBiasKernel emits reluBiasAVX2(dst, src, b): dst[i] = max(src[i] + b, 0) as Go's max of
// the float32 sum, a convolution's per-channel bias and its fused Relu in one pass over the row.
func reluBiasKernel() {
	var b VecVirtual
	setup := func() {
		b = YMM()
		VBROADCASTSS(NewParamAddr("b", 48), b)
	}
	overlapMapSig("reluBiasAVX2", "func(dst, src []float32, b float32)",
		"sets dst[i] = max(src[i] + b, 0) for every element of src, as Go's max of the float32 sum (AVX)", false, setup,
		func(_, s VecVirtual, reg func() VecVirtual) VecVirtual {
			bias := Op(b)
			if s.Size() == 16 { // the 4-wide and single-element blocks of short rows
				bias = b.AsX()
			}
			VADDPS(bias, s, s)
			return relu(s, reg)
		})
}

// arithOp is one IEEE operation of the float32 arithmetic kernels: name as in the kernels'
// names, sym for their comments, and emit, which sets r = a op b (avo's operand order is b, a,
// r).
type arithOp struct {
	name, sym string
	emit      func(b, a, r Op)
}

var arithOps = []arithOp{
	{"add", "+", func(b, a, r Op) { VADDPS(b, a, r) }},
	{"sub", "−", func(b, a, r Op) { VSUBPS(b, a, r) }},
	{"mul", "·", func(b, a, r Op) { VMULPS(b, a, r) }},
	{"div", "/", func(b, a, r Op) { VDIVPS(b, a, r) }},
}

// arithKernels emits the binary arithmetic of ONNX Add/Sub/Mul/Div on float32 rows, each one
// correctly rounded IEEE operation per element, so results are exactly Go's: opAVX2(dst, x, y)
// (x[i] op y[i]), opScalarAVX2(dst, x, s) (x[i] op s) and, for the two that do not commute,
// scalarOpAVX2(dst, x, s) (s op x[i]). They use overlapMap's loop, so short rows (bias adds,
// per-head rows) and in-place use need nothing from the wrappers.
func arithKernels() {
	for _, op := range arithOps {
		name := op.name + "AVX2"
		overlapMapIn(name, "func(dst, x, y []float32)",
			fmt.Sprintf("sets dst[i] = x[i] %s y[i] for every element of y (AVX)", op.sym),
			[]string{"x", "y"}, nil, func(in []VecVirtual, reg func() VecVirtual) VecVirtual {
				r := reg()
				op.emit(in[1], in[0], r)
				return r
			})
		scalarArith(op.name+"ScalarAVX2", fmt.Sprintf("x[i] %s s", op.sym), op, false)
		if op.name == "sub" || op.name == "div" {
			scalarArith("scalar"+strings.ToUpper(op.name[:1])+op.name[1:]+"AVX2", fmt.Sprintf("s %s x[i]", op.sym), op, true)
		}
	}
}

// scalarArith emits name(dst, x, s) setting dst[i] = x[i] op s, or s op x[i] when scalarFirst.
func scalarArith(name, what string, op arithOp, scalarFirst bool) {
	var s VecVirtual
	setup := func() {
		s = YMM()
		VBROADCASTSS(NewParamAddr("s", 48), s)
	}
	overlapMapIn(name, "func(dst, x []float32, s float32)",
		fmt.Sprintf("sets dst[i] = %s for every element of x (AVX)", what), []string{"x"}, setup,
		func(in []VecVirtual, reg func() VecVirtual) VecVirtual {
			sv := Op(s)
			if in[0].Size() == 16 { // the 4-wide and single-element blocks of short rows
				sv = s.AsX()
			}
			r := reg()
			if scalarFirst {
				op.emit(in[0], sv, r)
			} else {
				op.emit(sv, in[0], r)
			}
			return r
		})
}

// overlapMap emits name(dst, src []float32) for an elementwise map (dst[i] = f(src[i]), or
// f(dst[i], src[i]) when readsDst) over the whole of src, in place or not. The last partial
// block is done as the whole block of 8 ending at the last element, overlapping elements the
// loop writes: it is loaded and mapped before anything is stored, so it sees the original values
// (and writes what the loop writes there) and no load waits on a store it partly overlaps (a
// store-forwarding stall), and it is stored last. Rows shorter than 8 take two overlapping 4-wide
// blocks the same way, or single elements below 4. VMASKMOVPS is avoided: its stores are
// microcoded and slow on AMD cores, and these maps run once per short output row (GEMM
// epilogues, pooling rows), where the tail costs as much as the loop. body maps src's lanes s
// (and dst's lanes d when readsDst) in registers from reg.
func overlapMap(name, what string, readsDst bool, body func(d, s VecVirtual, reg func() VecVirtual) VecVirtual) {
	overlapMapSig(name, "func(dst, src []float32)", what, readsDst, nil, body)
}

// overlapMapSig is overlapMap for a kernel whose signature sig has more parameters after dst and
// src; setup, run first, loads them (into registers the body closes over).
func overlapMapSig(name, sig, what string, readsDst bool, setup func(), body func(d, s VecVirtual, reg func() VecVirtual) VecVirtual) {
	if !readsDst {
		overlapMapIn(name, sig, what, []string{"src"}, setup, func(in []VecVirtual, reg func() VecVirtual) VecVirtual {
			return body(nil, in[0], reg)
		})
		return
	}
	overlapMapIn(name, sig, what, []string{"dst", "src"}, setup, func(in []VecVirtual, reg func() VecVirtual) VecVirtual {
		return body(in[0], in[1], reg)
	})
}

// overlapMapIn is the loop behind overlapMap: dst[i] = body(inputs' lanes i) over the length of
// the last of the slice parameters named by inputs (the others, dst among them if named, must be
// as long), with the overlapping last block and short-row blocks described at overlapMap. Any
// input may be dst itself.
func overlapMapIn(name, sig, what string, inputs []string, setup func(), body func(in []VecVirtual, reg func() VecVirtual) VecVirtual) {
	kernel(name, sig, fmt.Sprintf("%s %s.", name, what))
	if setup != nil {
		setup()
	}
	// ptrs[0] is dst; the inputs follow, sharing dst's register when they name it.
	ptrs := []Register{Load(Param("dst").Base(), GP64())}
	in := make([]int, len(inputs)) // index into ptrs of each input
	for i, p := range inputs {
		if p != "dst" {
			ptrs = append(ptrs, Load(Param(p).Base(), GP64()))
			in[i] = len(ptrs) - 1
		}
	}
	n := Load(Param(inputs[len(inputs)-1]).Len(), GP64())
	// shifted returns registers holding ptrs moved by n elements plus disp bytes.
	shifted := func(disp int) []Register {
		r := make([]Register, len(ptrs))
		for i, p := range ptrs {
			r[i] = GP64()
			LEAQ(Mem{Base: p, Index: n, Scale: 4, Disp: disp}, r[i])
		}
		return r
	}
	// mapAt returns the mapped block at the addresses base[k]+disp, loaded with load.
	mapAt := func(base []Register, disp int, reg func() VecVirtual, load func(m Mem, r VecVirtual)) VecVirtual {
		xs := make([]VecVirtual, len(inputs))
		for i := range inputs {
			xs[i] = reg()
			load(Mem{Base: base[in[i]], Disp: disp}, xs[i])
		}
		return body(xs, reg)
	}
	advance := func(bytes int) {
		for _, p := range ptrs {
			ADDQ(U32(bytes), p)
		}
	}
	ymm := func() VecVirtual { return YMM() }
	xmm := func() VecVirtual { return XMM() }
	movups := func(m Mem, r VecVirtual) { VMOVUPS(m, r) }
	movss := func(m Mem, r VecVirtual) { VMOVSS(m, r) }
	CMPQ(n, U32(8))
	JB(LabelRef(name + "_short"))
	lastAt := shifted(-32)
	last := mapAt(lastAt, 0, ymm, movups)
	Label(name + "_by32")
	CMPQ(n, U32(32))
	JB(LabelRef(name + "_by8"))
	for k := 0; k < 4; k++ {
		VMOVUPS(mapAt(ptrs, 32*k, ymm, movups), Mem{Base: ptrs[0], Disp: 32 * k})
	}
	advance(128)
	SUBQ(U32(32), n)
	JMP(LabelRef(name + "_by32"))
	Label(name + "_by8")
	CMPQ(n, U32(8))
	JB(LabelRef(name + "_last"))
	VMOVUPS(mapAt(ptrs, 0, ymm, movups), Mem{Base: ptrs[0]})
	advance(32)
	SUBQ(U32(8), n)
	JMP(LabelRef(name + "_by8"))
	Label(name + "_last")
	VMOVUPS(last, Mem{Base: lastAt[0]})
	JMP(LabelRef(name + "_done"))
	Label(name + "_short")
	CMPQ(n, U32(4))
	JB(LabelRef(name + "_single"))
	at4 := shifted(-16)
	first := mapAt(ptrs, 0, xmm, movups)
	second := mapAt(at4, 0, xmm, movups)
	VMOVUPS(first, Mem{Base: ptrs[0]})
	VMOVUPS(second, Mem{Base: at4[0]})
	JMP(LabelRef(name + "_done"))
	Label(name + "_single")
	TESTQ(n, n)
	JE(LabelRef(name + "_done"))
	VMOVSS(mapAt(ptrs, 0, xmm, movss), Mem{Base: ptrs[0]})
	advance(4)
	DECQ(n)
	JMP(LabelRef(name + "_single"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// f64Blocks emits a loop over src's first len(src)/8·8 elements, 16 then 8 at a time, that
// widens each group of 4 to float64 and hands it to step with one of 4 float64 accumulators
// (independent chains, so the adds' latency overlaps); it returns their sum in lane 0 of an xmm
// register.
func f64Blocks(name string, step func(x, acc VecVirtual)) Register {
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	SHRQ(U8(3), n)
	acc := []VecVirtual{YMM(), YMM(), YMM(), YMM()}
	for _, a := range acc {
		VXORPD(a, a, a)
	}
	Label(name + "_pair")
	CMPQ(n, U32(2))
	JB(LabelRef(name + "_single"))
	for i, a := range acc {
		x := YMM()
		VCVTPS2PD(Mem{Base: src, Disp: 16 * i}, x) // 4 floats, converted exactly
		step(x, a)
	}
	ADDQ(U32(64), src)
	SUBQ(U32(2), n)
	JMP(LabelRef(name + "_pair"))
	Label(name + "_single")
	CMPQ(n, U32(0))
	JE(LabelRef(name + "_done"))
	for i, a := range acc[:2] {
		x := YMM()
		VCVTPS2PD(Mem{Base: src, Disp: 16 * i}, x)
		step(x, a)
	}
	Label(name + "_done")
	VADDPD(acc[1], acc[0], acc[0])
	VADDPD(acc[3], acc[2], acc[2])
	VADDPD(acc[2], acc[0], acc[0])
	hi := XMM()
	lo := acc[0].AsX()
	VEXTRACTF128(U8(1), acc[0], hi)
	VADDPD(hi, lo, lo)
	VMOVHLPS(lo, lo, hi)
	VADDSD(hi, lo, lo)
	return lo
}

func sumF64Kernel() {
	kernel("sumF64AVX2", "func(src []float32) float64", "sumF64AVX2 returns the sum of src[0:len(src)/8·8] accumulated in float64 (AVX).")
	sum := f64Blocks("sumF64", func(x, acc VecVirtual) { VADDPD(x, acc, acc) })
	Store(sum, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func sqDevF64Kernel() {
	kernel("sqDevF64AVX2", "func(src []float32, mean float64) float64", "sqDevF64AVX2 returns the sum of (src[i] − mean)² over src[0:len(src)/8·8] in float64 (AVX2, FMA).")
	mean := YMM()
	VBROADCASTSD(NewParamAddr("mean", 24), mean)
	sum := f64Blocks("sqDevF64", func(x, acc VecVirtual) {
		VSUBPD(mean, x, x)
		VFMADD231PD(x, x, acc)
	})
	Store(sum, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// normalizeKernel emits the affine step of a layer normalisation row, dst[i] = ((src[i] − hi) −
// lo)·invStd·gamma[i] (+ beta[i]), hi + lo the row's mean split into two floats. The last partial
// block goes through masked loads and stores.
func normalizeKernel(name string, withBeta bool) {
	sig := "func(dst, src, gamma []float32, hi, lo, invStd float32)"
	paramsAt := 72
	if withBeta {
		sig = "func(dst, src, gamma, beta []float32, hi, lo, invStd float32)"
		paramsAt = 96
	}
	what := "((src[i] − hi) − lo)·invStd·gamma[i]"
	if withBeta {
		what += " + beta[i]"
	}
	kernel(name, sig, fmt.Sprintf("%s sets dst[i] = %s for every element of src (AVX2, FMA).", name, what))
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	gamma := Load(Param("gamma").Base(), GP64())
	var beta Register
	if withBeta {
		beta = Load(Param("beta").Base(), GP64())
	}
	n := Load(Param("src").Len(), GP64())
	hi, lo, inv := YMM(), YMM(), YMM()
	VBROADCASTSS(NewParamAddr("hi", paramsAt), hi)
	VBROADCASTSS(NewParamAddr("lo", paramsAt+4), lo)
	VBROADCASTSS(NewParamAddr("invStd", paramsAt+8), inv)
	// body maps x (clobbered) with gamma's and beta's lanes g and b (b nil without beta).
	body := func(x VecVirtual, g, b Op) VecVirtual {
		VSUBPS(hi, x, x)
		VSUBPS(lo, x, x)
		VMULPS(inv, x, x)
		if b == nil {
			VMULPS(g, x, x)
			return x
		}
		y := YMM()
		VMOVUPS(b, y)
		VFMADD231PS(g, x, y) // x·gamma + beta
		return y
	}
	SHRQ(U8(3), n)
	Label(name + "_loop")
	CMPQ(n, U32(0))
	JE(LabelRef(name + "_tail"))
	x := YMM()
	VMOVUPS(Mem{Base: src}, x)
	var b Op
	if withBeta {
		b = Mem{Base: beta}
	}
	VMOVUPS(body(x, Mem{Base: gamma}, b), Mem{Base: dst})
	for _, p := range []Register{src, dst, gamma} {
		ADDQ(U32(32), p)
	}
	if withBeta {
		ADDQ(U32(32), beta)
	}
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	mask := tailMask("src", name+"_done")
	xt, gt := YMM(), YMM()
	VMASKMOVPS(Mem{Base: src}, mask, xt)
	VMASKMOVPS(Mem{Base: gamma}, mask, gt)
	var bt Op
	if withBeta {
		r := YMM()
		VMASKMOVPS(Mem{Base: beta}, mask, r)
		bt = r
	}
	VMASKMOVPS(body(xt, gt, bt), mask, Mem{Base: dst})
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
