// Command asm generates onnxops' AVX2+FMA kernels (kernels_amd64.s, kernels_amd64_stubs.go) with avo.
// Run `go generate ./onnxops` after changing it; the output is committed.
//
// Every kernel processes len(src)/8 blocks of 8 float32 and leaves the tail to the pure-Go loop, and
// follows the pure-Go kernel of the same name in tables.go step by step (same constants, same
// guards), so both are tested against one float64 reference.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Constants shared with exp32 in ../exp32.go (Cephes expf).
const (
	expLo = -87.0
	expHi = 88.0
	log2e = 1.44269504088896341
	ln2Hi = 0.693359375
	ln2Lo = -2.12194440e-4
)

var expPoly = []float32{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1}

// Layout of the per-channel constant blocks (8 copies of each value, see tables.go).
const (
	zInScale = iota
	zInShift
	zOutScale
	zOutShift
	zNegA
	zNegAmp
	zNegQ
	zNegBeta
	zPosA
	zPosAmp
	zPosQ
	zPosBeta
	zGate
	zorroConsts
)

const (
	pwluBL = iota
	pwluInvD
	pwluN
	pwluConsts
)

var consts = map[string]Mem{}

// vecF32 is a read-only 32-byte constant holding v eight times.
func vecF32(name string, v float32) Mem {
	if m, ok := consts[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		// As bits: avo prints a whole-valued F32 as an integer literal, which the assembler
		// would store as an integer.
		DATA(4*i, U32(math.Float32bits(v)))
	}
	consts[name] = m
	return m
}

func vecU32(name string, v uint32) Mem {
	if m, ok := consts[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(v))
	}
	consts[name] = m
	return m
}

const (
	cmpEQ    = 0x00
	cmpLT    = 0x01
	cmpUNORD = 0x03
	cmpGT    = 0x0e
)

// exp8 returns e^x for 8 lanes, as exp32: clamp, n = round(x·log2e), r = x − n·ln2 in two
// parts, polynomial, scale by 2^n through the exponent bits. x is clobbered.
func exp8(x VecVirtual) VecVirtual {
	VMAXPS(vecF32("expLo", expLo), x, x)
	VMINPS(vecF32("expHi", expHi), x, x)
	n := YMM()
	VMULPS(vecF32("log2e", log2e), x, n)
	VROUNDPS(U8(0), n, n) // to nearest even, as math.RoundToEven in exp32
	VFNMADD231PS(vecF32("ln2Hi", ln2Hi), n, x)
	VFNMADD231PS(vecF32("ln2Lo", ln2Lo), n, x)
	p := YMM()
	VMOVUPS(vecF32("expP0", expPoly[0]), p)
	for i := 1; i < len(expPoly); i++ {
		VFMADD213PS(vecF32(fmt.Sprintf("expP%d", i), expPoly[i]), x, p)
	}
	r2 := YMM()
	VMULPS(x, x, r2)
	VFMADD213PS(x, r2, p) // p·r² + r
	VADDPS(vecF32("one", 1), p, p)
	ni := YMM()
	VCVTPS2DQ(n, ni)
	VPADDD(vecU32("bias127", 127), ni, ni)
	VPSLLD(U8(23), ni, ni)
	VMULPS(ni, p, p)
	return p
}

// loop8 emits the block loop over dst/src; body maps the 8 inputs in x to the returned outputs.
func loop8(prefix string, body func(x VecVirtual) VecVirtual) {
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	SHRQ(U8(3), n)
	Label(prefix + "loop")
	CMPQ(n, U32(0))
	JE(LabelRef(prefix + "done"))
	x := YMM()
	VMOVUPS(Mem{Base: src}, x)
	y := body(x)
	VMOVUPS(y, Mem{Base: dst})
	ADDQ(U32(32), src)
	ADDQ(U32(32), dst)
	DECQ(n)
	JMP(LabelRef(prefix + "loop"))
	Label(prefix + "done")
	VZEROUPPER()
	RET()
}

// keepNaN returns y with the lanes where x is NaN replaced by x.
func keepNaN(x, y VecVirtual) {
	m := YMM()
	VCMPPS(U8(cmpUNORD), x, x, m)
	VBLENDVPS(m, x, y, y)
}

func crrelu() {
	TEXT("crreluAVX2", NOSPLIT, "func(dst, src []float32, eps float32)")
	Doc("crreluAVX2 is crreluGo over the first len(src)/8*8 elements; AVX2+FMA.")
	epsX := Load(Param("eps"), XMM())
	eps := YMM()
	VBROADCASTSS(epsX, eps)
	loop8("crrelu_", func(x VecVirtual) VecVirtual {
		x2 := YMM()
		VMULPS(x, x, x2)
		far := YMM()
		VCMPPS(U8(cmpGT), vecF32("cutoff1600", 1600), x2, far) // |x| > 40: no correction
		t := YMM()
		VMULPS(vecF32("minusHalf", -0.5), x2, t)
		e := exp8(t)
		VMULPS(eps, e, e)
		VMULPS(x, e, e)
		VANDNPS(e, far, e)
		y := YMM()
		VXORPS(y, y, y)
		VMAXPS(y, x, y)
		VADDPS(e, y, y)
		keepNaN(x, y)
		return y
	})
}

