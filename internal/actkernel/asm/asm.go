// Command asm generates actkernel's AVX2+FMA kernels (kernels_amd64.s, kernels_amd64_stubs.go) with avo.
// Run `go generate ./internal/actkernel` after changing it; the output is committed.
//
// Every kernel processes len(src)/8 blocks of 8 float32 and leaves the tail to the pure-Go loop, and
// follows the pure-Go kernel of the same name in tables.go step by step (same constants, same
// guards), so both are tested against one float64 reference.
package main

import (
	"fmt"
	"github.com/actswap/actswap/internal/actkernel/coeffs"
	"github.com/actswap/actswap/internal/asmgen"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// exp's constants are package coeffs's, shared with exp32 in ../exp32.go (Cephes expf).
const (
	expLo = coeffs.ExpLo
	expHi = coeffs.ExpHi
	log2e = coeffs.Log2e
	ln2Hi = coeffs.Ln2Hi
	ln2Lo = coeffs.Ln2Lo
)

var expPoly = coeffs.ExpPoly[:]

// The shared generator pieces, under the names this generator's code uses.
var (
	vecF32, vecU32 = asmgen.VecF32, asmgen.VecU32
	kernel         = asmgen.Kernel
)

// exp8 returns e^x for 8 lanes, as exp32: clamp, n = round(x·log2e), r = x − n·ln2 in two
// parts, polynomial, scale by 2^n through the exponent bits. x is clobbered.
func exp8(x VecVirtual) VecVirtual { return expLanes(x, false) }

// exp16 is exp8 on 16 lanes (AVX-512F), the same steps, so both round alike: VRNDSCALEPS with
// immediate 0 rounds to nearest even as VROUNDPS does; the constants are broadcast from the
// 8-lane tables exp8 reads.
func exp16(x VecVirtual) VecVirtual { return expLanes(x, true) }

func expLanes(x VecVirtual, wide bool) VecVirtual {
	vec, load, round := YMM, VMOVUPS, VROUNDPS
	maxps, minps, mulps, fnmadd, fmadd, addps, paddd := VMAXPS, VMINPS, VMULPS, VFNMADD231PS, VFMADD213PS, VADDPS, VPADDD
	if wide {
		vec, load, round = ZMM, VBROADCASTSS, func(imm, src, dst Op) { VRNDSCALEPS(imm, src, dst) }
		maxps, minps, mulps, fnmadd, fmadd, addps, paddd = VMAXPS_BCST, VMINPS_BCST, VMULPS_BCST, VFNMADD231PS_BCST, VFMADD213PS_BCST, VADDPS_BCST, VPADDD_BCST
	}
	maxps(vecF32("expLo", expLo), x, x)
	minps(vecF32("expHi", expHi), x, x)
	n := vec()
	mulps(vecF32("log2e", log2e), x, n)
	round(U8(0), n, n) // to nearest even, as math.RoundToEven in exp32
	fnmadd(vecF32("ln2Hi", ln2Hi), n, x)
	fnmadd(vecF32("ln2Lo", ln2Lo), n, x)
	p := vec()
	load(vecF32("expP0", expPoly[0]), p)
	for i := 1; i < len(expPoly); i++ {
		fmadd(vecF32(fmt.Sprintf("expP%d", i), expPoly[i]), x, p)
	}
	r2 := vec()
	VMULPS(x, x, r2)
	VFMADD213PS(x, r2, p) // p·r² + r
	addps(vecF32("one", 1), p, p)
	ni := vec()
	VCVTPS2DQ(n, ni)
	paddd(vecU32("bias127", 127), ni, ni)
	VPSLLD(U8(23), ni, ni)
	VMULPS(ni, p, p)
	return p
}

// prefetchAhead is how far ahead of the loads the streaming loop asks for source lines.
const prefetchAhead = 1024

// loopUnroll is how many blocks of 8 one loop iteration handles (then single blocks finish).
const loopUnroll = 2

// loop8 emits the block loops over dst/src; body maps 8 inputs in x to 8 outputs. With the
// stream argument set, results go out with non-temporal stores (dst must then be 32-byte
// aligned): for outputs far larger than the caches this saves reading dst lines in before
// writing them, the same trick memmove uses for large copies. The loop is emitted twice, once
// per store kind, so the choice costs nothing per block.
func loop8(prefix string, body func(x VecVirtual) VecVirtual) { loopBlocks(prefix, 8, YMM, nil, body) }

// loopBlocks is loop8 with blocks of lanes (16: AVX-512 in ZMM registers, dst 64-byte aligned
// to stream). shift, when not nil, is a third stream read in step with src and subtracted from
// it before body sees the block: a channels-last row whose channels are shifted copies of one
// PWLU set (an absorbed bias) then costs one pass, not a subtraction pass and a kernel pass.
func loopBlocks(prefix string, lanes int, vec func() VecVirtual, shift Register, body func(x VecVirtual) VecVirtual) {
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	stream := Load(Param("stream"), GP8())
	if lanes == 8 {
		SHRQ(U8(3), n)
	} else {
		SHRQ(U8(4), n)
	}
	TESTB(stream, stream)
	JNZ(LabelRef(prefix + "nt_wide"))
	blockLoops(prefix+"plain_", 4*lanes, vec, dst, src, shift, n, body, func(y, m Op) { VMOVUPS(y, m) }, false)
	JMP(LabelRef(prefix + "done"))
	blockLoops(prefix+"nt_", 4*lanes, vec, dst, src, shift, n, body, VMOVNTPS, true)
	Label(prefix + "done")
	SFENCE()
	VZEROUPPER()
	RET()
}

// advance, when bytes ≠ 0, makes the block loops add bytes to reg after every block: the "rows"
// kernels read a different block of per-lane constants (8 channels) for each block of 8 inputs.
var advance struct {
	reg   Register
	bytes int
}

func blockLoops(prefix string, bytes int, vec func() VecVirtual, dst, src, shift, n Register, body func(x VecVirtual) VecVirtual, store func(y, m Op), prefetch bool) {
	load := func(disp int) VecVirtual {
		x := vec()
		VMOVUPS(Mem{Base: src, Disp: disp}, x)
		if shift != nil {
			VSUBPS(Mem{Base: shift, Disp: disp}, x, x)
		}
		return x
	}
	if advance.bytes != 0 {
		JMP(LabelRef(prefix + "single")) // one block per iteration: its constants follow the block
	}
	Label(prefix + "wide")
	CMPQ(n, U32(loopUnroll))
	JB(LabelRef(prefix + "single"))
	if prefetch {
		PREFETCHNTA(Mem{Base: src, Disp: prefetchAhead})
	}
	var ys []VecVirtual
	for k := 0; k < loopUnroll; k++ {
		ys = append(ys, body(load(bytes*k)))
	}
	for k, y := range ys {
		store(y, Mem{Base: dst, Disp: bytes * k})
	}
	ADDQ(U32(bytes*loopUnroll), src)
	ADDQ(U32(bytes*loopUnroll), dst)
	if shift != nil {
		ADDQ(U32(bytes*loopUnroll), shift)
	}
	SUBQ(U32(loopUnroll), n)
	JMP(LabelRef(prefix + "wide"))
	Label(prefix + "single")
	CMPQ(n, U32(0))
	JE(LabelRef(prefix + "end"))
	store(body(load(0)), Mem{Base: dst})
	ADDQ(U32(bytes), src)
	ADDQ(U32(bytes), dst)
	if shift != nil {
		ADDQ(U32(bytes), shift)
	}
	if advance.bytes != 0 {
		ADDQ(U32(advance.bytes), advance.reg)
	}
	DECQ(n)
	JMP(LabelRef(prefix + "single"))
	Label(prefix + "end")
}

func crrelu() {
	kernel("crreluAVX2", "func(dst, src []float32, eps float32, stream bool)", "crreluAVX2 is crreluGo over the first len(src)/8*8 elements; AVX2+FMA.")
	epsX := Load(Param("eps"), XMM())
	eps, zero := YMM(), YMM()
	VBROADCASTSS(epsX, eps)
	VXORPS(zero, zero, zero)
	loop8("crrelu_", func(x VecVirtual) VecVirtual { return crreluBody(x, eps, zero) })
}

// crreluRows is crrelu with ε per lane: eps points at ε of 8 consecutive channels, and moves on
// by 8 channels with every block (a row of C channels with the channel axis last).
func crreluRows() {
	kernel("crreluRowsAVX2", "func(dst, src []float32, eps *float32, stream bool)", "crreluRowsAVX2 is crreluGo with lane i of block b using eps[8b+i]; AVX2+FMA.")
	eps := Load(Param("eps"), GP64())
	zero := YMM()
	VXORPS(zero, zero, zero)
	advance.reg, advance.bytes = eps, 32
	loop8("crreluRows_", func(x VecVirtual) VecVirtual { return crreluBody(x, Mem{Base: eps}, zero) })
	advance.bytes = 0
}

func crreluBody(x VecVirtual, eps Op, zero VecVirtual) VecVirtual {
	x2 := YMM()
	VMULPS(x, x, x2)
	far := YMM()
	VCMPPS(U8(asmgen.CmpGT), vecF32("cutoff1600", 1600), x2, far) // |x| > 40: no correction
	t := YMM()
	VMULPS(vecF32("minusHalf", -0.5), x2, t)
	e := exp8(t)
	VMULPS(eps, e, e)
	VMULPS(x, e, e)
	VANDNPS(e, far, e)
	y := YMM()
	// zero is the second source, so max(−0, +0) is +0 as in Go and OPS.md (with x second it was −0,
	// and ε·(−0) kept it so); a NaN x gives 0 here and comes through e, which is NaN too.
	VMAXPS(zero, x, y)
	VADDPS(e, y, y)
	return y
}

// pwluIndex emits s = (x − B_L)·N/(B_R−B_L) and the interval j = trunc(min(s, N−1)) (= ⌊s⌋
// for s ≥ 0). The constant is VMINPS' second source, so a NaN s gives N−1; the lanes where
// s < 0 get an index out of range: the permute kernels read only its low bits and the result is
// replaced by the left segment, and the gather kernel clamps to 0 first (clampLow).
func pwluIndex(c Register, x VecVirtual, clampLow bool) (s, j VecVirtual) {
	s, t, j := YMM(), YMM(), YMM()
	VSUBPS(Mem{Base: c, Disp: 32 * coeffs.PWLUBL}, x, s)
	VMULPS(Mem{Base: c, Disp: 32 * coeffs.PWLUInvD}, s, s)
	VMINPS(Mem{Base: c, Disp: 32 * coeffs.PWLUNm1}, s, t)
	if clampLow {
		zero := YMM()
		VXORPS(zero, zero, zero)
		VMAXPS(zero, t, t)
	}
	VCVTTPS2DQ(t, j)
	return s, j
}

// pwluFinish emits y = E_j + s·D_j inside the bounds and the outer segments
// Y⁰ + (x − B_L)·K_L, Y^N + (x − B_R)·K_R outside. x is first clamped to [lo, hi], which are ±Inf
// unless the slope on that side is 0, where they are ∓MaxFloat32, so that ±Inf·0 cannot make a
// NaN. A NaN x gives a NaN s, hence a NaN inside value, and neither outer mask: NaN comes out.
func pwluFinish(c Register, x, s, ev, dv VecVirtual) VecVirtual {
	at := func(i int) Mem { return Mem{Base: c, Disp: 32 * i} }
	y := YMM()
	VMOVUPS(s, y)
	VFMADD213PS(ev, dv, y) // s·D + E
	xc := YMM()
	VMAXPS(at(coeffs.PWLULo), x, xc)
	VMINPS(at(coeffs.PWLUHi), xc, xc)
	outer := func(b, k, y0 int) VecVirtual {
		t, h := YMM(), YMM()
		VSUBPS(at(b), xc, t)
		VMOVUPS(at(y0), h)
		VFMADD132PS(at(k), h, t) // t·K + Y
		return t
	}
	left, right := YMM(), YMM()
	VXORPS(left, left, left)
	VCMPPS(U8(asmgen.CmpLT), left, s, left)
	VCMPPS(U8(asmgen.CmpGE), at(coeffs.PWLUN), s, right)
	VBLENDVPS(left, outer(coeffs.PWLUBL, coeffs.PWLUKL, coeffs.PWLUY0), y, y)
	VBLENDVPS(right, outer(coeffs.PWLUBR, coeffs.PWLUKR, coeffs.PWLUYN), y, y)
	return y
}

// pwluPerm emits the kernel for tables of up to size entries (a power of two ≥ 8, padded): each
// lookup is size/8 in-register permutes (VPERMPS, index bits 0–2) merged by a blend tree on index
// bits 3, 4, …; no gathers, which are slow on many cores.
// With shifted, the kernel (pwluShiftPerm…) evaluates src − shift (see loopBlocks).
func pwluPerm(size int, shifted bool) {
	name := fmt.Sprintf("pwluPerm%dAVX2", size)
	sig := fmt.Sprintf("func(dst, src []float32, c *[%d]float32, es, ds []float32, stream bool)", coeffs.PWLUConsts*8)
	doc := fmt.Sprintf("%s is pwluGo over the first len(src)/8*8 elements for tables padded to %d entries; AVX2+FMA.", name, size)
	if shifted {
		name = fmt.Sprintf("pwluShiftPerm%dAVX2", size)
		sig = fmt.Sprintf("func(dst, src, shift []float32, c *[%d]float32, es, ds []float32, stream bool)", coeffs.PWLUConsts*8)
		doc = fmt.Sprintf("%s is pwluPerm%dAVX2 over src[i] − shift[i]; len(shift) ≥ len(src).", name, size)
	}
	kernel(name, sig, doc)
	c := Load(Param("c"), GP64())
	ys := Load(Param("es").Base(), GP64())
	ds := Load(Param("ds").Base(), GP64())
	var shift Register
	if shifted {
		shift = Load(Param("shift").Base(), GP64())
	}
	loopBlocks(name+"_", 8, YMM, shift, func(x VecVirtual) VecVirtual {
		s, j := pwluIndex(c, x, false)
		var masks []VecVirtual
		for bit := 3; 1<<bit < size; bit++ {
			m := YMM()
			VPSLLD(U8(31-bit), j, m) // index bit to the sign bit, which VBLENDVPS reads
			masks = append(masks, m)
		}
		lookup := func(base Register) VecVirtual {
			var level []VecVirtual
			for i := 0; i < size/8; i++ {
				v := YMM()
				VPERMPS(Mem{Base: base, Disp: 32 * i}, j, v)
				level = append(level, v)
			}
			for _, m := range masks {
				var next []VecVirtual
				for i := 0; i < len(level); i += 2 {
					VBLENDVPS(m, level[i+1], level[i], level[i])
					next = append(next, level[i])
				}
				level = next
			}
			return level[0]
		}
		yv := lookup(ys)
		dv := lookup(ds)
		return pwluFinish(c, x, s, yv, dv)
	})
}

// pwluGather is the kernel for any table size, with two gathers per block.
func pwluGather() {
	kernel("pwluGatherAVX2", fmt.Sprintf("func(dst, src []float32, c *[%d]float32, es, ds []float32, stream bool)", coeffs.PWLUConsts*8), "pwluGatherAVX2 is pwluGo over the first len(src)/8*8 elements; AVX2+FMA, two gathers per block.")
	c := Load(Param("c"), GP64())
	ys := Load(Param("es").Base(), GP64())
	ds := Load(Param("ds").Base(), GP64())
	loop8("pwluGather_", func(x VecVirtual) VecVirtual {
		s, j := pwluIndex(c, x, true)
		yv, dv := gatherF32(ys, j), gatherF32(ds, j)
		return pwluFinish(c, x, s, yv, dv)
	})
}

// gatherF32 gathers base[j[i]] into every lane (all lanes enabled).
func gatherF32(base Register, j VecVirtual) VecVirtual {
	mask, v := YMM(), YMM()
	VPCMPEQD(mask, mask, mask)
	VXORPS(v, v, v)
	VGATHERDPS(mask, Mem{Base: base, Index: j, Scale: 4}, v)
	return v
}

// pwluGatherRows is pwluGather with per-lane constants: c points at blocks of
// (coeffs.PWLUConsts+1)×8 values, lane i of block b holding channel 8b+i, the extra constant being the
// channel's offset (as int32 bits) into the concatenated tables es and ds.
func pwluGatherRows() {
	kernel("pwluGatherRowsAVX2", "func(dst, src []float32, c *float32, es, ds []float32, stream bool)", "pwluGatherRowsAVX2 is pwluGo with lane i of block b using channel 8b+i's constants and table; AVX2+FMA.")
	c := Load(Param("c"), GP64())
	ys := Load(Param("es").Base(), GP64())
	ds := Load(Param("ds").Base(), GP64())
	advance.reg, advance.bytes = c, 32*(coeffs.PWLUConsts+1)
	loop8("pwluGatherRows_", func(x VecVirtual) VecVirtual {
		s, j := pwluIndex(c, x, true)
		VPADDD(Mem{Base: c, Disp: 32 * coeffs.PWLUConsts}, j, j)
		yv, dv := gatherF32(ys, j), gatherF32(ds, j)
		return pwluFinish(c, x, s, yv, dv)
	})
	advance.bytes = 0
}

// zorro emits zorroAVX2 and, with rows, zorroRowsAVX2, whose c points at consecutive blocks of
// coeffs.ZorroConsts×8 values, lane i of block b holding channel 8b+i (gate is the same in every block).
func zorro(rows bool) {
	if rows {
		kernel("zorroRowsAVX2", "func(dst, src []float32, c *float32, stream bool)", "zorroRowsAVX2 is zorroGo with lane i of block b using channel 8b+i's constants; AVX2+FMA.")
	} else {
		kernel("zorroAVX2", fmt.Sprintf("func(dst, src []float32, c *[%d]float32, stream bool)", coeffs.ZorroConsts*8), "zorroAVX2 is zorroGo over the first len(src)/8*8 elements; AVX2+FMA.")
	}
	c := Load(Param("c"), GP64())
	if rows {
		advance.reg, advance.bytes = c, 32*coeffs.ZorroConsts
		defer func() { advance.bytes = 0 }()
	}
	at := func(i int) Mem { return Mem{Base: c, Disp: 32 * i} }
	zero, one, gate := YMM(), YMM(), YMM()
	VXORPS(zero, zero, zero)
	VMOVUPS(vecF32("one", 1), one)
	VMOVUPS(at(coeffs.ZorroGate), gate)
	prefix := "zorro_"
	if rows {
		prefix = "zorroRows_"
	}
	loop8(prefix, func(x VecVirtual) VecVirtual {
		z := YMM()
		VMOVUPS(at(coeffs.ZorroInShift), z)
		VFMADD231PS(at(coeffs.ZorroInScale), x, z)
		// At most one hump is non-zero: h(z; neg) for z < 0, −h(1−z; pos) for z > 1. Both are
		// v·G(u) with u = z, v = z on the left and u = 1−z, v = z−1 on the right (u = v = 0
		// inside [0,1]), so one exp and one division serve both sides.
		neg, pos := YMM(), YMM()
		VCMPPS(U8(asmgen.CmpLT), zero, z, neg)
		VCMPPS(U8(asmgen.CmpGT), one, z, pos)
		u, v, t := YMM(), YMM(), YMM()
		VBLENDVPS(neg, z, zero, u)
		VMOVUPS(u, v)
		VSUBPS(z, one, t) // 1 − z
		VBLENDVPS(pos, t, u, u)
		VSUBPS(one, z, t) // z − 1
		VBLENDVPS(pos, t, v, v)
		side := func(negOff, posOff int) VecVirtual {
			r := YMM()
			VMOVUPS(at(negOff), r)
			VBLENDVPS(pos, at(posOff), r, r)
			return r
		}
		a := side(coeffs.ZorroNegA, coeffs.ZorroPosA)
		au := YMM()
		VMULPS(a, u, au)
		far := YMM()
		VCMPPS(U8(asmgen.CmpLT), vecF32("minusCutoff", -100), au, far) // a·|u| > 100: h = 0
		arg := side(coeffs.ZorroNegBeta, coeffs.ZorroPosBeta)
		VSUBPS(au, arg, arg)
		// Lanes past the cutoff take exp(0): their result is masked off below, and the
		// e^88 they would otherwise compute makes G a denormal, which costs a microcode assist
		// per instruction on many cores (the GELU default, a = 1e4, ran at a quarter speed).
		VANDNPS(arg, far, arg)
		e := exp8(arg)
		VADDPS(side(coeffs.ZorroNegQ, coeffs.ZorroPosQ), e, e)
		g := side(coeffs.ZorroNegAmp, coeffs.ZorroPosAmp)
		VDIVPS(e, g, g)
		VMULPS(v, g, g)
		VANDNPS(g, far, g)
		// z is the second source of both: a NaN z (from a NaN x) comes through to the output.
		zc := YMM()
		VMAXPS(z, zero, zc)
		VMINPS(zc, one, zc)
		VADDPS(g, zc, zc)
		w := YMM()
		VMOVUPS(at(coeffs.ZorroOutShift), w)
		VFMADD231PS(at(coeffs.ZorroOutScale), zc, w)
		// factor = gate ? x : 1; Y = W·factor, 0 where W = 0 (x = ±Inf·0 in the gate).
		factor := YMM()
		VBLENDVPS(gate, x, one, factor)
		wz := YMM()
		VCMPPS(U8(asmgen.CmpEQ), zero, w, wz)
		VMULPS(factor, w, w)
		VANDNPS(w, wz, w)
		return w
	})
}

// zorroZ emits zorroAVX512, zorro's per-tensor kernel on 16 lanes with the constants broadcast
// into registers once and mask registers for the sides. The same formula and guards as zorro,
// plus one branch: a block in which no lane needs a hump — every z inside [0, 1] (u = 0) or past
// the a·|u| > 100 cutoff, as for most inputs of the GELU default, whose a = 1e4 makes the humps
// vanish outside |u| ≤ 0.01 — skips the exp and the division, whose result the cutoff mask
// would zero anyway: the output is the same bits either way.
func zorroZ() {
	kernel("zorroAVX512", fmt.Sprintf("func(dst, src []float32, c *[%d]float32, stream bool)", coeffs.ZorroConsts),
		"zorroAVX512 is zorroGo over the first len(src)/16*16 elements; AVX-512F.")
	c := Load(Param("c"), GP64())
	bcast := func(i int) VecVirtual {
		r := ZMM()
		VBROADCASTSS(Mem{Base: c, Disp: 4 * i}, r)
		return r
	}
	zero, one, cutoff := ZMM(), ZMM(), ZMM()
	VXORPS(zero, zero, zero)
	VBROADCASTSS(vecF32("one", 1), one)
	VBROADCASTSS(vecF32("minusCutoff", -100), cutoff)
	inScale, inShift, outScale, outShift := bcast(coeffs.ZorroInScale), bcast(coeffs.ZorroInShift), bcast(coeffs.ZorroOutScale), bcast(coeffs.ZorroOutShift)
	negA, posA := bcast(coeffs.ZorroNegA), bcast(coeffs.ZorroPosA)
	gate := K()
	g := bcast(coeffs.ZorroGate)
	VPTESTMD(g, g, gate) // all lanes set with gate, none without
	blocks := 0
	loopBlocks("zorroZ_", 16, ZMM, nil, func(x VecVirtual) VecVirtual {
		blocks++
		noHump := fmt.Sprintf("zorroZ_nohump%d", blocks)
		z := ZMM()
		VMOVAPS(inShift, z)
		VFMADD231PS(inScale, x, z)
		left, right := K(), K()
		VCMPPS(U8(asmgen.CmpLT), zero, z, left)
		VCMPPS(U8(asmgen.CmpGT), one, z, right)
		// u = z on the left, 1 − z on the right, 0 inside (and for a NaN z).
		u, t := ZMM(), ZMM()
		VSUBPS(z, one, t)
		VBLENDMPS(z, zero, left, u)
		VBLENDMPS(t, u, right, u)
		pick := func(l, r Op) VecVirtual { // l on the left, r on the right
			v := ZMM()
			if m, ok := l.(Mem); ok { // the hump's constants, broadcast when needed
				VBROADCASTSS(m, v)
				VBROADCASTSS(r, t)
				VBLENDMPS(t, v, right, v)
				return v
			}
			VBLENDMPS(r, l, right, v)
			return v
		}
		at := func(i int) Mem { return Mem{Base: c, Disp: 4 * i} }
		au := ZMM()
		VMULPS(pick(negA, posA), u, au)
		hump, sides := K(), K()
		VCMPPS(U8(asmgen.CmpGE), cutoff, au, hump) // a·u ≥ −100 (false for NaN)
		KORW(left, right, sides)
		KANDW(sides, hump, hump)
		// z is the second source of both: a NaN z (from a NaN x) comes through to the output.
		zc := ZMM()
		VMAXPS(z, zero, zc)
		VMINPS(zc, one, zc)
		KORTESTW(hump, hump)
		JZ(LabelRef(noHump))
		arg := pick(at(coeffs.ZorroNegBeta), at(coeffs.ZorroPosBeta))
		VSUBPS_Z(au, arg, hump, arg) // β' − a·u; 0 (no denormal G, see zorro) where no hump
		e := exp16(arg)
		VADDPS(pick(at(coeffs.ZorroNegQ), at(coeffs.ZorroPosQ)), e, e)
		h := pick(at(coeffs.ZorroNegAmp), at(coeffs.ZorroPosAmp))
		VDIVPS(e, h, h) // G = A / (q + e^(β' − a·u))
		v := ZMM()      // v = z on the left, z − 1 on the right
		VSUBPS(one, z, t)
		VBLENDMPS(t, u, right, v)
		VMULPS_Z(v, h, hump, h) // v·G where a hump is, 0 elsewhere
		VADDPS(h, zc, zc)
		Label(noHump)
		w := ZMM()
		VMOVAPS(outShift, w)
		VFMADD231PS(outScale, zc, w)
		// Y = W·(gate ? x : 1), 0 where W = 0 (x = ±Inf·0 in the gate); W ≠ 0 holds for NaN.
		factor, nonzero := ZMM(), K()
		VBLENDMPS(x, one, gate, factor)
		VCMPPS(U8(asmgen.CmpNEQ), zero, w, nonzero)
		VMULPS_Z(factor, w, nonzero, w)
		return w
	})
}

// pwluZ emits the AVX-512 PWLU kernel for tables of up to size entries (16, 32 or 64): one
// VPERMPS, one VPERMT2PS, or two VPERMT2PS and a masked blend per lookup, 16 lanes at a time,
// with the outer segments selected by mask registers. Same formula as pwluPerm.
// With shifted, the kernel (pwluShiftPerm…) evaluates src − shift (see loopBlocks).
func pwluZ(size int, shifted bool) {
	name := fmt.Sprintf("pwluPerm%dAVX512", size)
	sig := fmt.Sprintf("func(dst, src []float32, c *[%d]float32, es, ds []float32, stream bool)", coeffs.PWLUConsts)
	doc := fmt.Sprintf("%s is pwluGo over the first len(src)/16*16 elements for tables padded to %d entries; AVX-512F.", name, size)
	if shifted {
		name = fmt.Sprintf("pwluShiftPerm%dAVX512", size)
		sig = fmt.Sprintf("func(dst, src, shift []float32, c *[%d]float32, es, ds []float32, stream bool)", coeffs.PWLUConsts)
		doc = fmt.Sprintf("%s is pwluPerm%dAVX512 over src[i] − shift[i]; len(shift) ≥ len(src).", name, size)
	}
	kernel(name, sig, doc)
	c := Load(Param("c"), GP64())
	es := Load(Param("es").Base(), GP64())
	ds := Load(Param("ds").Base(), GP64())
	var shift Register
	if shifted {
		shift = Load(Param("shift").Base(), GP64())
	}
	at := func(i int) Mem { return Mem{Base: c, Disp: 4 * i} }
	zero, y0, yn := ZMM(), ZMM(), ZMM()
	VXORPS(zero, zero, zero)
	VBROADCASTSS(at(coeffs.PWLUY0), y0)
	VBROADCASTSS(at(coeffs.PWLUYN), yn)
	loopBlocks(name+"_", 16, ZMM, shift, func(x VecVirtual) VecVirtual {
		s, t, j := ZMM(), ZMM(), ZMM()
		VSUBPS_BCST(at(coeffs.PWLUBL), x, s)
		VMULPS_BCST(at(coeffs.PWLUInvD), s, s)
		VMINPS_BCST(at(coeffs.PWLUNm1), s, t) // a NaN s gives N−1, as in pwluIndex
		VCVTTPS2DQ(t, j)
		var high OpmaskVirtual
		if size == 64 {
			high = K()
			VPTESTMD_BCST(vecU32("intThirtyTwo", 32), j, high)
		}
		lookup := func(base Register) VecVirtual {
			v := ZMM()
			switch size {
			case 16:
				VPERMPS(Mem{Base: base}, j, v)
			case 32:
				VMOVUPS(Mem{Base: base}, v)
				VPERMT2PS(Mem{Base: base, Disp: 64}, j, v)
			case 64:
				w := ZMM()
				VMOVUPS(Mem{Base: base}, v)
				VPERMT2PS(Mem{Base: base, Disp: 64}, j, v)
				VMOVUPS(Mem{Base: base, Disp: 128}, w)
				VPERMT2PS(Mem{Base: base, Disp: 192}, j, w)
				VBLENDMPS(w, v, high, v)
			}
			return v
		}
		ev, dv := lookup(es), lookup(ds)
		y := ZMM()
		VMOVAPS(s, y)
		VFMADD213PS(ev, dv, y) // s·D + E
		xc := ZMM()
		VMAXPS_BCST(at(coeffs.PWLULo), x, xc)
		VMINPS_BCST(at(coeffs.PWLUHi), xc, xc)
		left, right := K(), K()
		VCMPPS(U8(asmgen.CmpLT), zero, s, left)
		VCMPPS_BCST(U8(asmgen.CmpGE), at(coeffs.PWLUN), s, right)
		outer := func(b, k int, h VecVirtual, mask OpmaskVirtual) {
			d := ZMM()
			VSUBPS_BCST(at(b), xc, d)
			VFMADD132PS_BCST(at(k), h, d) // d·K + Y
			VBLENDMPS(d, y, mask, y)
		}
		outer(coeffs.PWLUBL, coeffs.PWLUKL, y0, left)
		outer(coeffs.PWLUBR, coeffs.PWLUKR, yn, right)
		return y
	})
}

// extFixups numbers the fix-up blocks of pwluExt's bodies, whose labels must be unique.
var extFixups int

// pwluExt emits the AVX-512 PWLU kernel over the extended table of N+2 ≤ size segments (16: one
// VPERMPS per lookup; 32: one VPERMT2PS), the outer segments included, in grid units shifted by
// one: s' = x·N/(B_R−B_L) + off, off = 1 − B_L·N/(B_R−B_L), j = trunc(clamp(s', 0, N+1)),
// y = E_j + s'·D_j — one FMA for s', two clamps, one conversion, two lookups and one FMA, where
// pwluZ spends twice as many instructions and ten memory operands on the bounds, the outer
// segments and their blends. With shifted, off comes per element from offs (a channels-last
// row: the absorbed bias of each column), read in step with src. A lane whose s' is ±Inf (x
// beyond float32's range in grid units, or ±Inf) takes the outer segment on x itself, as pwluZ
// does, after a branch that is never taken on finite data of the bounds' scale; a NaN x gives a
// NaN s', hence a NaN y.
func pwluExt(size int, shifted bool) {
	name := fmt.Sprintf("pwluExt%dAVX512", size)
	sig := fmt.Sprintf("func(dst, src []float32, t *[%d]float32, stream bool)", coeffs.ExtLen)
	doc := fmt.Sprintf("%s evaluates the first len(src)/16*16 elements with the extended table t of at most %d segments; AVX-512F.", name, size)
	if shifted {
		name = fmt.Sprintf("pwluShiftExt%dAVX512", size)
		sig = fmt.Sprintf("func(dst, src, offs []float32, t *[%d]float32, stream bool)", coeffs.ExtLen)
		doc = fmt.Sprintf("%s is pwluExt%dAVX512 with element i's offset from offs[i]; len(offs) ≥ len(src).", name, size)
	}
	kernel(name, sig, doc)
	t := Load(Param("t"), GP64())
	var offs Register
	if shifted {
		offs = Load(Param("offs").Base(), GP64())
	}
	body := extBody(name, size, t, offs)
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	stream := Load(Param("stream"), GP8())
	SHRQ(U8(4), n)
	TESTB(stream, stream)
	JNZ(LabelRef(name + "_nt_wide"))
	extLoops(name+"_plain_", dst, src, offs, n, body, func(y, m Op) { VMOVUPS(y, m) }, false)
	JMP(LabelRef(name + "_done"))
	extLoops(name+"_nt_", dst, src, offs, n, body, VMOVNTPS, true)
	Label(name + "_done")
	SFENCE()
	VZEROUPPER()
	RET()
}

// extBody loads pwluExt's constants (t: the extended table; offs, when not nil, the register
// that points at the offsets of the block being evaluated) and returns the body that evaluates
// the block of 16 at src+disp, name prefixing its labels.
func extBody(name string, size int, t, offs Register) func(src Register, disp int) VecVirtual {
	shifted := offs != nil
	at := func(i int) Mem { return Mem{Base: t, Disp: 4 * i} }
	invD, top, zero := ZMM(), ZMM(), ZMM()
	VBROADCASTSS(at(coeffs.ExtInvD), invD)
	VBROADCASTSS(at(coeffs.ExtTop), top)
	VXORPS(zero, zero, zero)
	var off VecVirtual
	if !shifted {
		off = ZMM()
		VBROADCASTSS(at(coeffs.ExtOff), off)
	}
	table := func(first int) (lo, hi VecVirtual) {
		lo = ZMM()
		VMOVUPS(at(first), lo)
		if size == 32 {
			hi = ZMM()
			VMOVUPS(at(first+16), hi)
		}
		return lo, hi
	}
	eLo, eHi := table(coeffs.ExtE)
	dLo, dHi := table(coeffs.ExtD)
	// lookups returns E_j and D_j. VPERMI2PS overwrites its index with the entry, so the
	// 32-entry lookups take one copy of j where VPERMT2PS would take a copy of each table.
	lookups := func(j VecVirtual) (e, d VecVirtual) {
		if size == 16 {
			e, d = ZMM(), ZMM()
			VPERMPS(eLo, j, e)
			VPERMPS(dLo, j, d)
			return e, d
		}
		d = ZMM()
		VMOVAPS(j, d)
		VPERMI2PS(eHi, eLo, j)
		VPERMI2PS(dHi, dLo, d)
		return j, d
	}
	// The body evaluates the block at src+disp; x is reloaded from memory in the rare fix-up,
	// so that s' can take its register.
	return func(src Register, disp int) VecVirtual {
		s := ZMM()
		VMOVUPS(Mem{Base: src, Disp: disp}, s)
		if shifted {
			VFMADD213PS(Mem{Base: offs, Disp: disp}, invD, s) // s' = x·N/(B_R−B_L) + off
		} else {
			VFMADD213PS(off, invD, s)
		}
		j := ZMM()
		VMAXPS(zero, s, j)
		VMINPS(top, j, j)
		VCVTTPS2DQ(j, j)
		y, d := lookups(j)
		VFMADD231PS(s, d, y) // E_j + s'·D_j
		inf := K()
		VFPCLASSPSZ(U8(0x18), s, inf) // +Inf or −Inf
		KORTESTW(inf, inf)
		extFixups++
		skip := fmt.Sprintf("%s_finite%d", name, extFixups)
		JZ(LabelRef(skip))
		// Y⁰ + x·K_L or Y^N + x·K_R by x's sign, x clamped to [lo, hi] as in pwluZ: |x| is so far
		// beyond the bounds that x − B rounds to x.
		x, xc := ZMM(), ZMM()
		VMOVUPS(Mem{Base: src, Disp: disp}, x)
		VMAXPS_BCST(at(coeffs.ExtLo), x, xc)
		VMINPS_BCST(at(coeffs.ExtHi), xc, xc)
		left, right := ZMM(), ZMM()
		VBROADCASTSS(at(coeffs.ExtY0), left)
		VFMADD231PS_BCST(at(coeffs.ExtKL), xc, left)
		VBROADCASTSS(at(coeffs.ExtYN), right)
		VFMADD231PS_BCST(at(coeffs.ExtKR), xc, right)
		neg := K()
		VCMPPS(U8(asmgen.CmpLT), zero, x, neg)
		VBLENDMPS(left, right, neg, right)
		VBLENDMPS(right, y, inf, y)
		Label(skip)
		return y
	}
}

// extLoops is blockLoops for pwluExt: two blocks of 16 per iteration, then single blocks; offs
// (nil for none) moves on with src.
func extLoops(prefix string, dst, src, offs, n Register, body func(src Register, disp int) VecVirtual, store func(y, m Op), prefetch bool) {
	advanceAll := func(bytes int) {
		ADDQ(U32(bytes), src)
		ADDQ(U32(bytes), dst)
		if offs != nil {
			ADDQ(U32(bytes), offs)
		}
	}
	Label(prefix + "wide")
	CMPQ(n, U32(2))
	JB(LabelRef(prefix + "single"))
	if prefetch {
		PREFETCHNTA(Mem{Base: src, Disp: prefetchAhead})
	}
	y0 := body(src, 0)
	y1 := body(src, 64)
	store(y0, Mem{Base: dst})
	store(y1, Mem{Base: dst, Disp: 64})
	advanceAll(128)
	SUBQ(U32(2), n)
	JMP(LabelRef(prefix + "wide"))
	Label(prefix + "single")
	CMPQ(n, U32(0))
	JE(LabelRef(prefix + "end"))
	store(body(src, 0), Mem{Base: dst})
	advanceAll(64)
	DECQ(n)
	JMP(LabelRef(prefix + "single"))
	Label(prefix + "end")
}

func main() {
	ConstraintExpr("amd64,!noasm")
	crrelu()
	crreluRows()
	for _, size := range []int{8, 16, 32, 64} {
		pwluPerm(size, false)
	}
	pwluGather()
	pwluGatherRows()
	for _, size := range []int{16, 32, 64} {
		pwluZ(size, false)
	}
	for _, size := range []int{8, 16, 32, 64} {
		pwluPerm(size, true)
	}
	for _, size := range []int{16, 32, 64} {
		pwluZ(size, true)
	}
	for _, size := range []int{16, 32} {
		pwluExt(size, false)
		pwluExt(size, true)
	}
	zorro(false)
	zorro(true)
	zorroZ()
	Generate()
}
