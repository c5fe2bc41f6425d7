package main

import (
	"github.com/actswap/actswap/internal/asmgen"
	"github.com/actswap/actswap/internal/vecmath/coeffs"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// AVX-512 (AVX512F only: zmm, 16 lanes, opmasks) versions of the softmax row helpers (here) and of
// the elementwise kernels (unary512.go). The math is
// that of the AVX2 kernels, lane for lane; what changes is the bookkeeping around it, which
// dominates on rows of a couple of hundred elements (attention rows): the constants stay in
// registers (there are 32), p·2^n is one VSCALEFPS, and the last partial block runs under an
// opmask, whose loads and stores cost what plain ones do (VMASKMOVPS stores are microcoded on AMD).

func avx512Kernels() {
	maxKernel512()
	expSumShifted512()
	scaleKernel512()
	unary(avx512, "expAVX512", "e^x", func() func(VecVirtual) VecVirtual { return newExp16().of })
	unary(avx512, "sigmoidAVX512", "1/(1+e^−x)", sigmoid16)
	unary(avx512, "siluAVX512", "x/(1+e^−x)", silu16)
	unary(avx512, "tanhAVX512", "tanh x", tanh16)
	unary(avx512, "erfAVX512", "erf x", erf16)
	unary(avx512, "geluAVX512", "x·Φ(x)", gelu16)
	unary(avx512, "geluTanhAVX512", "GELU's tanh form", geluTanh16)
	unary(avx512, "hardSwishAVX512", "x·clip(x/6 + ½, 0, 1)", fixed(hardSwish16))
	biasedUnary(avx512, "siluBiasAVX512", "x/(1+e^−x)", silu16)
	biasedUnary(avx512, "hardSwishBiasAVX512", "x·clip(x/6 + ½, 0, 1)", fixed(hardSwish16))
	sumF64Kernel512()
}

// sumF64Kernel512 is sumF64AVX2 with 8 float64 lanes a register: four blocks of 8 floats an
// iteration into four accumulators, then the last blocks one at a time into the first: twice the
// lanes per conversion and addition for a global average pool's planes (BenchmarkKernels/Sum,
// 16 K values in L2, 4 runs each, Zen 5 at load 9: 0.071–0.107 against 0.123–0.145 ns a value).
func sumF64Kernel512() {
	kernel("sumF64AVX512", "func(src []float32) float64", "sumF64AVX512 returns the sum of src[0:len(src)/8·8] accumulated in float64 (AVX512F).")
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	SHRQ(U8(3), n)
	acc := []VecVirtual{ZMM(), ZMM(), ZMM(), ZMM()}
	for _, a := range acc {
		VPXORQ(a, a, a)
	}
	Label("sumF64AVX512_quad")
	CMPQ(n, U32(4))
	JB(LabelRef("sumF64AVX512_single"))
	for i, a := range acc {
		x := ZMM()
		VCVTPS2PD(Mem{Base: src, Disp: 32 * i}, x) // 8 floats, converted exactly
		VADDPD(x, a, a)
	}
	ADDQ(U32(128), src)
	SUBQ(U32(4), n)
	JMP(LabelRef("sumF64AVX512_quad"))
	Label("sumF64AVX512_single")
	CMPQ(n, U32(0))
	JE(LabelRef("sumF64AVX512_done"))
	x := ZMM()
	VCVTPS2PD(Mem{Base: src}, x)
	VADDPD(x, acc[0], acc[0])
	ADDQ(U32(32), src)
	DECQ(n)
	JMP(LabelRef("sumF64AVX512_single"))
	Label("sumF64AVX512_done")
	VADDPD(acc[1], acc[0], acc[0])
	VADDPD(acc[3], acc[2], acc[2])
	VADDPD(acc[2], acc[0], acc[0])
	hi := YMM()
	VEXTRACTF64X4(U8(1), acc[0], hi)
	lo := acc[0].AsY()
	VADDPD(hi, lo, lo)
	hx := XMM()
	VEXTRACTF128(U8(1), lo, hx)
	lx := acc[0].AsX()
	VADDPD(hx, lx, lx)
	VMOVHLPS(lx, lx, hx)
	VADDSD(hx, lx, lx)
	Store(lx, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// bcast returns a zmm register holding the first float of the constant m in every lane.
func bcast(m Mem) VecVirtual {
	r := ZMM()
	VBROADCASTSS(m, r)
	return r
}

// tailMask16 returns an opmask of the lanes i < len%16 of the slice parameter param, and jumps
// to done when there is no partial block.
func tailMask16(param, done string) OpmaskVirtual {
	r := GP64()
	Load(Param(param).Len(), r)
	ANDQ(U32(15), r)
	JE(LabelRef(done))
	table := GP64()
	LEAQ(tailMasks(), table) // the assembler takes no index register on a symbol
	k := K()
	KMOVW(Mem{Base: table, Index: r, Scale: 2}, k)
	return k
}

// tailMasks is the table of 16-bit lane masks 2^i − 1, i = 0..15.
func tailMasks() Mem {
	return asmgen.ReadOnly("tailMasks16", func() {
		for i := 0; i < 16; i++ {
			DATA(2*i, U16(1<<i-1))
		}
	})
}

// exp16 holds exp's constants in registers (loaded once, before a kernel's loop).
type exp16 struct {
	lo, hi, log2e, ln2Hi, ln2Lo, one VecVirtual
	poly                             []VecVirtual
}

func newExp16() exp16 {
	lo, hi := bcast(vecF32("expLo", coeffs.ExpLo)), bcast(vecF32("expHi", coeffs.ExpHi))
	c := newExpParts16()
	c.lo, c.hi = lo, hi
	return c
}

// newExpParts16 loads the constants of parts only, for a kernel that never calls of (GELU,
// whose exponent needs no clamp).
func newExpParts16() exp16 {
	c := exp16{
		log2e: bcast(vecF32("log2e", coeffs.Log2e)), ln2Hi: bcast(vecF32("ln2Hi", coeffs.Ln2Hi)),
		ln2Lo: bcast(vecF32("ln2Lo", coeffs.Ln2Lo)), one: bcast(vecF32("one", 1)),
	}
	for i, v := range coeffs.ExpPoly[:] {
		c.poly = append(c.poly, bcast(coef("expP", i, v)))
	}
	return c
}

// newSigmoidExp16 loads the constants of sigmoidExp8 (its polynomial and lower clamp only).
func newSigmoidExp16() exp16 {
	c := exp16{
		lo:    bcast(vecF32("expLo", coeffs.ExpLo)),
		log2e: bcast(vecF32("log2e", coeffs.Log2e)), ln2Hi: bcast(vecF32("ln2Hi", coeffs.Ln2Hi)),
		ln2Lo: bcast(vecF32("ln2Lo", coeffs.Ln2Lo)), one: bcast(vecF32("one", 1)),
	}
	for i, v := range coeffs.SigmoidExpPoly[:] {
		c.poly = append(c.poly, bcast(coef("sigP", i, v)))
	}
	return c
}

// of returns e^x as exp8 does; x is clobbered. VSCALEFPS(p, n) = p·2^n rounds once, as exp8's
// p·2^n1·2^n2 does (p·2^n1 is exact), so the results are the same bits, denormals, 0 and +Inf
// at the clamped ends included.
func (c exp16) of(x VecVirtual) VecVirtual {
	VMAXPS(x, c.lo, x) // a NaN lane stays NaN, as in clampExp
	VMINPS(x, c.hi, x)
	p, n := c.parts(x)
	VSCALEFPS(n, p, p)
	return p
}

// parts returns p and n with e^x = p·2^n as expParts computes them (n a whole number, as a
// float); x, already in [expLo, expHi], is clobbered.
func (c exp16) parts(x VecVirtual) (p, n VecVirtual) {
	n = ZMM()
	VMULPS(c.log2e, x, n)
	VRNDSCALEPS(U8(0), n, n) // to nearest even
	VFNMADD231PS(c.ln2Hi, n, x)
	VFNMADD231PS(c.ln2Lo, n, x)
	p = ZMM()
	VMOVAPS(c.poly[len(c.poly)-1], p)
	for i := len(c.poly) - 2; i >= 0; i-- {
		VFMADD213PS(c.poly[i], x, p)
	}
	r2 := ZMM()
	VMULPS(x, x, r2)
	VFMADD213PS(x, r2, p) // p·r² + r
	VADDPS(c.one, p, p)
	return p, n
}

// hornerParts is parts as sigmoidParts in ../scalar.go computes it: e^r's polynomial by
// Horner's rule to the end (two multiply-adds for its last two terms, where parts takes three
// operations).
func (c exp16) hornerParts(x VecVirtual) (p, n VecVirtual) {
	n = ZMM()
	VMULPS(c.log2e, x, n)
	VRNDSCALEPS(U8(0), n, n) // to nearest even
	VFNMADD231PS(c.ln2Hi, n, x)
	VFNMADD231PS(c.ln2Lo, n, x)
	p = ZMM()
	VMOVAPS(c.poly[len(c.poly)-1], p)
	for i := len(c.poly) - 2; i >= 0; i-- {
		VFMADD213PS(c.poly[i], x, p)
	}
	VFMADD213PS(c.one, x, p)
	VFMADD213PS(c.one, x, p)
	return p, n
}

// halve folds the upper 8 lanes of v onto the lower with op and returns the ymm of the result.
func halve(v VecVirtual, op func(a, b Op)) VecVirtual {
	hi := YMM()
	VEXTRACTF64X4(U8(1), v, hi)
	lo := v.AsY()
	op(hi, lo)
	return lo.(VecVirtual)
}

func expSumShifted512() {
	kernel("expSumShiftedAVX512", "func(dst, src []float32, shift float32) float32", "expSumShiftedAVX512 sets dst[i] = e^(src[i]−shift) for every element of src and returns their sum (AVX512F).")
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	shift := ZMM()
	VBROADCASTSS(NewParamAddr("shift", 48), shift)
	c := newExp16()
	acc := []VecVirtual{ZMM(), ZMM()} // two chains of adds, for the two blocks of an iteration
	for _, a := range acc {
		VPXORD(a, a, a)
	}
	SHRQ(U8(4), n)
	Label("ess512_pair")
	CMPQ(n, U32(2))
	JB(LabelRef("ess512_single"))
	var es []VecVirtual
	for k := range acc {
		x := ZMM()
		VMOVUPS(Mem{Base: src, Disp: 64 * k}, x)
		VSUBPS(shift, x, x)
		es = append(es, c.of(x))
	}
	for k, e := range es {
		VMOVUPS(e, Mem{Base: dst, Disp: 64 * k})
		VADDPS(e, acc[k], acc[k])
	}
	ADDQ(U32(128), src)
	ADDQ(U32(128), dst)
	SUBQ(U32(2), n)
	JMP(LabelRef("ess512_pair"))
	Label("ess512_single")
	CMPQ(n, U32(0))
	JE(LabelRef("ess512_tail"))
	x := ZMM()
	VMOVUPS(Mem{Base: src}, x)
	VSUBPS(shift, x, x)
	e := c.of(x)
	VMOVUPS(e, Mem{Base: dst})
	VADDPS(e, acc[0], acc[0])
	ADDQ(U32(64), src)
	ADDQ(U32(64), dst)
	Label("ess512_tail")
	k := tailMask16("src", "ess512_done")
	xt := ZMM()
	VMOVUPS_Z(Mem{Base: src}, k, xt)
	VSUBPS(shift, xt, xt)
	et := c.of(xt)
	VMOVUPS(et, k, Mem{Base: dst})
	VADDPS(et, acc[1], k, acc[1]) // lanes past the end add nothing
	Label("ess512_done")
	VADDPS(acc[1], acc[0], acc[0])
	Store(hsum(halve(acc[0], func(a, b Op) { VADDPS(a, b, b) })), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func maxKernel512() {
	kernel("maxAVX512", "func(src []float32) float32", "maxAVX512 returns the largest element of src, −Inf if it is empty, or NaN if any element is NaN (AVX512F).")
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	SHRQ(U8(4), n)
	negInf := bcast(vecU32("negInf", 0xff800000))
	m := ZMM()
	VMOVAPS(negInf, m)
	nan, u := K(), K() // lanes that saw a NaN: VMAXPS alone may drop one
	KXORW(nan, nan, nan)
	Label("max512_loop")
	CMPQ(n, U32(0))
	JE(LabelRef("max512_tail"))
	x := ZMM()
	VMOVUPS(Mem{Base: src}, x)
	VCMPPS(U8(asmgen.CmpUNORD), x, x, u)
	KORW(u, nan, nan)
	VMAXPS(x, m, m)
	ADDQ(U32(64), src)
	DECQ(n)
	JMP(LabelRef("max512_loop"))
	Label("max512_tail")
	k := tailMask16("src", "max512_done")
	xt := ZMM()
	VMOVAPS(negInf, xt)
	VMOVUPS(Mem{Base: src}, k, xt) // lanes past the end stay −Inf
	VCMPPS(U8(asmgen.CmpUNORD), xt, xt, u)
	KORW(u, nan, nan)
	VMAXPS(xt, m, m)
	Label("max512_done")
	lo := reduce(halve(m, func(a, b Op) { VMAXPS(a, b, b) }), func(a, b Op) { VMAXPS(a, b, b) })
	KORTESTW(nan, nan)
	JE(LabelRef("max512_ret"))
	VMOVSS(vecU32("qNaN", 0x7fc00000), lo)
	Label("max512_ret")
	Store(lo, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func scaleKernel512() {
	kernel("scaleAVX512", "func(dst []float32, s float32)", "scaleAVX512 multiplies every element of dst by s in place (AVX512F).")
	dst := Load(Param("dst").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	s := ZMM()
	VBROADCASTSS(NewParamAddr("s", 24), s)
	SHRQ(U8(4), n)
	Label("scale512_loop")
	CMPQ(n, U32(0))
	JE(LabelRef("scale512_tail"))
	x := ZMM()
	VMULPS(Mem{Base: dst}, s, x)
	VMOVUPS(x, Mem{Base: dst})
	ADDQ(U32(64), dst)
	DECQ(n)
	JMP(LabelRef("scale512_loop"))
	Label("scale512_tail")
	k := tailMask16("dst", "scale512_done")
	xt := ZMM()
	VMOVUPS_Z(Mem{Base: dst}, k, xt)
	VMULPS(s, xt, xt)
	VMOVUPS(xt, k, Mem{Base: dst})
	Label("scale512_done")
	VZEROUPPER()
	RET()
}