func pwlu() {
	TEXT("pwluAVX2", NOSPLIT, "func(dst, src []float32, c *[24]float32, ys, bs, ks []float32)")
	Doc("pwluAVX2 is pwluGo over the first len(src)/8*8 elements; AVX2+FMA, three gathers per block.")
	c := Load(Param("c"), GP64())
	ys := Load(Param("ys").Base(), GP64())
	bs := Load(Param("bs").Base(), GP64())
	ks := Load(Param("ks").Base(), GP64())
	loop8("pwlu_", func(x VecVirtual) VecVirtual {
		s := YMM()
		VSUBPS(Mem{Base: c, Disp: 32 * pwluBL}, x, s)
		VMULPS(Mem{Base: c, Disp: 32 * pwluInvD}, s, s)
		// The constant is the second source, so a NaN s becomes −1: the index stays in range.
		VMAXPS(vecF32("minusOne", -1), s, s)
		VMINPS(Mem{Base: c, Disp: 32 * pwluN}, s, s)
		VROUNDPS(U8(1), s, s) // floor
		j := YMM()
		VCVTTPS2DQ(s, j)
		VPADDD(vecU32("intOne", 1), j, j)
		gather := func(base Register) VecVirtual {
			mask, v := YMM(), YMM()
			VPCMPEQD(mask, mask, mask)
			VXORPS(v, v, v)
			VGATHERDPS(mask, Mem{Base: base, Index: j, Scale: 4}, v)
			return v
		}
		yv, bv, kv := gather(ys), gather(bs), gather(ks)
		t := YMM()
		VSUBPS(bv, x, t)
		VFMADD213PS(yv, kv, t) // Y + (x − B)·K
		zero, flat := YMM(), YMM()
		VXORPS(zero, zero, zero)
		VCMPPS(U8(cmpEQ), zero, kv, flat) // K = 0: Y (±Inf·0 would be NaN)
		VBLENDVPS(flat, yv, t, t)
		keepNaN(x, t)
		return t
	})
}

// hump emits h(u) = u·A/(q + e^(β' − a·u)), 0 where a·u < −100.
func hump(c Register, u VecVirtual, off int) VecVirtual {
	au := YMM()
	VMULPS(Mem{Base: c, Disp: 32 * (off + 0)}, u, au)
	far := YMM()
	VCMPPS(U8(cmpLT), vecF32("minusCutoff", -100), au, far)
	arg := YMM()
	VMOVUPS(Mem{Base: c, Disp: 32 * (off + 3)}, arg)
	VSUBPS(au, arg, arg)
	e := exp8(arg)
	VADDPS(Mem{Base: c, Disp: 32 * (off + 2)}, e, e)
	g := YMM()
	VMOVUPS(Mem{Base: c, Disp: 32 * (off + 1)}, g)
	VDIVPS(e, g, g)
	VMULPS(u, g, g)
	VANDNPS(g, far, g)
	return g
}

func zorro() {
	TEXT("zorroAVX2", NOSPLIT, fmt.Sprintf("func(dst, src []float32, c *[%d]float32)", zorroConsts*8))
	Doc("zorroAVX2 is zorroGo over the first len(src)/8*8 elements; AVX2+FMA.")
	c := Load(Param("c"), GP64())
	loop8("zorro_", func(x VecVirtual) VecVirtual {
		z := YMM()
		VMOVUPS(Mem{Base: c, Disp: 32 * zInShift}, z)
		VFMADD231PS(Mem{Base: c, Disp: 32 * zInScale}, x, z)
		zero := YMM()
		VXORPS(zero, zero, zero)
		un := YMM()
		VMINPS(zero, z, un)
		up := YMM()
		VMOVUPS(vecF32("one", 1), up)
		VSUBPS(z, up, up)
		VMINPS(zero, up, up)
		zc := YMM()
		VMAXPS(zero, z, zc)
		VMINPS(vecF32("one", 1), zc, zc)
		hn := hump(c, un, zNegA)
		hp := hump(c, up, zPosA)
		VADDPS(hn, zc, zc)
		VSUBPS(hp, zc, zc)
		w := YMM()
		VMOVUPS(Mem{Base: c, Disp: 32 * zOutShift}, w)
		VFMADD231PS(Mem{Base: c, Disp: 32 * zOutScale}, zc, w)
		// factor = gate ? x : 1; Y = W·factor, 0 where W = 0 (x = ±Inf·0 in the gate).
		gate, factor := YMM(), YMM()
		VMOVUPS(Mem{Base: c, Disp: 32 * zGate}, gate)
		VMOVUPS(vecF32("one", 1), factor)
		VBLENDVPS(gate, x, factor, factor)
		wz := YMM()
		VCMPPS(U8(cmpEQ), zero, w, wz)
		VMULPS(factor, w, w)
		VANDNPS(w, wz, w)
		keepNaN(x, w)
		return w
	})
}

func main() {
	Package("github.com/actswap/actswap/onnxops")
	ConstraintExpr("amd64")
	crrelu()
	pwlu()
	zorro()
	Generate()
}
