package main

import (
	"fmt"

	"github.com/actswap/actswap/internal/asmgen"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The 2-D max pool of one plane (vecmath.MaxPool2D), a band of output rows at a time: first,
// for each row of the band, the maximum of its window's input rows (the rows table gives the
// first row's offset and how many lie inside the image) into the row's slot of a buffer whose
// padding the caller filled with −∞; then, for each row of the band and each block of its
// outputs, the maximum of the kw taps read from the slot at the horizontal stride — 1 (one
// unaligned load per tap) or 2 (the even lanes of two loads, de-interleaved). Windows of up to
// 3 taps each way run straight-line code, longer ones a loop. A call pools one whole plane, so
// the per-row set-up stays in assembly.

// poolISA is what the max pool kernels need of a vector width: lanes floats per register, a
// register, Go's max folded into an accumulator, the tail masks and their masked moves, and the
// de-interleave of stride 2.
type poolISA struct {
	name  string // suffix of the kernels' names
	doc   string
	lanes int
	setup func(stride int) // loads what the kernel of this stride keeps in registers
	reg   func() VecVirtual
	// start begins a maximum in acc, maxInto sets it to max(acc, x) as Go's max (x may be a
	// memory operand), and finish completes it (maxInto alone may not have kept a NaN).
	start   func(acc VecVirtual) poolAcc
	maxInto func(acc poolAcc, x Op)
	finish  func(acc poolAcc)
	// mask returns the mask of the first n lanes (0 < n < lanes), n in a register it may clobber.
	mask func(n GPVirtual) Op
	// loadMasked loads the masked lanes of m (the others are not read; their values do not matter).
	loadMasked func(m Mem, mask Op, x VecVirtual)
	// storeMasked stores the masked lanes of x to m.
	storeMasked func(x VecVirtual, mask Op, m Mem)
	// evens returns the even-numbered values of the 2·lanes at m.
	evens func(m Mem) VecVirtual
}

// poolAcc is a running maximum: the vector, and with AVX-512 the lanes that have seen no NaN.
type poolAcc struct {
	v       VecVirtual
	ordered OpmaskVirtual
}

// rangeMax is VRANGEPS's selector for the larger value with the sign of the one selected, −0
// below +0. A NaN operand is not kept (on Zen 5 the other operand is returned), so the kernels
// track NaN lanes apart.
const rangeMax = 0x05

func poolAVX512() poolISA {
	var even VecVirtual // VPERMT2PS's indices 0, 2, …, 30, loaded by setup
	var qNaN VecVirtual // the NaN of the lanes that saw one
	return poolISA{
		name: "AVX512", doc: "AVX512F, AVX512DQ", lanes: 16,
		setup: func(stride int) {
			qNaN = ZMM()
			VBROADCASTSS(vecU32("qNaN", 0x7fc00000), qNaN)
			if stride == 2 {
				even = ZMM()
				VMOVDQU32(asmgen.ReadOnly("evenLanes16", func() {
					for i := 0; i < 16; i++ {
						DATA(4*i, U32(2*i))
					}
				}), even)
			}
		},
		reg: func() VecVirtual { return ZMM() },
		start: func(acc VecVirtual) poolAcc {
			ordered := K()
			VCMPPS(U8(asmgen.CmpORD), acc, acc, ordered)
			return poolAcc{v: acc, ordered: ordered}
		},
		maxInto: func(acc poolAcc, x Op) {
			VCMPPS(U8(asmgen.CmpORD), x, acc.v, acc.ordered, acc.ordered) // a NaN lane stays unordered
			VRANGEPS(U8(rangeMax), x, acc.v, acc.v)
		},
		finish: func(acc poolAcc) {
			VBLENDMPS(acc.v, qNaN, acc.ordered, acc.v)
		},
		mask: func(n GPVirtual) Op {
			table := GP64()
			LEAQ(tailMasks(), table)
			k := K()
			KMOVW(Mem{Base: table, Index: n, Scale: 2}, k)
			return k
		},
		loadMasked:  func(m Mem, k Op, x VecVirtual) { VMOVUPS_Z(m, k, x) },
		storeMasked: func(x VecVirtual, k Op, m Mem) { VMOVUPS(x, k, m) },
		evens: func(m Mem) VecVirtual {
			x := ZMM()
			VMOVUPS(m, x)
			VPERMT2PS(m.Offset(64), even, x)
			return x
		},
	}
}

func poolAVX2() poolISA {
	return poolISA{
		name: "AVX2", doc: "AVX2", lanes: 8, setup: func(int) {},
		reg:   func() VecVirtual { return YMM() },
		start: func(acc VecVirtual) poolAcc { return poolAcc{v: acc} },
		maxInto: func(acc poolAcc, x Op) {
			if m, ok := x.(Mem); ok {
				r := YMM()
				VMOVUPS(m, r)
				x = r
			}
			maxIntoAcc(acc.v, x.(VecVirtual))
		},
		finish: func(poolAcc) {},
		mask: func(n GPVirtual) Op {
			rx := XMM()
			VMOVD(n.As32(), rx)
			mask := YMM()
			VPBROADCASTD(rx, mask)
			VPCMPGTD(lanes(), mask, mask) // n > lane index
			return mask
		},
		loadMasked:  func(m Mem, mask Op, x VecVirtual) { VMASKMOVPS(m, mask, x) },
		storeMasked: func(x VecVirtual, mask Op, m Mem) { VMASKMOVPS(x, mask, m) },
		evens: func(m Mem) VecVirtual {
			a := YMM()
			VMOVUPS(m, a)
			VSHUFPS(U8(0x88), m.Offset(32), a, a) // a0 a2 b0 b2 | a4 a6 b4 b6
			VPERMPD(U8(0xD8), a, a)               // a0 a2 a4 a6 b0 b2 b4 b6
			return a
		},
	}
}

// maxIntoAcc is maxOf(acc, x) moved into acc, so that a loop may carry acc (the move costs no
// execution unit: the core renames it).
func maxIntoAcc(acc, x VecVirtual) {
	VMOVAPS(maxOf(acc, x, func() VecVirtual { return YMM() }), acc)
}

func poolKernels() {
	for _, average := range []bool{false, true} {
		for _, isa := range []func() poolISA{poolAVX2, poolAVX512} {
			for _, stride := range []int{1, 2} {
				pool2DKernel(isa(), stride, average)
			}
		}
	}
}

// rowEntry is the bytes of an output row's entry in the rows table: its first input row's
// offset, the count of its input rows, and the bits of its float32 divisor (averages).
const rowEntry = 24

// unrolled is the largest tap count for which the kernels have straight-line code (the 2×2
// and 3×3 pools); longer windows loop over their taps.
const unrolled = 3

// pool2DKernel emits maxPool2DS<stride><ISA>(dst, src, buf []float32, rows []int, inW, left,
// slot, band, outW, rowStep, kw, dilW int), or with average avgPool2DS<stride><ISA>, which takes
// the sums of the taps instead of their maxima and divides each by its row's divisor times its
// column's (colDiv, read in whole vectors).
func pool2DKernel(isa poolISA, stride int, average bool) {
	what, name := "maxima", fmt.Sprintf("maxPool2DS%d%s", stride, isa.name)
	signature := "func(dst, src, buf []float32, rows []int, inW, left, slot, band, outW, rowStep, kw, dilW int)"
	semantics := "as Go's max"
	if average {
		what, name = "sums", fmt.Sprintf("avgPool2DS%d%s", stride, isa.name)
		signature = "func(dst, src, buf []float32, rows []int, inW, left, slot, band, outW, rowStep, kw, dilW int, colDiv []float32)"
		semantics = "each divided by float32(rows[3i+2]) · colDiv[column]"
		isa.start = func(acc VecVirtual) poolAcc { return poolAcc{v: acc} }
		isa.maxInto = func(acc poolAcc, x Op) { VADDPS(x, acc.v, acc.v) }
		isa.finish = func(poolAcc) {}
	}
	kernel(name, signature,
		fmt.Sprintf("%s pools one plane at horizontal stride %d, band output rows at a time: for each output row i of a band, the %s of the rows[3i+1] rows of src (inW values each, rowStep apart) from rows[3i] into the row's slot of buf (slot values, the row at left, the padding around it set by the caller), then for each row of the band the %s of kw taps dilW apart read from its slot at stride %d, outW per row, to dst — %s (%s).", name, stride, what, what, stride, semantics, isa.doc))
	L := isa.lanes
	block := 4 * L
	label := func(s string, n int) string { return fmt.Sprintf("%s_%s%d", name, s, n) }
	isa.setup(stride)
	empty := isa.reg() // a window row wholly in the padding: −∞ for maxima, 0 for sums
	if average {
		VXORPS(empty, empty, empty)
	} else {
		VBROADCASTSS(vecU32("negInf", 0xff800000), empty)
	}
	dst := Load(Param("dst").Base(), GP64())
	rows := Load(Param("rows").Base(), GP64())

	// A band's rows are first reduced vertically into their slots, all of them, and only then
	// read across: a read of a slot right after the vector stores that filled it would straddle
	// stores still in flight, which the core cannot forward (a stall per load).
	Label(label("band", 0))
	rowsEnd := Load(Param("rows").Len(), GP64())
	SHLQ(U8(3), rowsEnd)
	ADDQ(Load(Param("rows").Base(), GP64()), rowsEnd)
	CMPQ(rows, rowsEnd)
	JE(LabelRef(label("done", 0)))
	bandEnd := Load(Param("band"), GP64())
	LEAQ(Mem{Base: bandEnd, Index: bandEnd, Scale: 2}, bandEnd)
	SHLQ(U8(3), bandEnd) // band·rowEntry
	ADDQ(rows, bandEnd)
	CMPQ(bandEnd, rowsEnd)
	CMOVQGT(rowsEnd, bandEnd)
	r := GP64()
	MOVQ(rows, r)
	slotRow := Load(Param("buf").Base(), GP64())
	Label(label("row", 0))
	in := Load(Param("left"), GP64())
	LEAQ(Mem{Base: slotRow, Index: in, Scale: 4}, in)
	cols := GP64()
	Load(Param("inW"), cols)
	count := GP64()
	MOVQ(Mem{Base: r, Disp: 8}, count)
	first := Load(Param("src").Base(), GP64())
	off := GP64()
	MOVQ(Mem{Base: r}, off)
	LEAQ(Mem{Base: first, Index: off, Scale: 4}, first)
	step := Load(Param("rowStep"), GP64())
	SHLQ(U8(2), step)
	TESTQ(count, count)
	JE(LabelRef(label("fill", 0)))
	for n := 1; n <= unrolled; n++ {
		CMPQ(count, U32(n))
		JE(LabelRef(label("col", n)))
	}

	// column emits the vertical maximum of one block at first to in, over n rows (count rows
	// when n is 0); with a mask only the mask's lanes are read and stored.
	column := func(n int, mask Op) {
		v := isa.reg()
		if mask == nil {
			VMOVUPS(Mem{Base: first}, v)
		} else {
			isa.loadMasked(Mem{Base: first}, mask, v)
		}
		acc := isa.start(v)
		tap := func(m Mem) {
			if mask == nil {
				isa.maxInto(acc, m)
				return
			}
			x := isa.reg()
			isa.loadMasked(m, mask, x)
			isa.maxInto(acc, x)
		}
		if n > 0 {
			for t := 1; t < n; t++ {
				tap(Mem{Base: first, Index: step, Scale: uint8(t)})
			}
		} else {
			p, k := GP64(), GP64()
			MOVQ(first, p)
			MOVQ(count, k)
			loop := label("taps", map[bool]int{false: 0, true: 1}[mask != nil])
			Label(loop)
			DECQ(k)
			JE(LabelRef(loop + "_end"))
			ADDQ(step, p)
			tap(Mem{Base: p})
			JMP(LabelRef(loop))
			Label(loop + "_end")
		}
		isa.finish(acc)
		if mask == nil {
			VMOVUPS(acc.v, Mem{Base: in})
		} else {
			isa.storeMasked(acc.v, mask, Mem{Base: in})
		}
	}
	for _, n := range []int{0, 1, 2, 3} {
		Label(label("col", n))
		CMPQ(cols, U32(L))
		JB(LabelRef(label("coltail", n)))
		column(n, nil)
		ADDQ(U32(block), first)
		ADDQ(U32(block), in)
		SUBQ(U32(L), cols)
		JMP(LabelRef(label("col", n)))
		Label(label("coltail", n))
		TESTQ(cols, cols)
		JE(LabelRef(label("rowdone", 0)))
		column(n, isa.mask(cols))
		JMP(LabelRef(label("rowdone", 0)))
	}

	// No row of the window lies inside the image.
	Label(label("fill", 0))
	CMPQ(cols, U32(L))
	JB(LabelRef(label("filltail", 0)))
	VMOVUPS(empty, Mem{Base: in})
	ADDQ(U32(block), in)
	SUBQ(U32(L), cols)
	JMP(LabelRef(label("fill", 0)))
	Label(label("filltail", 0))
	TESTQ(cols, cols)
	JE(LabelRef(label("rowdone", 0)))
	isa.storeMasked(empty, isa.mask(cols), Mem{Base: in})
	Label(label("rowdone", 0))
	slotBytes := Load(Param("slot"), GP64())
	SHLQ(U8(2), slotBytes)
	ADDQ(slotBytes, slotRow)
	ADDQ(U32(rowEntry), r)
	CMPQ(r, bandEnd)
	JNE(LabelRef(label("row", 0)))

	// The outputs of the band's rows: kw taps of the slot for each.
	slotRow = Load(Param("buf").Base(), GP64())
	Label(label("horizontal", 0))
	buf := GP64()
	MOVQ(slotRow, buf)
	outs := GP64()
	Load(Param("outW"), outs)
	dil := Load(Param("dilW"), GP64())
	SHLQ(U8(2), dil)
	kw := Load(Param("kw"), GP64())
	var col GPVirtual // with average, the divisors of the block's columns
	if average {
		col = GP64()
		Load(Param("colDiv").Base(), col)
	}
	for n := 1; n <= unrolled; n++ {
		CMPQ(kw, U32(n))
		JE(LabelRef(label("out", n)))
	}
	// taps returns the maximum (the quotient of the sum) of the taps of the block of outputs at
	// buf: n of them, or kw when n is 0.
	taps := func(n int, tail bool) VecVirtual {
		tap := func(m Mem) Op {
			if stride == 1 {
				return m
			}
			return isa.evens(m)
		}
		var v VecVirtual
		if stride == 1 {
			v = isa.reg()
			VMOVUPS(Mem{Base: buf}, v)
		} else {
			v = isa.evens(Mem{Base: buf})
		}
		acc := isa.start(v)
		if n > 0 {
			for t := 1; t < n; t++ {
				isa.maxInto(acc, tap(Mem{Base: buf, Index: dil, Scale: uint8(t)}))
			}
		} else {
			p, k := GP64(), GP64()
			MOVQ(buf, p)
			MOVQ(kw, k)
			loop := label("kx", map[bool]int{false: 0, true: 1}[tail])
			Label(loop)
			DECQ(k)
			JE(LabelRef(loop + "_end"))
			ADDQ(dil, p)
			isa.maxInto(acc, tap(Mem{Base: p}))
			JMP(LabelRef(loop))
			Label(loop + "_end")
		}
		isa.finish(acc)
		if average {
			div := isa.reg()
			VBROADCASTSS(Mem{Base: rows, Disp: 16}, div)
			VMULPS(Mem{Base: col}, div, div) // exact: both are small whole numbers
			VDIVPS(div, acc.v, acc.v)
		}
		return acc.v
	}
	for _, n := range []int{0, 1, 2, 3} {
		Label(label("out", n))
		CMPQ(outs, U32(L))
		JB(LabelRef(label("outtail", n)))
		VMOVUPS(taps(n, false), Mem{Base: dst})
		ADDQ(U32(stride*block), buf)
		ADDQ(U32(block), dst)
		if average {
			ADDQ(U32(block), col)
		}
		SUBQ(U32(L), outs)
		JMP(LabelRef(label("out", n)))
		Label(label("outtail", n))
		TESTQ(outs, outs)
		JE(LabelRef(label("next", 0)))
		acc := taps(n, true)
		isa.storeMasked(acc, isa.mask(outs), Mem{Base: dst})
		LEAQ(Mem{Base: dst, Index: outs, Scale: 4}, dst)
		JMP(LabelRef(label("next", 0)))
	}
	Label(label("next", 0))
	slotBytes = Load(Param("slot"), GP64())
	SHLQ(U8(2), slotBytes)
	ADDQ(slotBytes, slotRow)
	ADDQ(U32(rowEntry), rows)
	CMPQ(rows, bandEnd)
	JNE(LabelRef(label("horizontal", 0)))
	JMP(LabelRef(label("band", 0)))

	Label(label("done", 0))
	VZEROUPPER()
	RET()
}
