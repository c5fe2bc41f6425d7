// Command asm generates the AVX2/FMA kernels of package gemm with avo. Run it through
// `go generate` in internal/gemm; the .s and stub files it writes are committed.
package main

import (
	"fmt"
	"github.com/actswap/actswap/internal/asmgen"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The micro-tile: mr rows of A broadcast against nr = 16 columns of B held in two ymm registers,
// so 12 accumulators + 2 B registers + 2 broadcast registers fill the 16 ymm registers.
const (
	mr     = 6
	nr     = 16
	unroll = 4
	// minDirectRows is the fewest rows of a direct-A AVX-512 tile: a 3×32 tile still keeps six
	// FMAs in flight; one or two rows go through the row kernels (package gemm's rowTileRows).
	minDirectRows = 3
)

func main() {
	ConstraintExpr("amd64,!noasm")
	microKernel()
	indirectKernel()
	narrowKernel()
	for rows := 1; rows <= 2*mr; rows++ {
		wideKernel(rows, false)
		wideKernel(rows, true)
	}
	wideKernelDirectA(2*mr, 2, false)
	wideKernelDirectA(2*mr, 2, true)
	for rows := minDirectRows; rows <= 2*mr; rows++ {
		if rows < 2*mr {
			wideKernelDirectA(rows, 2, false)
		}
		wideKernelDirectA(rows, 1, false)
	}
	gatherKernel(7, 64, true)
	gatherKernel(6, 64, true)
	gatherKernel(5, 64, true)
	gatherKernel(7, 32, true)
	gatherKernel(10, 16, true)
	gatherKernel(6, 16, false)
	tapsKernel()
	rowKernel(false, 1)
	rowKernel(true, 1)
	rowKernel(true, 4)
	for _, wide := range []bool{false, true} {
		blockedTapsKernel(wide, 1)
		blockedTapsKernel(wide, 2)
	}
	for _, step := range []int{1, 2} {
		for _, kw := range []int{3, 5, 7} {
			blockedWindowKernel(step, kw)
		}
	}
	for _, size := range []int{8, 16} {
		for _, residual := range []bool{false, true} {
			transposeKernel(size, residual, false)
			transposeKernel(size, residual, true)
		}
	}
	padPlanesKernel()
	for _, step := range []int{1, 2, 4} {
		directConvKernel(step)
	}
	for _, vectors := range []int{3, 2} {
		directConvRunKernel(vectors, 1, false)
		directConvRunKernel(vectors, 2, false)
	}
	directConvRunKernel(3, 1, true)
	directConvRunKernel(3, 2, true)
	directConvPairsKernel()
	pointwiseBlockedKernel()
	interleaveKernel()
	splitKernel()
	deinterleaveKernel()
	winogradInputKernel()
	for _, residual := range []bool{false, true} {
		winogradOutputKernel(residual, false)
		winogradOutputKernel(residual, true)
	}
	addVectors(false)
	addVectors(true)
	scaleVectors()
	fmaPeak(false)
	fmaPeak(true)
	Generate()
}

// microKernel emits kernel6x16(k, a, b, c, ldc, accumulate): C[0:6, 0:16] (row stride ldc) gets
// Σ_p a[p*6+i]·b[p*16+j], added to C when accumulate is set and stored over it otherwise.
// a and b are packed panels (see pack.go).
func microKernel() {
	asmgen.Kernel("kernel6x16", "func(k int, a, b, c *float32, ldc int, accumulate bool)", fmt.Sprintf("kernel6x16 computes a %dx%d tile of C from packed panels of A and B (AVX2, FMA).", mr, nr))
	k := Load(Param("k"), GP64())
	a := Mem{Base: Load(Param("a"), GP64())}
	b := Mem{Base: Load(Param("b"), GP64())}

	prefetchTile(mr, 4*nr)

	acc := zeroedTile(mr, 2, YMM)
	b0, b1 := YMM(), YMM()
	bc := [2]VecVirtual{YMM(), YMM()}

	step := func(p int) {
		VMOVUPS(b.Offset(4*nr*p), b0)
		VMOVUPS(b.Offset(4*nr*p+32), b1)
		for i := 0; i < mr; i++ {
			t := bc[i%2]
			VBROADCASTSS(a.Offset(4*(mr*p+i)), t)
			VFMADD231PS(b0, t, acc[i][0])
			VFMADD231PS(b1, t, acc[i][1])
		}
	}

	Comment("Unrolled main loop over k.")
	Label("unrolled")
	CMPQ(k, U32(unroll))
	JL(LabelRef("tail"))
	for p := 0; p < unroll; p++ {
		step(p)
	}
	ADDQ(U32(4*mr*unroll), a.Base)
	ADDQ(U32(4*nr*unroll), b.Base)
	SUBQ(U32(unroll), k)
	JMP(LabelRef("unrolled"))

	Label("tail")
	TESTQ(k, k)
	JZ(LabelRef("write"))
	step(0)
	ADDQ(U32(4*mr), a.Base)
	ADDQ(U32(4*nr), b.Base)
	DECQ(k)
	JMP(LabelRef("tail"))

	writeTile(acc, 32)
}

// indirectKernel emits kernel6x16Indirect(k, a, b, offs, c, ldc, accumulate): kernel6x16 with
// row p of the B panel read in place at b + offs[p] (elements) instead of from a packed panel —
// a convolution's patch matrix addressed straight in the padded image, with no im2col.
func indirectKernel() {
	asmgen.Kernel("kernel6x16Indirect", "func(k int, a, b *float32, offs *int, c *float32, ldc int, accumulate bool)", "kernel6x16Indirect computes a 6x16 tile of C from a packed A panel and B rows at b+offs[p] (AVX2, FMA).")
	k := Load(Param("k"), GP64())
	a := Mem{Base: Load(Param("a"), GP64())}
	b := Load(Param("b"), GP64())
	offs := Mem{Base: Load(Param("offs"), GP64())}
	prefetchTile(mr, 4*nr)
	acc := zeroedTile(mr, 2, YMM)
	b0, b1 := YMM(), YMM()
	bc := [2]VecVirtual{YMM(), YMM()}
	row := GP64()
	step := func(p int) {
		MOVQ(offs.Offset(8*p), row)
		VMOVUPS(Mem{Base: b, Index: row, Scale: 4}, b0)
		VMOVUPS(Mem{Base: b, Index: row, Scale: 4, Disp: 32}, b1)
		for i := 0; i < mr; i++ {
			t := bc[i%2]
			VBROADCASTSS(a.Offset(4*(mr*p+i)), t)
			VFMADD231PS(b0, t, acc[i][0])
			VFMADD231PS(b1, t, acc[i][1])
		}
	}
	Label("iunrolled")
	CMPQ(k, U32(unroll))
	JL(LabelRef("itail"))
	for p := 0; p < unroll; p++ {
		step(p)
	}
	ADDQ(U32(4*mr*unroll), a.Base)
	ADDQ(U32(8*unroll), offs.Base)
	SUBQ(U32(unroll), k)
	JMP(LabelRef("iunrolled"))
	Label("itail")
	TESTQ(k, k)
	JZ(LabelRef("write"))
	step(0)
	ADDQ(U32(4*mr), a.Base)
	ADDQ(U32(8), offs.Base)
	DECQ(k)
	JMP(LabelRef("itail"))

	writeTile(acc, 32)
}

// wideKernel emits kernel12x32(k, a, b, c, ldc, accumulate), or with indirect
// kernel12x32Indirect(k, a, b, offs, c, ldc, accumulate): a 12×32 tile of C from two adjacent
// packed A panels (the second k·6 values after the first) against two adjacent B panels (the
// second k·16 values after the first) or, indirect, B rows of 32 values at b + offs[p]. It
// needs AVX-512: 24 zmm accumulators, twice the work per loaded value of the 6×16 ymm tile, so
// the tile is fed from L2 as fast as the FMA units consume it. The packed layouts are the 6×16
// kernel's, so tiles of both sizes mix in one product.
//
// With fewer rows (1 to 11), kernel{rows}x32 and kernel{rows}x32Indirect: the first rows of the
// same two panels (past 6, the second panel's), for the rows that a product of packed weights
// leaves below its 12-row tiles — 16 output channels are 12 + 4, 40 are 36 + 4, 80 are 72 + 8 —
// which otherwise ran as 6×16 ymm tiles, padding included, at a third to a half of the wide
// tile's rate per row (the 32→16 projection at 112×112: 159 µs against onnxruntime's 87–96).
func wideKernel(rows int, indirect bool) {
	const cols = 2 * nr
	name := fmt.Sprintf("kernel%dx%d", rows, cols)
	if indirect {
		name += "Indirect"
		TEXT(name, NOSPLIT, "func(k int, a, b *float32, offs *int, c *float32, ldc int, accumulate bool)")
		Pragma("noescape") // keeps no pointer past the call, so callers' edge tiles stay on the stack
		Doc(fmt.Sprintf("%s computes a %dx32 tile of C from packed A panels and B rows at b+offs[p] (AVX-512F).", name, rows))
	} else {
		TEXT(name, NOSPLIT, "func(k int, a, b, c *float32, ldc int, accumulate bool)")
		Pragma("noescape") // keeps no pointer past the call, so callers' edge tiles stay on the stack
		Doc(fmt.Sprintf("%s computes a %dx32 tile of C from packed A panels and two packed B panels (AVX-512F).", name, rows))
	}
	k := Load(Param("k"), GP64())
	a0 := Load(Param("a"), GP64())
	var a1 Register
	if rows > mr {
		a1 = GP64()
		LEAQ(Mem{Base: k, Index: k, Scale: 2}, a1) // 3k
		SHLQ(U8(3), a1)                            // 24k bytes: k·mr floats
		ADDQ(a0, a1)
	}
	b0 := Load(Param("b"), GP64())
	var b1, offs Register
	if indirect {
		offs = Load(Param("offs"), GP64())
	} else {
		b1 = GP64()
		MOVQ(k, b1)
		SHLQ(U8(6), b1) // 64k bytes: k·nr floats
		ADDQ(b0, b1)
	}

	prefetchTile(rows, 4*cols)

	acc := zeroedZMMTile(rows, 2)
	bv := [2]VecVirtual{ZMM(), ZMM()}
	bc := [2]VecVirtual{ZMM(), ZMM()}

	TESTQ(k, k)
	JZ(LabelRef("write"))
	Label("loop")
	if indirect {
		row := GP64()
		MOVQ(Mem{Base: offs}, row)
		VMOVUPS(Mem{Base: b0, Index: row, Scale: 4}, bv[0])
		VMOVUPS(Mem{Base: b0, Index: row, Scale: 4, Disp: 64}, bv[1])
	} else {
		VMOVUPS(Mem{Base: b0}, bv[0])
		VMOVUPS(Mem{Base: b1}, bv[1])
	}
	for i := 0; i < rows; i++ {
		t := bc[i%2]
		base := a0
		if i >= mr {
			base = a1
		}
		VBROADCASTSS(Mem{Base: base, Disp: 4 * (i % mr)}, t)
		VFMADD231PS(bv[0], t, acc[i][0])
		VFMADD231PS(bv[1], t, acc[i][1])
	}
	ADDQ(U32(4*mr), a0)
	if rows > mr {
		ADDQ(U32(4*mr), a1)
	}
	if indirect {
		ADDQ(U32(8), offs)
	} else {
		ADDQ(U32(4*nr), b0)
		ADDQ(U32(4*nr), b1)
	}
	DECQ(k)
	JNZ(LabelRef("loop"))

	writeZMMTile(acc)
}

// narrowKernel emits kernel6x8: kernel6x16 restricted to the first 8 columns of each packed B
// row (B rows stay nr apart), for the last panel of a matrix whose width leaves ≤ 8 columns
// there, where the full tile would spend half its FMAs on padding. It always stores (no
// accumulate flag): edge tiles go through a scratch tile.
func narrowKernel() {
	asmgen.Kernel("kernel6x8", "func(k int, a, b, c *float32, ldc int)", "kernel6x8 computes a 6x8 tile of C from packed panels of A and B (AVX2, FMA), storing it.")
	k := Load(Param("k"), GP64())
	a := Mem{Base: Load(Param("a"), GP64())}
	b := Mem{Base: Load(Param("b"), GP64())}
	var acc [mr]VecVirtual
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	b0 := YMM()
	bc := [2]VecVirtual{YMM(), YMM()}
	step := func(p int) {
		VMOVUPS(b.Offset(4*nr*p), b0)
		for i := 0; i < mr; i++ {
			t := bc[i%2]
			VBROADCASTSS(a.Offset(4*(mr*p+i)), t)
			VFMADD231PS(b0, t, acc[i])
		}
	}
	Label("unrolled8")
	CMPQ(k, U32(unroll))
	JL(LabelRef("tail8"))
	for p := 0; p < unroll; p++ {
		step(p)
	}
	ADDQ(U32(4*mr*unroll), a.Base)
	ADDQ(U32(4*nr*unroll), b.Base)
	SUBQ(U32(unroll), k)
	JMP(LabelRef("unrolled8"))
	Label("tail8")
	TESTQ(k, k)
	JZ(LabelRef("store8"))
	step(0)
	ADDQ(U32(4*mr), a.Base)
	ADDQ(U32(4*nr), b.Base)
	DECQ(k)
	JMP(LabelRef("tail8"))
	Label("store8")
	c := Mem{Base: Load(Param("c"), GP64())}
	ldc := byteStride("ldc")
	for i := 0; i < mr; i++ {
		VMOVUPS(acc[i], c)
		if i < mr-1 {
			ADDQ(ldc, c.Base)
		}
	}
	VZEROUPPER()
	RET()
}

// wideKernelDirectA emits kernel12x32DirectA(k, a, lda, b, c, ldc, accumulate) (rows = 12,
// panels = 2): kernel12x32 with A read where it lies, 12 rows of a row-major matrix lda apart,
// instead of from packed panels — the activation side of a product against packed weights
// needs no packing at all; with panels = 1, kernel12x16DirectA, for a last single panel of B.
// With fewer rows, kernel{rows}x32DirectA and kernel{rows}x16DirectA: the rows a product's
// 12-row tiles leave over (16 = 8+8, 197 = 16·12 + 9+8) at the same rate per row, instead of
// packed 6-row ymm tiles that pad them (a third of a 16-row product's time was packing A).
//
// With prefetch (two panels only) each step also fetches a line of the next pair of panels,
// which start 2·k·nr floats further: weights packed ahead (a transformer's Linear layers) are
// read once per run, from memory, and the first row tile over each pair otherwise waits for
// them (+6–7% on ViT's shapes with cold weights; on B packed per call, already in cache, the
// extra instructions cost ~2%, so that path keeps the plain kernel).
func wideKernelDirectA(rows, panels int, prefetch bool) {
	name := fmt.Sprintf("kernel%dx%dDirectA", rows, panels*nr)
	if prefetch {
		name += "Prefetch"
	}
	asmgen.Kernel(name, "func(k int, a *float32, lda int, b, c *float32, ldc int, accumulate bool, bias *float32)", fmt.Sprintf("%s computes a %dx%d tile of C from %d rows of a row-major A and %d packed B panel(s), adding bias[0:%d] to each row unless bias is nil (AVX-512F).", name, rows, panels*nr, rows, panels, panels*nr))
	k := Load(Param("k"), GP64())
	lda := byteStride("lda")
	// Rows 3q, 3q+1, 3q+2 are base[q], base[q]+lda, base[q]+2·lda.
	base := make([]Register, (rows+2)/3)
	base[0] = Load(Param("a"), GP64())
	var lda3 Register
	if len(base) > 1 {
		lda3 = GP64()
		LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	}
	for q := 1; q < len(base); q++ {
		base[q] = GP64()
		LEAQ(Mem{Base: base[q-1], Index: lda3, Scale: 1}, base[q])
	}
	b0 := Load(Param("b"), GP64())
	var b1, ahead Register
	if panels == 2 {
		b1 = GP64()
		MOVQ(k, b1)
		SHLQ(U8(6), b1) // 64k bytes: k·nr floats
		ADDQ(b0, b1)
	}
	if prefetch {
		ahead = GP64()
		MOVQ(k, ahead)
		SHLQ(U8(7), ahead) // 128k bytes: the next pair of panels
	}

	acc := zeroedZMMTile(rows, panels)
	bv := [2]VecVirtual{ZMM(), ZMM()}
	bc := [2]VecVirtual{ZMM(), ZMM()}

	TESTQ(k, k)
	JZ(LabelRef("write"))
	Label("loop")
	VMOVUPS(Mem{Base: b0}, bv[0])
	if panels == 2 {
		VMOVUPS(Mem{Base: b1}, bv[1])
	}
	if prefetch {
		PREFETCHT0(Mem{Base: b0, Index: ahead, Scale: 1})
		PREFETCHT0(Mem{Base: b1, Index: ahead, Scale: 1})
	}
	for i := 0; i < rows; i++ {
		t := bc[i%2]
		m := Mem{Base: base[i/3]}
		if i%3 > 0 {
			m.Index, m.Scale = lda, uint8(i%3)
		}
		VBROADCASTSS(m, t)
		for j := 0; j < panels; j++ {
			VFMADD231PS(bv[j], t, acc[i][j])
		}
	}
	for _, r := range base {
		ADDQ(U32(4), r)
	}
	ADDQ(U32(4*nr), b0)
	if panels == 2 {
		ADDQ(U32(4*nr), b1)
	}
	DECQ(k)
	JNZ(LabelRef("loop"))

	writeZMMTileBias(acc, bv[:panels])
}

// writeZMMTileBias is writeZMMTile with the epilogue's per-column bias folded in: unless the
// bias parameter is nil, bias[0 : 16·len(regs)] is loaded into regs (free once the k loop is
// done) and added to every row after C is (when accumulating): the order of the separate bias
// pass it replaces, so the results are bit-identical to it, without that pass over C.
func writeZMMTileBias(acc [][]VecVirtual, regs []VecVirtual) {
	Label("write")
	c := Mem{Base: Load(Param("c"), GP64())}
	ldc := byteStride("ldc")
	accumulate := Load(Param("accumulate"), GP8())
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef("nobias"))
	for j, r := range regs {
		VMOVUPS(Mem{Base: bias, Disp: 64 * j}, r)
	}
	for _, withBias := range []bool{true, false} {
		suffix := ""
		if withBias {
			suffix = "_bias"
		} else {
			Label("nobias")
		}
		TESTB(accumulate, accumulate)
		JZ(LabelRef("store" + suffix))
		for _, add := range []bool{true, false} {
			if !add {
				Label("store" + suffix)
			}
			for i, row := range acc {
				for j, v := range row {
					if add {
						VADDPS(c.Offset(64*j), v, v)
					}
					if withBias {
						VADDPS(regs[j], v, v)
					}
					VMOVUPS(v, c.Offset(64*j))
				}
				if i < len(acc)-1 {
					ADDQ(ldc, c.Base)
				}
			}
			VZEROUPPER()
			RET()
		}
	}
}

// The gather tiles: rows of a gathered A broadcast against a panel of B. With AVX-512, 6 rows ×
// 64 columns in four zmm registers: 24 accumulators + 4 B registers + 2 broadcast registers, one
// broadcast per A value; 7 rows × 64 fill the 32 zmm registers with 28 accumulators, 3 B registers
// and 1 broadcast register, B's fourth vector read from memory by each row's last FMA (kept for
// the rows that 6-row tiles leave over). With AVX2, 6 rows ×
// 16 columns: 12 accumulators, 2 B and 2 broadcast registers fill the 16 ymm.

// gatherKernel emits kernel{rows}x{width}Gather — 6×64, 7×64, 7×32 and 10×16 with AVX-512 (zmm),
// 6×16 with AVX2:
// C[crows[i] : crows[i]+cols] gets Σ_p data[rows[i]+cols[p]]·b[p*cols+j], the sums started
// from C's values when accumulate is set (continuedTile). C's rows are any rows, through the
// table crows like A's, so a class of output pixels that are not consecutive (those of a
// convolution's left column, say, whose windows skip their left taps) is written in place.
// A is never packed: row i of A is the image seen from rows[i] (an output pixel of a
// convolution) and column p a tap at offset cols[p] from it, so the same kernel runs
// every stride, dilation and padded image. b is a panel of cols columns, row by row. The 7×32
// tile (14 accumulators, still enough chains for both FMA units) serves channel counts that are
// multiples of 32 but not of 64, such as MobileNet's and EfficientNet's 32-channel stems. The
// 10×16 tile (one zmm per row: 10 accumulators, enough chains for both FMA units; 10 row
// pointers are as many as the general registers allow) serves channel counts that are odd
// multiples of 16 — MobileNetV3's 16-channel stem, ConvNeXt's 48 — where AVX2's 6×16 tile
// has 6 chains of half width.
// Each k step also prefetches one cache line from ahead (an address, never dereferenced) into
// L2: SgemmGather points it at the part of B's next block that this tile should bring in, so
// weights too large for the caches (ResNet-18's last layers: 9.4 MB per convolution) stream in
// while the current block is multiplied rather than when the next block's first tile stalls on
// them.
func gatherKernel(rows, width int, wide bool) {
	vecBytes, reg, isa := 32, YMM, "AVX2, FMA"
	if wide {
		vecBytes, reg, isa = 64, ZMM, "AVX-512F"
	}
	vecs := width * 4 / vecBytes
	name := fmt.Sprintf("kernel%dx%dGather", rows, width)
	asmgen.Kernel(name, "func(k int, data *float32, rows, cols *int, b, c *float32, crows *int, accumulate bool, ahead uintptr)", fmt.Sprintf("%s computes a %dx%d tile of C from A[i][p] = data[rows[i]+cols[p]] and a %d-column B panel (%s), prefetching k cache lines from ahead into L2.", name, rows, width, width, isa))
	k := Load(Param("k"), GP64())
	data := Load(Param("data"), GP64())
	rowsPtr := Load(Param("rows"), GP64())
	rp := make([]Register, rows)
	for i := range rp {
		rp[i] = GP64()
		MOVQ(Mem{Base: rowsPtr, Disp: 8 * i}, rp[i])
		LEAQ(Mem{Base: data, Index: rp[i], Scale: 4}, rp[i])
	}
	// C's rows are prefetched and loaded before cols and b take two more general registers:
	// the 10-row tile's row pointers leave too few for the row table besides them.
	prefetchTileRows(rows, 4*width)
	acc := continuedTile(rows, vecs, reg, vecBytes)

	cols := Load(Param("cols"), GP64())
	b := Load(Param("b"), GP64())
	// The 7×64 AVX-512 tile's 28 accumulators leave four zmm registers: three hold B's first
	// vectors and one A's broadcast value, and B's last vector is read by each row's last FMA
	// from memory (L1 after the first row), 18 loads for 28 FMAs. Holding all four B vectors
	// left no register to broadcast into, so every FMA broadcast A from memory, 32 loads for
	// 28 FMAs: 1.4× the 6×64 tile's time per row (BenchmarkKernelGather, Zen 5). Smaller tiles
	// hold all of B and broadcast into two registers.
	inRegs, broadcasts := vecs, 2
	if rows*vecs+vecs+broadcasts > 32 {
		inRegs, broadcasts = 32-rows*vecs-1, 1
	}
	bv := make([]VecVirtual, inRegs)
	for j := range bv {
		bv[j] = reg()
	}
	bc := make([]VecVirtual, broadcasts)
	for j := range bc {
		bc[j] = reg()
	}

	ahead := Load(Param("ahead"), GP64())
	TESTQ(k, k)
	JZ(LabelRef("write"))
	Label("loop")
	off := GP64()
	MOVQ(Mem{Base: cols}, off)
	for j := range bv {
		VMOVUPS(Mem{Base: b, Disp: vecBytes * j}, bv[j])
	}
	PREFETCHT1(Mem{Base: ahead})
	ADDQ(U32(64), ahead)
	for i := 0; i < rows; i++ {
		t := bc[i%broadcasts]
		VBROADCASTSS(Mem{Base: rp[i], Index: off, Scale: 4}, t)
		for j := range vecs {
			if j < inRegs {
				VFMADD231PS(bv[j], t, acc[i][j])
			} else {
				VFMADD231PS(Mem{Base: b, Disp: vecBytes * j}, t, acc[i][j])
			}
		}
	}
	ADDQ(U32(8), cols)
	ADDQ(U32(4*width), b)
	DECQ(k)
	JNZ(LabelRef("loop"))

	storeTile(acc, vecBytes)
}

// continuedTile allocates a gather tile's accumulators (rows of vecs registers, vecBytes each)
// and starts them from C's rows (the table crows: offsets from c, in floats) when the
// accumulate parameter is set, else from zero: a sum computed in several calls — k blocks, or
// the runs of taps between which a class of rows skips the taps on zero padding — is one chain
// of FMAs, so it comes out the same bits however it was split, and skipping a tap that reads
// zero changes nothing.
func continuedTile(rows, vecs int, reg func() VecVirtual, vecBytes int) [][]VecVirtual {
	acc := zeroedTile(rows, vecs, reg)
	accumulate := Load(Param("accumulate"), GP8())
	TESTB(accumulate, accumulate)
	JZ(LabelRef("zeroed"))
	forTileRows(acc, func(row Mem, regs []VecVirtual) {
		for j, v := range regs {
			VMOVUPS(row.Offset(vecBytes*j), v)
		}
	})
	Label("zeroed")
	return acc
}

// storeTile emits the "write" label of a tile started by continuedTile: the accumulators
// stored over C's rows.
func storeTile(acc [][]VecVirtual, vecBytes int) {
	Label("write")
	forTileRows(acc, func(row Mem, regs []VecVirtual) {
		for j, v := range regs {
			VMOVUPS(v, row.Offset(vecBytes*j))
		}
	})
	VZEROUPPER()
	RET()
}

// prefetchTileRows is prefetchTile for a tile whose rows of C are at offsets crows.
func prefetchTileRows(rows, rowBytes int) {
	c := Load(Param("c"), GP64())
	crows := Load(Param("crows"), GP64())
	at := GP64()
	for i := 0; i < rows; i++ {
		MOVQ(Mem{Base: crows, Disp: 8 * i}, at)
		for d := 0; d < rowBytes; d += 64 {
			PREFETCHT0(Mem{Base: c, Index: at, Scale: 4, Disp: d})
		}
		PREFETCHT0(Mem{Base: c, Index: at, Scale: 4, Disp: rowBytes - 4})
	}
}

// forTileRows emits body for each row of a gather tile, with the address of its row of C:
// c + 4·crows[i].
func forTileRows(acc [][]VecVirtual, body func(row Mem, regs []VecVirtual)) {
	c := Load(Param("c"), GP64())
	crows := Load(Param("crows"), GP64())
	at := GP64()
	for i, regs := range acc {
		MOVQ(Mem{Base: crows, Disp: 8 * i}, at)
		body(Mem{Base: c, Index: at, Scale: 4}, regs)
	}
}

// padPlanesKernel emits padPlanes16(dst, src, planes, top, rows, bottom, lds, ldd, left, load,
// store) (AVX-512F): the zero padding of planes image planes of rows × lds values (src, back to
// back) written out as planes of top + rows + bottom rows of ldd ≤ 16 values (dst, back to back).
// Each padded row is one zmm store under the store mask (its ldd lanes); an image row lands at
// column left through one load under the load mask (lanes left … left+lds−1) from left values
// before it, so the zeros beside it come from the masked-off lanes — a convolution's small
// images (8×8 → 10×10) are padded at one load and one store per row, where a copy call per row
// cost as much as the convolution's product. Masked-off lanes are never read, so the load
// before the first row and past the last one touches no memory outside src.
func padPlanesKernel() {
	asmgen.Kernel("padPlanes16", "func(dst, src *float32, planes, top, rows, bottom, lds, ldd, left int, load, store uint16)", "padPlanes16 writes zero-padded image planes of at most 16 columns (AVX-512F).")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	planes := Load(Param("planes"), GP64())
	lds, ldd := byteStride("lds"), byteStride("ldd")
	left := Load(Param("left"), GP64())
	SHLQ(U8(2), left)
	SUBQ(left, src)
	kl, ks := K(), K()
	KMOVW(Load(Param("load"), GP16()).(GPVirtual).As32(), kl)
	KMOVW(Load(Param("store"), GP16()).(GPVirtual).As32(), ks)
	zero := ZMM()
	VPXORD(zero, zero, zero)
	n := GP64()
	TESTQ(planes, planes)
	JZ(LabelRef("done"))
	Label("plane")
	zeroRows := func(param, label string) {
		Load(Param(param), n)
		TESTQ(n, n)
		JZ(LabelRef(label + "_end"))
		Label(label)
		VMOVUPS(zero, ks, Mem{Base: dst})
		ADDQ(ldd, dst)
		DECQ(n)
		JNZ(LabelRef(label))
		Label(label + "_end")
	}
	zeroRows("top", "top")
	Load(Param("rows"), n)
	TESTQ(n, n)
	JZ(LabelRef("rows_end"))
	Label("rows")
	v := ZMM()
	VMOVUPS_Z(Mem{Base: src}, kl, v)
	VMOVUPS(v, ks, Mem{Base: dst})
	ADDQ(lds, src)
	ADDQ(ldd, dst)
	DECQ(n)
	JNZ(LabelRef("rows"))
	Label("rows_end")
	zeroRows("bottom", "bottom")
	DECQ(planes)
	JNZ(LabelRef("plane"))
	Label("done")
	VZEROUPPER()
	RET()
}

// directConvKernel emits directConvZ{step}(dst, plane, dstRow, src, srcRow, offs, w, taps, bias,
// channels, width, rows) (AVX-512F): a direct convolution with few taps, vectors along output
// pixels — for r < rows, x < width and j < channels ≤ 16,
// dst[j·plane + r·dstRow + x] = bias[j] + Σ_t w[16t+j] · src[r·srcRow + offs[t] + step·x].
// 16 consecutive output pixels of one row are one zmm; each output channel has its own
// accumulator (16), so each tap is one input vector (stride 2: two loads folded to the even
// lanes by one vpermt2ps; stride 4: four loads, two vpermt2ps and a vshuff32x4) against 16 FMAs
// whose weights are embedded-broadcast memory operands. The accumulators are already rows of
// the output planes: stored under the mask of the row's remaining pixels, no transposition.
// bias nil is zero. Whole input vectors are read: the caller leaves slack after src.
func directConvKernel(step int) {
	name := fmt.Sprintf("directConvZ%d", step)
	asmgen.Kernel(name, "func(dst *float32, plane, dstRow int, src *float32, srcRow int, offs *int, w *float32, taps int, bias *float32, channels, width, rows int)",
		fmt.Sprintf("%s computes rows × width pixels of up to 16 output channels of a direct convolution with horizontal stride %d (AVX-512F).", name, step))
	masks := asmgen.ReadOnly("directMasks", func() {
		for i := 0; i <= 16; i++ {
			DATA(2*i, U16(1<<i-1))
		}
	})
	var idx VecVirtual
	if step > 1 {
		perm := asmgen.ReadOnly(fmt.Sprintf("directPerm%d", step), func() {
			for i := 0; i < 16; i++ {
				DATA(4*i, U32(uint32(step*i%32)))
			}
		})
		idx = ZMM()
		VMOVUPS(perm, idx)
	}
	dstRowPtr := Load(Param("dst"), GP64())
	srcRowPtr := Load(Param("src"), GP64())
	rows := Load(Param("rows"), GP64())
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	Label("row")
	x := GP64()
	XORQ(x, x)
	Label("vec")
	// The lanes of this vector's pixels: min(width − x, 16) of them.
	rem := Load(Param("width"), GP64())
	SUBQ(x, rem)
	sixteen := GP64()
	MOVQ(U32(16), sixteen)
	CMPQ(rem, sixteen)
	CMOVQGT(sixteen, rem)
	table := GP64()
	LEAQ(masks, table) // the assembler takes no index register on a symbol
	k := K()
	KMOVW(Mem{Base: table, Index: rem, Scale: 2}, k)

	acc := directAccumulators()
	srcx := GP64()
	MOVQ(x, srcx)
	SHLQ(U8(2+map[int]int{1: 0, 2: 1, 4: 2}[step]), srcx)
	ADDQ(srcRowPtr, srcx)
	op := Load(Param("offs"), GP64())
	wp := Load(Param("w"), GP64())
	t := Load(Param("taps"), GP64())
	Label("tap")
	off := GP64()
	MOVQ(Mem{Base: op}, off)
	at := func(disp int) Mem { return Mem{Base: srcx, Index: off, Scale: 4, Disp: disp} }
	v := ZMM()
	VMOVUPS(at(0), v)
	switch step {
	case 2:
		VPERMT2PS(at(64), idx, v)
	case 4:
		hi := ZMM()
		VPERMT2PS(at(64), idx, v)
		VMOVUPS(at(128), hi)
		VPERMT2PS(at(192), idx, hi)
		VSHUFF32X4(U8(0x44), hi, v, v) // lanes 0–7 of each: pixels 0–7, then 8–15
	}
	for j := range acc {
		VFMADD231PS_BCST(Mem{Base: wp, Disp: 4 * j}, v, acc[j])
	}
	ADDQ(U32(8), op)
	ADDQ(U32(64), wp)
	DECQ(t)
	JNZ(LabelRef("tap"))

	p := GP64()
	LEAQ(Mem{Base: dstRowPtr, Index: x, Scale: 4}, p)
	plane := byteStride("plane")
	ch := Load(Param("channels"), GP64())
	for j := range acc {
		VMOVUPS(acc[j], k, Mem{Base: p})
		if j < len(acc)-1 {
			DECQ(ch)
			JZ(LabelRef("stored"))
			ADDQ(plane, p)
		}
	}
	Label("stored")
	ADDQ(U32(16), x)
	CMPQ(x, Load(Param("width"), GP64()))
	JLT(LabelRef("vec"))
	nextRow(dstRowPtr, srcRowPtr, rows, 1)
}

// directRunChannels is how many output channels the run kernels (directConvRunKernel) hold
// accumulators for at a time: half a block.
const directRunChannels = 8

// directConvRunKernel emits directConvRun{vectors}Z{step}(dst, plane, dstRow, src, srcRow,
// offs, w, taps, bias, runs, rows) (AVX-512F): directConvZ{step} for all 16 channels of a block
// over runs whole runs of vectors·16 pixels of each row, each run vectors × 8 channels of
// accumulators, the two halves of the block in turn. Each tap loads the run's input vectors
// and broadcasts each of 8 weights into a register once for all of them: with 3 vectors 11
// loads for 24 FMAs, with 2, 10 for 16, where the 16-channel kernel issues 17–18 loads for 16
// (every weight an embedded-broadcast memory operand), which held it to 76% of the FMA peak on
// ResNet-18's 147-tap stem (BenchmarkDirectConvRows, Zen 5; 87% with the run kernels). The
// weights are DirectConvRows's packing, 16 a tap: a half reads 8 of them, 64 bytes apart per
// tap. No masks: the caller gives the pixels past the last whole run to directConvZ{step}.
//
// With vertical set it emits directConvCol{vectors}Z{step}, whose runs are columns: the same 16
// pixels of vectors consecutive rows (runs is then the vectors of a row and rows the groups of
// vectors rows), so that rows of any whole number of vectors run on 3-vector runs — ResNet-18's
// 7-vector stem rows, whose 2-vector runs ran 11% slower a vector than the 3-vector ones
// (perf, Zen 5: 16 FMAs for 10 loads).
func directConvRunKernel(vectors, step int, vertical bool) {
	name := fmt.Sprintf("directConvRun%dZ%d", vectors, step)
	doc := fmt.Sprintf("%s computes rows × runs·%d pixels of 16 output channels of a direct convolution with horizontal stride %d, %d vectors of a row × 8 channels at a time (AVX-512F).", name, 16*vectors, step, vectors)
	if vertical {
		name = fmt.Sprintf("directConvCol%dZ%d", vectors, step)
		doc = fmt.Sprintf("%s computes rows·%d rows × runs·16 pixels of 16 output channels of a direct convolution with horizontal stride %d, the same vector of %d rows × 8 channels at a time (AVX-512F).", name, vectors, step, vectors)
	}
	asmgen.Kernel(name, "func(dst *float32, plane, dstRow int, src *float32, srcRow int, offs *int, w *float32, taps int, bias *float32, runs, rows int)", doc)
	directRunVectors := vectors
	var idx VecVirtual
	if step > 1 {
		perm := asmgen.ReadOnly(fmt.Sprintf("directRun%dPerm%d", vectors, step), func() {
			for i := 0; i < 16; i++ {
				DATA(4*i, U32(uint32(step*i%32)))
			}
		})
		idx = ZMM()
		VMOVUPS(perm, idx)
	}
	runBytes := 4 * 16 * directRunVectors // output bytes of one run of one channel's row
	if vertical {
		runBytes = 4 * 16
	}
	rows := Load(Param("rows"), GP64())
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	dstRowPtr := Load(Param("dst"), GP64())
	srcRowPtr := Load(Param("src"), GP64())
	Label("row")
	x := GP64() // the run's first pixel
	XORQ(x, x)
	Label("run")
	half := GP64() // the half of the channel block: 0 or 8
	XORQ(half, half)
	Label("half")
	acc := make([][]VecVirtual, directRunVectors)
	for v := range acc {
		acc[v] = make([]VecVirtual, directRunChannels)
		for j := range acc[v] {
			acc[v][j] = ZMM()
		}
	}
	b := Load(Param("bias"), GP64())
	TESTQ(b, b)
	JZ(LabelRef("zero"))
	for j := 0; j < directRunChannels; j++ {
		VBROADCASTSS(Mem{Base: b, Index: half, Scale: 4, Disp: 4 * j}, acc[0][j])
		for v := 1; v < directRunVectors; v++ {
			VMOVAPS(acc[0][j], acc[v][j])
		}
	}
	JMP(LabelRef("taps"))
	Label("zero")
	for v := range acc {
		for _, a := range acc[v] {
			VPXORD(a, a, a)
		}
	}
	Label("taps")
	srcx := GP64()
	MOVQ(x, srcx)
	SHLQ(U8(2+map[int]int{1: 0, 2: 1}[step]), srcx)
	ADDQ(srcRowPtr, srcx)
	op := Load(Param("offs"), GP64())
	wp := Load(Param("w"), GP64())
	LEAQ(Mem{Base: wp, Index: half, Scale: 4}, wp)
	t := Load(Param("taps"), GP64())
	// Vector v's input: 16·step·v values on in the row, or (vertical) v rows down.
	base := make([]Register, directRunVectors)
	for v := range base {
		base[v] = srcx
	}
	if vertical {
		srcRow := byteStride("srcRow")
		for v := 1; v < directRunVectors; v++ {
			base[v] = GP64()
			LEAQ(Mem{Base: base[v-1], Index: srcRow, Scale: 1}, base[v])
		}
	}
	vecAt := func(v int) int {
		if vertical {
			return 0
		}
		return 4 * 16 * step * v
	}
	in := make([]VecVirtual, directRunVectors)
	for v := range in {
		in[v] = ZMM()
	}
	bc := ZMM()
	Label("tap")
	off := GP64()
	MOVQ(Mem{Base: op}, off)
	for v := range in {
		at := Mem{Base: base[v], Index: off, Scale: 4, Disp: vecAt(v)}
		VMOVUPS(at, in[v])
		if step == 2 {
			VPERMT2PS(at.Offset(64), idx, in[v])
		}
	}
	for j := 0; j < directRunChannels; j++ {
		VBROADCASTSS(Mem{Base: wp, Disp: 4 * j}, bc)
		for v := range in {
			VFMADD231PS(in[v], bc, acc[v][j])
		}
	}
	ADDQ(U32(8), op)
	ADDQ(U32(4*16), wp)
	DECQ(t)
	JNZ(LabelRef("tap"))

	// Channel half+j's plane, at the run's first pixel of this row.
	p := GP64()
	plane := byteStride("plane")
	MOVQ(half, p)
	IMULQ(plane, p)
	LEAQ(Mem{Base: p, Index: x, Scale: 4}, p)
	ADDQ(dstRowPtr, p)
	var dstRow, q Register
	if vertical {
		dstRow, q = byteStride("dstRow"), GP64()
	}
	for j := 0; j < directRunChannels; j++ {
		if vertical {
			MOVQ(p, q)
		}
		for v := range acc {
			if !vertical {
				VMOVUPS(acc[v][j], Mem{Base: p, Disp: 64 * v})
				continue
			}
			VMOVUPS(acc[v][j], Mem{Base: q})
			if v < len(acc)-1 {
				ADDQ(dstRow, q)
			}
		}
		if j < directRunChannels-1 {
			ADDQ(plane, p)
		}
	}
	ADDQ(U32(directRunChannels), half)
	CMPQ(half, U32(16))
	JLT(LabelRef("half"))

	ADDQ(U32(runBytes/4), x)
	end := Load(Param("runs"), GP64())
	IMUL3Q(U32(runBytes/4), end, end)
	CMPQ(x, end)
	JLT(LabelRef("run"))
	advance := 1
	if vertical {
		advance = directRunVectors
	}
	nextRow(dstRowPtr, srcRowPtr, rows, advance)
}

// nextRow ends a direct kernel's row loop (label "row"): the output and input rows advanced
// by advance rows (dstRow and srcRow apart), rows counted down, then the function's return
// (label "done").
func nextRow(dstRowPtr, srcRowPtr, rows Register, advance int) {
	for range advance {
		ADDQ(byteStride("dstRow"), dstRowPtr)
		ADDQ(byteStride("srcRow"), srcRowPtr)
	}
	DECQ(rows)
	JNZ(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// directAccumulators emits the direct kernels' 16 accumulators, one per output channel, started
// from the bias (nil: zeros), and the label "taps" after them, where the tap loop begins.
func directAccumulators() []VecVirtual {
	acc := make([]VecVirtual, 16)
	for j := range acc {
		acc[j] = ZMM()
	}
	b := Load(Param("bias"), GP64())
	TESTQ(b, b)
	JZ(LabelRef("zero"))
	for j := range acc {
		VBROADCASTSS(Mem{Base: b, Disp: 4 * j}, acc[j])
	}
	JMP(LabelRef("taps"))
	Label("zero")
	for j := range acc {
		VPXORD(acc[j], acc[j], acc[j])
	}
	Label("taps")
	return acc
}

// directConvPairsKernel emits directConvZ1Pairs(dst, plane, src, srcRow, offs, w, taps, bias,
// channels, pairs) (AVX-512F, DQ): directConvZ1 for rows of exactly 8 pixels stored back to back
// (dstRow = 8: digits_cnn's 8×8 images), two rows per zmm — row r's 8 input values in the low
// lanes and row r+1's in the high ones (vinsertf32x8) — so no lane is masked off, where one row
// per vector left half of every FMA unused.
func directConvPairsKernel() {
	asmgen.Kernel("directConvZ1Pairs", "func(dst *float32, plane int, src *float32, srcRow int, offs *int, w *float32, taps int, bias *float32, channels, pairs int)",
		"directConvZ1Pairs computes pairs × 2 rows of 8 pixels (stored back to back) of up to 16 output channels of a direct convolution with horizontal stride 1 (AVX-512F, DQ).")
	dst := Load(Param("dst"), GP64())
	srcRowPtr := Load(Param("src"), GP64())
	srcRow := byteStride("srcRow")
	pairs := Load(Param("pairs"), GP64())
	TESTQ(pairs, pairs)
	JZ(LabelRef("done"))
	Label("pair")
	acc := directAccumulators()
	next := GP64()
	LEAQ(Mem{Base: srcRowPtr, Index: srcRow, Scale: 1}, next)
	op := Load(Param("offs"), GP64())
	wp := Load(Param("w"), GP64())
	t := Load(Param("taps"), GP64())
	Label("tap")
	off := GP64()
	MOVQ(Mem{Base: op}, off)
	v := ZMM()
	VMOVUPS(Mem{Base: srcRowPtr, Index: off, Scale: 4}, v.AsY())
	VINSERTF32X8(U8(1), Mem{Base: next, Index: off, Scale: 4}, v, v)
	for j := range acc {
		VFMADD231PS_BCST(Mem{Base: wp, Disp: 4 * j}, v, acc[j])
	}
	ADDQ(U32(8), op)
	ADDQ(U32(64), wp)
	DECQ(t)
	JNZ(LabelRef("tap"))

	p := GP64()
	MOVQ(dst, p)
	plane := byteStride("plane")
	ch := Load(Param("channels"), GP64())
	for j := range acc {
		VMOVUPS(acc[j], Mem{Base: p})
		if j < len(acc)-1 {
			DECQ(ch)
			JZ(LabelRef("stored"))
			ADDQ(plane, p)
		}
	}
	Label("stored")
	ADDQ(U32(64), dst)
	LEAQ(Mem{Base: srcRowPtr, Index: srcRow, Scale: 2}, srcRowPtr)
	DECQ(pairs)
	JNZ(LabelRef("pair"))
	Label("done")
	VZEROUPPER()
	RET()
}

// rowKernel emits kernel1x16Row{Z,Y}(k, a, b, c, accumulate): c[0:16] (+)= Σ_p a[p]·b[16p:16p+16]
// — one row of A against one packed 16-column panel of B, the matrix-vector products of a
// classifier on one image, where the 6- and 12-row tiles would compute mostly padding rows. Four
// partial sums over p mod 4 keep the FMA units busy (one chain would wait on each FMA's
// latency); they are added at the end.
//
// With panels > 1 it emits kernel{panels}x1x16Row{Z,Y}(k, a, b, panel, c, accumulate): the same
// on that many panels at once, panel bytes apart, their results 16 floats apart in c. Such a
// product streams its weights from memory, and four streams keep four times the reads in
// flight of one. Each panel has its own four partial sums, added in the one-panel kernel's
// order, so a panel's result is bit-identical whichever kernel computes it.
func rowKernel(wide bool, panels int) {
	vecs, vecBytes, reg, isa, kind := 2, 32, YMM, "AVX2, FMA", "Y"
	if wide {
		vecs, vecBytes, reg, isa, kind = 1, 64, ZMM, "AVX-512F", "Z"
	}
	if panels == 1 {
		name := "kernel1x16Row" + kind
		asmgen.Kernel(name, "func(k int, a, b, c *float32, accumulate bool)", fmt.Sprintf("%s computes one row of C from a row of A and a 16-column packed panel of B (%s).", name, isa))
	} else {
		name := fmt.Sprintf("kernel%dx1x16Row%s", panels, kind)
		asmgen.Kernel(name, "func(k int, a, b *float32, panel int, c *float32, accumulate bool)", fmt.Sprintf("%s computes one row of C from a row of A and %d packed panels of 16 columns of B, panel bytes apart (%s).", name, panels, isa))
	}
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	at, bases := panelRows(b, panels)
	const unroll = 4
	acc := zeroedTile(panels*unroll, vecs, reg) // acc[q·unroll+u]: panel q, p mod 4 = u
	groups := GP64()
	MOVQ(k, groups)
	SHRQ(U8(2), groups)
	ANDQ(U32(unroll-1), k)
	TESTQ(groups, groups)
	JZ(LabelRef("tail"))
	Label("quad")
	for u := range unroll {
		av := reg()
		VBROADCASTSS(Mem{Base: a, Disp: 4 * u}, av)
		for q := range panels {
			for j := range vecs {
				VFMADD231PS(at(q, 64*u+vecBytes*j), av, acc[q*unroll+u][j])
			}
		}
	}
	ADDQ(U32(4*unroll), a)
	for _, r := range bases {
		ADDQ(U32(64*unroll), r)
	}
	DECQ(groups)
	JNZ(LabelRef("quad"))
	Label("tail")
	TESTQ(k, k)
	JZ(LabelRef("sum"))
	Label("single")
	av := reg()
	VBROADCASTSS(Mem{Base: a}, av)
	for q := range panels {
		for j := range vecs {
			VFMADD231PS(at(q, vecBytes*j), av, acc[q*unroll][j])
		}
	}
	ADDQ(U32(4), a)
	for _, r := range bases {
		ADDQ(U32(64), r)
	}
	DECQ(k)
	JNZ(LabelRef("single"))
	Label("sum")
	for q := range panels {
		sums := acc[q*unroll : (q+1)*unroll]
		for j := range vecs {
			VADDPS(sums[1][j], sums[0][j], sums[0][j])
			VADDPS(sums[3][j], sums[2][j], sums[2][j])
			VADDPS(sums[2][j], sums[0][j], sums[0][j])
		}
	}
	c := Load(Param("c"), GP64())
	accumulate := Load(Param("accumulate"), GP8())
	TESTB(accumulate, accumulate)
	JZ(LabelRef("store"))
	for q := range panels {
		for j := range vecs {
			VADDPS(Mem{Base: c, Disp: 64*q + vecBytes*j}, acc[q*unroll][j], acc[q*unroll][j])
		}
	}
	Label("store")
	for q := range panels {
		for j := range vecs {
			VMOVUPS(acc[q*unroll][j], Mem{Base: c, Disp: 64*q + vecBytes*j})
		}
	}
	VZEROUPPER()
	RET()
}

// panelRows returns where the row kernel reads panel q at byte offset disp, for panels (1 or 4)
// packed panels from b, panel bytes apart (the "panel" parameter), and the registers to advance
// along the panels' rows.
func panelRows(b Register, panels int) (at func(q, disp int) Mem, bases []Register) {
	if panels == 1 {
		return func(_, disp int) Mem { return Mem{Base: b, Disp: disp} }, []Register{b}
	}
	if panels != 4 {
		panic("rowKernel: 1 or 4 panels")
	}
	stride := Load(Param("panel"), GP64())
	b1, b3 := GP64(), GP64()
	LEAQ(Mem{Base: b, Index: stride, Scale: 1}, b1)
	LEAQ(Mem{Base: b1, Index: stride, Scale: 2}, b3)
	return func(q, disp int) Mem {
		switch q {
		case 0:
			return Mem{Base: b, Disp: disp}
		case 1:
			return Mem{Base: b1, Disp: disp}
		case 2:
			return Mem{Base: b, Index: stride, Scale: 2, Disp: disp}
		}
		return Mem{Base: b3, Disp: disp}
	}, []Register{b, b1, b3}
}

// loadTapArgs loads the parameters the two tap kernels share: n, dst, src, offs, w, taps.
func loadTapArgs() (n, dst, src, offs, w, taps Register) {
	n, dst, src = Load(Param("n"), GP64()), Load(Param("dst"), GP64()), Load(Param("src"), GP64())
	offs, w, taps = Load(Param("offs"), GP64()), Load(Param("w"), GP64()), Load(Param("taps"), GP64())
	return
}

// tapsKernel emits kernelTaps(n, dst, src, offs, w, taps, bias): dst[j] = bias +
// Σ_t w[t]·src[offs[t]+j] for j < n, n a multiple of 32 — a depthwise convolution over a padded
// plane, where tap t of the output grid is the plane shifted by offs[t]. Four ymm accumulators
// take 32 outputs through all taps; the taps' values are FMA memory operands.
func tapsKernel() {
	asmgen.Kernel("kernelTaps", "func(n int, dst, src *float32, offs *int, w *float32, taps int, bias float32)", "kernelTaps sets dst[j] = bias + Σ_t w[t]·src[offs[t]+j] for j < n, n a multiple of 32 (AVX2, FMA).")
	n, dst, src, offs, w, taps := loadTapArgs()
	b := YMM()
	VBROADCASTSS(NewParamAddr("bias", 48), b)
	SHRQ(U8(5), n)
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("block")
	acc := []VecVirtual{YMM(), YMM(), YMM(), YMM()}
	for _, a := range acc {
		VMOVAPS(b, a)
	}
	t, off := GP64(), GP64()
	XORQ(t, t)
	CMPQ(t, taps)
	JE(LabelRef("store"))
	Label("tap")
	MOVQ(Mem{Base: offs, Index: t, Scale: 8}, off)
	wt := YMM()
	VBROADCASTSS(Mem{Base: w, Index: t, Scale: 4}, wt)
	LEAQ(Mem{Base: src, Index: off, Scale: 4}, off)
	for i, a := range acc {
		VFMADD231PS(Mem{Base: off, Disp: 32 * i}, wt, a)
	}
	INCQ(t)
	CMPQ(t, taps)
	JNE(LabelRef("tap"))
	Label("store")
	for i, a := range acc {
		VMOVUPS(a, Mem{Base: dst, Disp: 32 * i})
	}
	ADDQ(U32(128), dst)
	ADDQ(U32(128), src)
	DECQ(n)
	JNZ(LabelRef("block"))
	Label("done")
	VZEROUPPER()
	RET()
}

// blockedTapsKernel emits blockedTaps{Y,Z}{step}(n, dst, src, offs, w, taps): for each of n
// output pixels p, dst[16p : 16p+16] = Σ_t w[16t : 16t+16] ⊙ src[offs[t]+16·step·p : …+16] — a
// depthwise convolution over 16 interleaved channels of a padded [rows][width][16] image, tap t
// at element offset offs[t], step the convolution's horizontal stride. Pixels go in groups of
// 8 (AVX-512, one zmm each) or 4 (AVX2, two ymm each): as many independent accumulator chains
// as the FMA units keep in flight, the taps' inputs read as FMA memory operands; the pixels left
// over go one at a time.
func blockedTapsKernel(wide bool, step int) {
	group, vecs, vecBytes, reg, isa, kind := 4, 2, 32, YMM, "AVX2, FMA", "Y"
	if wide {
		group, vecs, vecBytes, reg, isa, kind = 8, 1, 64, ZMM, "AVX-512F", "Z"
	}
	name := fmt.Sprintf("blockedTaps%s%d", kind, step)
	asmgen.Kernel(name, "func(n int, dst, src *float32, offs *int, w *float32, taps int)", fmt.Sprintf("%s computes n pixels of a 16-channel-interleaved depthwise convolution with horizontal stride %d (%s).", name, step, isa))
	n, dst, src, offs, w, taps := loadTapArgs()
	pixBytes := 64 * step // between consecutive output pixels' inputs

	// pixels emits one pass over the taps for count pixels and stores them.
	pixels := func(count int, tapLabel string) {
		acc := zeroedTile(count, vecs, reg)
		wv := make([]VecVirtual, vecs)
		for j := range wv {
			wv[j] = reg()
		}
		t, wp, at := GP64(), GP64(), GP64()
		XORQ(t, t)
		MOVQ(w, wp)
		Label(tapLabel)
		MOVQ(Mem{Base: offs, Index: t, Scale: 8}, at)
		LEAQ(Mem{Base: src, Index: at, Scale: 4}, at)
		for j := range wv {
			VMOVUPS(Mem{Base: wp, Disp: vecBytes * j}, wv[j])
		}
		for p := range count {
			for j := range wv {
				VFMADD231PS(Mem{Base: at, Disp: pixBytes*p + vecBytes*j}, wv[j], acc[p][j])
			}
		}
		ADDQ(U32(64), wp)
		INCQ(t)
		CMPQ(t, taps)
		JNE(LabelRef(tapLabel))
		for p := range count {
			for j := range wv {
				VMOVUPS(acc[p][j], Mem{Base: dst, Disp: 64*p + vecBytes*j})
			}
		}
		ADDQ(U32(64*count), dst)
		ADDQ(U32(pixBytes*count), src)
	}

	Label("group")
	CMPQ(n, U32(group))
	JL(LabelRef("single"))
	pixels(group, "groupTap")
	SUBQ(U32(group), n)
	JMP(LabelRef("group"))

	Label("single")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	pixels(1, "singleTap")
	DECQ(n)
	JMP(LabelRef("single"))

	Label("done")
	VZEROUPPER()
	RET()
}

// blockedWindowKernel emits blockedWindowZ{step}K{kw}(n, dst, src, w, kh, srcRow): blockedTapsZ{step}'s
// result for an undilated kh×kw window whose rows lie srcRow floats apart in src (tap offsets
// ky·srcRow + 16·kx), n a multiple of 8. blockedTapsZ reads every tap's input as an FMA memory
// operand, nine loads for eight FMAs, and ran at 42–46% of the FMA peak (Zen 5, one 512-bit
// load a cycle); here each input vector of a window row is loaded once and multiplied by every
// weight of the row that reads it, the row's kw weights held in registers: for 16 pixels of a
// 3×3 window at stride 1, 63 loads for 144 FMAs. Each pixel still sums its taps in
// blockedTapsZ's order (ky, then kx), so the results are the same bits. Pixels go 16 at a time
// (16 independent accumulators), then 8.
func blockedWindowKernel(step, kw int) {
	name := fmt.Sprintf("blockedWindowZ%dK%d", step, kw)
	asmgen.Kernel(name, "func(n int, dst, src, w *float32, kh, srcRow int)", fmt.Sprintf("%s computes n pixels (a multiple of 8) of a 16-channel-interleaved depthwise convolution with a %d-wide window and horizontal stride %d (AVX-512F).", name, kw, step))
	n := Load(Param("n"), GP64())
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	w := Load(Param("w"), GP64())
	kh := Load(Param("kh"), GP64())
	rowBytes := byteStride("srcRow")

	pixels := func(count int, rowLabel string) {
		acc := zeroedTile(count, 1, ZMM)
		wv := make([]VecVirtual, kw)
		for kx := range wv {
			wv[kx] = ZMM()
		}
		row, wp, rows := GP64(), GP64(), GP64()
		MOVQ(src, row)
		MOVQ(w, wp)
		MOVQ(kh, rows)
		Label(rowLabel)
		for kx := range wv {
			VMOVUPS(Mem{Base: wp, Disp: 64 * kx}, wv[kx])
		}
		// Input vector j of the row is tap kx of pixel (j−kx)/step: in order of j, each pixel
		// meets its taps in order of kx.
		for j := 0; j < step*(count-1)+kw; j++ {
			in := ZMM()
			VMOVUPS(Mem{Base: row, Disp: 64 * j}, in)
			for kx := range kw {
				if d := j - kx; d >= 0 && d%step == 0 && d/step < count {
					VFMADD231PS(in, wv[kx], acc[d/step][0])
				}
			}
		}
		ADDQ(rowBytes, row)
		ADDQ(U32(64*kw), wp)
		DECQ(rows)
		JNZ(LabelRef(rowLabel))
		for p := range count {
			VMOVUPS(acc[p][0], Mem{Base: dst, Disp: 64 * p})
		}
		ADDQ(U32(64*count), dst)
		ADDQ(U32(64*step*count), src)
	}

	Label("wide")
	CMPQ(n, U32(16))
	JL(LabelRef("narrow"))
	pixels(16, "wideRow")
	SUBQ(U32(16), n)
	JMP(LabelRef("wide"))

	Label("narrow")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	pixels(8, "narrowRow")
	SUBQ(U32(8), n)
	JMP(LabelRef("narrow"))

	Label("done")
	VZEROUPPER()
	RET()
}

// transposeKernel emits transpose{size}x{size}Bias<suffix>(blocks, dst, ldd, src, lds, bias[,
// res]): for each of blocks size×size squares, dst[c·ldd + r] = f(src[r·lds + c] + bias[c] [+
// res[c·ldd + r]]) (r, c < size), the squares running down src's rows (size·lds apart) and along
// dst's rows (size apart), res laid out as dst — the gather convolution's pixel-major product
// going into channel planes with its whole epilogue: bias, the residual of a ResNet block and
// ReLU (f; Go's max(x, 0), as vecmath's) while each column is in a register, instead of passes
// of their own over the planes. Size 8 is AVX (ymm: transpose8x8), 16 AVX-512F (zmm:
// transpose16x16), which issues 0.25 shuffles a value and one store per 16 values where the 8×8
// squares issue 0.375 and one per 8: the transposition, bound by its instructions rather than by
// memory (0.47 cycles a value with its destination in L2, Zen 5), ran 1.45× faster.
func transposeKernel(size int, residual, relu bool) {
	name := fmt.Sprintf("transpose%dx%dBias", size, size)
	sig, what, isa := "func(blocks int, dst *float32, ldd int, src *float32, lds int, bias *float32", "plus bias per destination row", "AVX"
	reg, transpose := YMM, transpose8x8
	if size == 16 {
		reg, transpose, isa = ZMM, transpose16x16, "AVX-512F"
	}
	if residual {
		name, sig, what = name+"Res", sig+", res *float32", what+" and res (laid out as dst)"
	}
	if relu {
		name, what = name+"Relu", what+", then max(x, 0)"
	}
	asmgen.Kernel(name, sig+")", fmt.Sprintf("%s writes blocks %dx%d squares of src, transposed %s, into dst (%s).", name, size, size, what, isa))
	n := Load(Param("blocks"), GP64())
	dst := Load(Param("dst"), GP64())
	ldd := byteStride("ldd")
	src := Load(Param("src"), GP64())
	lds := byteStride("lds")
	bias := Load(Param("bias"), GP64())
	var zero VecVirtual
	var resPtr Register
	if residual {
		resPtr = Load(Param("res"), GP64())
	}
	if relu {
		zero = reg()
		VXORPS(zero, zero, zero)
	}
	countedLoop(n, func() {
		row := GP64()
		MOVQ(src, row)
		r := make([]VecVirtual, size)
		for i := range r {
			r[i] = reg()
			VMOVUPS(Mem{Base: row}, r[i])
			if i < size-1 {
				ADDQ(lds, row)
			}
		}
		cols := transpose(r)
		out := GP64()
		MOVQ(dst, out)
		var resAt Register
		if residual {
			resAt = GP64()
			MOVQ(resPtr, resAt)
		}
		for c, v := range cols {
			bc := reg()
			VBROADCASTSS(Mem{Base: bias, Disp: 4 * c}, bc)
			VADDPS(bc, v, v)
			if residual {
				VADDPS(Mem{Base: resAt}, v, v)
			}
			if relu {
				// VMAXPS returns its first Go operand, v, when v is NaN or ±0; adding +0
				// then turns −0 into +0 and leaves every other value as it is, as Go's
				// max(x, 0) (vecmath's relu).
				VMAXPS(v, zero, v)
				VADDPS(zero, v, v)
			}
			VMOVUPS(v, Mem{Base: out})
			if c < size-1 {
				ADDQ(ldd, out)
				if residual {
					ADDQ(ldd, resAt)
				}
			}
		}
		for range size / 8 {
			LEAQ(Mem{Base: src, Index: lds, Scale: 8}, src)
		}
		ADDQ(U32(4*size), dst)
		if residual {
			ADDQ(U32(4*size), resPtr)
		}
	})
}

// transpose16x16 emits the register transpose of the 16×16 square whose rows are r (zmm): it
// returns the square's 16 columns. Unpacks pair the rows' values and shuffles gather four rows'
// columns in each 128-bit lane (u[4g+c], lane L: column 4L+c of rows 4g…4g+3); two rounds of
// lane shuffles then bring column 4L+c's four lanes together (g = 0…3 in order).
func transpose16x16(r []VecVirtual) []VecVirtual {
	t := make([]VecVirtual, 16)
	for i := 0; i < 16; i += 2 {
		t[i], t[i+1] = ZMM(), ZMM()
		VUNPCKLPS(r[i+1], r[i], t[i])   // per lane: r_i0 r_(i+1)0 r_i1 r_(i+1)1
		VUNPCKHPS(r[i+1], r[i], t[i+1]) // columns 2, 3 of the lane
	}
	u := make([]VecVirtual, 16)
	for g := 0; g < 4; g++ {
		for j := 0; j < 2; j++ {
			a, b := t[4*g+j], t[4*g+2+j]
			lo, hi := ZMM(), ZMM()
			VSHUFPS(U8(0x44), b, a, lo) // column 2j of the lane, rows 4g…4g+3
			VSHUFPS(U8(0xEE), b, a, hi) // column 2j+1
			u[4*g+2*j], u[4*g+2*j+1] = lo, hi
		}
	}
	cols := make([]VecVirtual, 16)
	for c := 0; c < 4; c++ {
		// v[h][k]: lanes (L = k, k+2) of groups 2h and 2h+1, for k = 0 (imm 0x88) and 1 (0xDD).
		var v [2][2]VecVirtual
		for h := 0; h < 2; h++ {
			for k, imm := range []uint8{0x88, 0xDD} {
				v[h][k] = ZMM()
				VSHUFF32X4(U8(imm), u[4*(2*h+1)+c], u[4*(2*h)+c], v[h][k])
			}
		}
		for k := 0; k < 2; k++ { // L = k and L = k+2
			for m, imm := range []uint8{0x88, 0xDD} {
				L := k + 2*m
				cols[4*L+c] = ZMM()
				VSHUFF32X4(U8(imm), v[1][k], v[0][k], cols[4*L+c])
			}
		}
	}
	return cols
}

// transpose8x8 emits the register transpose of the 8×8 square whose rows are r: it returns the
// square's eight columns. Unpacks pair the rows' values, shuffles gather four rows' columns per
// lane, and lane permutes join the two halves.
func transpose8x8(r []VecVirtual) []VecVirtual {
	t := make([]VecVirtual, 8)
	for i := 0; i < 8; i += 2 {
		t[i], t[i+1] = YMM(), YMM()
		VUNPCKLPS(r[i+1], r[i], t[i])   // r_i0 r_(i+1)0 r_i1 r_(i+1)1 | the same for 4, 5
		VUNPCKHPS(r[i+1], r[i], t[i+1]) // columns 2, 3 | 6, 7
	}
	sq := make([]VecVirtual, 8)
	for h := 0; h < 2; h++ { // rows 0-3, then 4-7
		a, b := t[4*h:4*h+2], t[4*h+2:4*h+4]
		for j := 0; j < 2; j++ {
			lo, hi := YMM(), YMM()
			VSHUFPS(U8(0x44), b[j], a[j], lo) // column 2j (and 2j+4) of four rows
			VSHUFPS(U8(0xEE), b[j], a[j], hi) // column 2j+1 (and 2j+5)
			sq[4*h+2*j], sq[4*h+2*j+1] = lo, hi
		}
	}
	cols := make([]VecVirtual, 8)
	for c := range cols {
		cols[c] = YMM()
		imm := U8(0x20) // low lanes: columns 0-3
		if c >= 4 {
			imm = U8(0x31) // high lanes: columns 4-7
		}
		VPERM2F128(imm, sq[4+c%4], sq[c%4], cols[c])
	}
	return cols
}

// loadSquare loads the eight rows of an 8×8 square into new ymm registers, row i from at(i),
// each load followed by step (pointer arithmetic; none when nil).
func loadSquare(at func(i int) Mem, step func()) []VecVirtual {
	r := make([]VecVirtual, 8)
	for i := range r {
		r[i] = YMM()
		VMOVUPS(at(i), r[i])
		if step != nil {
			step()
		}
	}
	return r
}

// interleaveKernel emits interleave16(groups, dst, src, lds): 16 channel rows of src (lds floats
// apart) are written pixel by pixel, dst[16p+c] = src[c·lds+p], eight pixels per group — the
// planes of a channel block going into the depthwise convolution's interleaved band.
func interleaveKernel() {
	asmgen.Kernel("interleave16", "func(groups int, dst, src *float32, lds int)", "interleave16 writes groups of 8 pixels of 16 channel rows (lds apart) channel-interleaved into dst (AVX).")
	n := Load(Param("groups"), GP64())
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	lds := byteStride("lds")
	countedLoop(n, func() {
		row := GP64()
		MOVQ(src, row)
		for half := 0; half < 2; half++ { // channels 0-7, then 8-15
			r := loadSquare(func(int) Mem { return Mem{Base: row} }, func() { ADDQ(lds, row) })
			for p, v := range transpose8x8(r) {
				VMOVUPS(v, Mem{Base: dst, Disp: 64*p + 32*half})
			}
		}
		ADDQ(U32(32), src)
		ADDQ(U32(512), dst)
	})
}

// splitKernel emits split16Bias(groups, dst, ldd, src, bias): the reverse of interleave16 plus a
// bias per channel, dst[c·ldd+p] = src[16p+c] + bias[c], eight pixels per group — the depthwise
// convolution's interleaved output going back into channel planes.
func splitKernel() {
	asmgen.Kernel("split16Bias", "func(groups int, dst *float32, ldd int, src, bias *float32)", "split16Bias writes groups of 8 channel-interleaved pixels of src into 16 channel rows of dst (ldd apart), plus bias (AVX).")
	n := Load(Param("groups"), GP64())
	dst := Load(Param("dst"), GP64())
	ldd := byteStride("ldd")
	src := Load(Param("src"), GP64())
	bias := Load(Param("bias"), GP64())
	countedLoop(n, func() {
		out := GP64()
		MOVQ(dst, out)
		for half := 0; half < 2; half++ { // channels 0-7, then 8-15
			r := loadSquare(func(p int) Mem { return Mem{Base: src, Disp: 64*p + 32*half} }, nil)
			for c, v := range transpose8x8(r) {
				bc := YMM()
				VBROADCASTSS(Mem{Base: bias, Disp: 4 * (8*half + c)}, bc)
				VADDPS(bc, v, v)
				VMOVUPS(v, Mem{Base: out})
				ADDQ(ldd, out)
			}
		}
		ADDQ(U32(512), src)
		ADDQ(U32(32), dst)
	})
}

// pointwiseBlockedKernel emits pointwiseBlockedZ(n, dst, x, lds, k, w, bias): for each of n
// pixels p, dst[16p:16p+16] = bias + Σ_q x[q·lds+p]·w[16q:16q+16] — a 1×1 convolution's 16
// output channels written interleaved pixel by pixel, as a blocked depthwise convolution reads
// them, so that the planes are never written out and interleaved again. Each pixel's 16 lanes
// start from bias and take the k products in order, one FMA each, whatever group it falls in:
// the result does not depend on n or on where the pixel sits. The input values are FMA
// broadcast operands; one weight vector a step serves 16 (then 8, then 1) pixels.
func pointwiseBlockedKernel() {
	asmgen.Kernel("pointwiseBlockedZ", "func(n int, dst, x *float32, lds, k int, w, bias *float32)",
		"pointwiseBlockedZ computes n pixels of 16 output channels of a 1×1 convolution, interleaved (AVX-512F).")
	n := Load(Param("n"), GP64())
	dst := Load(Param("dst"), GP64())
	x := Load(Param("x"), GP64())
	lds := byteStride("lds")
	k := Load(Param("k"), GP64())
	w := Load(Param("w"), GP64())
	biasPtr := Load(Param("bias"), GP64())
	bias := ZMM()
	VMOVUPS(Mem{Base: biasPtr}, bias)

	pixels := func(count int, stepLabel string) {
		acc := make([]VecVirtual, count)
		for i := range acc {
			acc[i] = ZMM()
			VMOVAPS(bias, acc[i])
		}
		xp, wp, t, wv := GP64(), GP64(), GP64(), ZMM()
		MOVQ(x, xp)
		MOVQ(w, wp)
		MOVQ(k, t)
		Label(stepLabel)
		VMOVUPS(Mem{Base: wp}, wv)
		for i := range acc {
			VFMADD231PS_BCST(Mem{Base: xp, Disp: 4 * i}, wv, acc[i])
		}
		ADDQ(lds, xp)
		ADDQ(U32(64), wp)
		DECQ(t)
		JNZ(LabelRef(stepLabel))
		for i := range acc {
			VMOVUPS(acc[i], Mem{Base: dst, Disp: 64 * i})
		}
		ADDQ(U32(64*count), dst)
		ADDQ(U32(4*count), x)
		SUBQ(U32(count), n)
	}
	for _, count := range []int{16, 8} {
		label := fmt.Sprintf("group%d", count)
		Label(label)
		CMPQ(n, U32(count))
		JL(LabelRef(fmt.Sprintf("after%d", count)))
		pixels(count, fmt.Sprintf("step%d", count))
		JMP(LabelRef(label))
		Label(fmt.Sprintf("after%d", count))
	}
	Label("single")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	pixels(1, "step1")
	JMP(LabelRef("single"))
	Label("done")
	VZEROUPPER()
	RET()
}

// byteStride loads the int parameter name, a row stride in float32 elements, as bytes.
func byteStride(name string) Register {
	r := Load(Param(name), GP64())
	SHLQ(U8(2), r)
	return r
}

// countedLoop emits a loop that runs body n times (n a register, counted down; none when it is
// zero) and then the function's return, as the streaming kernels below end.
func countedLoop(n Register, body func()) {
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	body()
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// deinterleaveKernel emits deinterleave2(blocks, even, odd, src): for each block of 16 values
// of src, the 8 at even positions go to even and the 8 at odd positions to odd — a strided
// depthwise convolution's padded row split into its two column phases.
func deinterleaveKernel() {
	asmgen.Kernel("deinterleave2", "func(blocks int, even, odd, src *float32)", "deinterleave2 splits blocks runs of 16 values of src into their even and odd positions (AVX2).")
	n := Load(Param("blocks"), GP64())
	even := Load(Param("even"), GP64())
	odd := Load(Param("odd"), GP64())
	src := Load(Param("src"), GP64())
	countedLoop(n, func() {
		a, b, e, o := YMM(), YMM(), YMM(), YMM()
		VMOVUPS(Mem{Base: src}, a)
		VMOVUPS(Mem{Base: src, Disp: 32}, b)
		VSHUFPS(U8(0x88), b, a, e) // per 128-bit lane: a0 a2 b0 b2
		VSHUFPS(U8(0xDD), b, a, o) // a1 a3 b1 b3
		VPERMPD(U8(0xD8), e, e)    // 64-bit quarters 0 2 1 3: the lanes back in order
		VPERMPD(U8(0xD8), o, o)
		VMOVUPS(e, Mem{Base: even})
		VMOVUPS(o, Mem{Base: odd})
		ADDQ(U32(64), src)
		ADDQ(U32(32), even)
		ADDQ(U32(32), odd)
	})
}

// prefetchTile emits prefetches of a C tile's rows (rowBytes each, ldc floats apart, from the
// c parameter): one per cache line, and one for the row's last value when the row straddles a
// further line. The rows are usually in different pages and cold; fetching them at the start
// overlaps the misses with the k loop.
func prefetchTile(rows, rowBytes int) {
	pc := Load(Param("c"), GP64())
	pld := byteStride("ldc")
	for i := 0; i < rows; i++ {
		for d := 0; d < rowBytes; d += 64 {
			PREFETCHT0(Mem{Base: pc, Disp: d})
		}
		PREFETCHT0(Mem{Base: pc, Disp: rowBytes - 4})
		if i < rows-1 {
			ADDQ(pld, pc)
		}
	}
}

// zeroedZMMTile allocates a wide kernel's accumulators, rows × vecs zmm registers, zeroed.
func zeroedZMMTile(rows, vecs int) [][]VecVirtual { return zeroedTile(rows, vecs, ZMM) }

// zeroedTile is zeroedZMMTile for the registers reg allocates.
func zeroedTile(rows, vecs int, reg func() VecVirtual) [][]VecVirtual {
	acc := make([][]VecVirtual, rows)
	for i := range acc {
		acc[i] = make([]VecVirtual, vecs)
		for j := range acc[i] {
			acc[i][j] = reg()
			VXORPS(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	return acc
}

// writeZMMTile emits a wide kernel's "write" label: the tile held in acc (rows of zmm
// registers, 64 bytes of C each, rows ldc floats apart) is added to C when the accumulate
// parameter is set and stored over it otherwise.
func writeZMMTile(acc [][]VecVirtual) { writeTile(acc, 64) }

// writeTile is writeZMMTile for vector registers of vecBytes bytes.
func writeTile(acc [][]VecVirtual, vecBytes int) {
	Label("write")
	c := Mem{Base: Load(Param("c"), GP64())}
	ldc := byteStride("ldc")
	accumulate := Load(Param("accumulate"), GP8())
	TESTB(accumulate, accumulate)
	JZ(LabelRef("store"))
	for _, add := range []bool{true, false} {
		if add {
			Comment("C += acc")
		} else {
			Label("store")
			Comment("C = acc")
		}
		for i, row := range acc {
			for j, v := range row {
				if add {
					VADDPS(c.Offset(vecBytes*j), v, v)
				}
				VMOVUPS(v, c.Offset(vecBytes*j))
			}
			if i < len(acc)-1 {
				ADDQ(ldc, c.Base)
			}
		}
		VZEROUPPER()
		RET()
	}
}

// addVectors emits addRow(dst, src *float32, n int), dst[i] += src[i], or with scalar
// addScalar(dst *float32, n int, v float32), dst[i] += v: the epilogue's bias, 32 values a
// round, then 8, then one at a time. scaleVectors emits mulScalar, dst[i] *= v, the same way.
func addVectors(scalar bool) { vectorOp(scalar, false) }

// scaleVectors emits mulScalar(dst *float32, n int, v float32), dst[i] *= v: alpha applied
// where B is packed (attention's scaled Kᵀ), which a Go loop did one value at a time.
func scaleVectors() { vectorOp(true, true) }

// vectorOp emits addRow, addScalar or (mul) mulScalar.
func vectorOp(scalar, mul bool) {
	switch {
	case mul:
		TEXT("mulScalar", NOSPLIT, "func(dst *float32, n int, v float32)")
		Pragma("noescape")
		Doc("mulScalar multiplies dst[0:n] by v (AVX).")
	case scalar:
		TEXT("addScalar", NOSPLIT, "func(dst *float32, n int, v float32)")
		Pragma("noescape") // keeps no pointer past the call, so callers' edge tiles stay on the stack
		Doc("addScalar adds v to dst[0:n] (AVX).")
	default:
		TEXT("addRow", NOSPLIT, "func(dst, src *float32, n int)")
		Pragma("noescape") // keeps no pointer past the call, so callers' edge tiles stay on the stack
		Doc("addRow adds src[0:n] to dst[0:n] (AVX).")
	}
	dst := Load(Param("dst"), GP64())
	n := Load(Param("n"), GP64())
	var src Register
	var v VecVirtual
	if scalar {
		v = YMM()
		VBROADCASTSS(NewParamAddr("v", 16), v)
	} else {
		src = Load(Param("src"), GP64())
	}
	// add loads into x the sum of dst and the value to add (src's or v) at byte offset off.
	add := func(width int, off int, x VecVirtual) {
		if mul {
			if width == 1 {
				VMULSS(Mem{Base: dst, Disp: off}, v.AsX(), x)
			} else {
				VMULPS(Mem{Base: dst, Disp: off}, v, x)
			}
			return
		}
		if scalar {
			if width == 1 {
				VADDSS(Mem{Base: dst, Disp: off}, v.AsX(), x)
			} else {
				VADDPS(Mem{Base: dst, Disp: off}, v, x)
			}
			return
		}
		if width == 1 {
			VMOVSS(Mem{Base: src, Disp: off}, x)
			VADDSS(Mem{Base: dst, Disp: off}, x, x)
		} else {
			VMOVUPS(Mem{Base: src, Disp: off}, x)
			VADDPS(Mem{Base: dst, Disp: off}, x, x)
		}
	}
	advance := func(values int) {
		ADDQ(U32(4*values), dst)
		if !scalar {
			ADDQ(U32(4*values), src)
		}
		SUBQ(U32(values), n)
	}
	xs := [4]VecVirtual{YMM(), YMM(), YMM(), YMM()}
	Label("by32")
	CMPQ(n, U32(32))
	JL(LabelRef("by8"))
	for i, x := range xs {
		add(8, 32*i, x)
	}
	for i, x := range xs {
		VMOVUPS(x, Mem{Base: dst, Disp: 32 * i})
	}
	advance(32)
	JMP(LabelRef("by32"))
	Label("by8")
	CMPQ(n, U32(8))
	JL(LabelRef("by1"))
	add(8, 0, xs[0])
	VMOVUPS(xs[0], Mem{Base: dst})
	advance(8)
	JMP(LabelRef("by8"))
	Label("by1")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	x := XMM()
	add(1, 0, x)
	VMOVSS(x, Mem{Base: dst})
	advance(1)
	JMP(LabelRef("by1"))
	Label("done")
	VZEROUPPER()
	RET()
}

func fmaPeak(wide bool) {
	// 16 chains: the most a core needs is latency × FMA pipes (4 × 2 on Zen 4/5, Ice Lake and
	// Sapphire Rapids; Skylake-X's 4-cycle, 2-pipe zmm FMA too), so 16 leave every pipe busy with
	// room to spare; 16 accumulators + 2 sources fit both the 16 ymm and the 32 zmm registers.
	const chains = 16
	name, reg, lanes, isa := "fmaPeak", YMM, 8, "ymm (AVX2, FMA)"
	if wide {
		name, reg, lanes, isa = "fmaPeak512", ZMM, 16, "zmm (AVX-512F)"
	}
	TEXT(name, NOSPLIT, "func(iters int)")
	Doc(fmt.Sprintf("%s runs iters rounds of %d independent VFMADD231PS on %s registers (%d flops a round).", name, chains, isa, 2*chains*lanes))
	n := Load(Param("iters"), GP64())
	x, y := reg(), reg()
	VXORPS(x, x, x)
	VXORPS(y, y, y)
	var acc [chains]VecVirtual
	for i := range acc {
		acc[i] = reg()
		VXORPS(acc[i], acc[i], acc[i])
	}
	Label("loop")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	for i := range acc {
		VFMADD231PS(x, y, acc[i])
	}
	DECQ(n)
	JMP(LabelRef("loop"))
	Label("done")
	// Keep the chains live so no assembler pass could treat them as dead.
	for i := 1; i < chains; i++ {
		VADDPS(acc[i], acc[0], acc[0])
	}
	VZEROUPPER()
	RET()
}

// winogradInputKernel emits winogradInputZ(vectors, channels, src, pw, plane, dst, ldx, ldc)
// (AVX-512F), WinogradInput's transform over vectors of 16 tiles of one tile row: each of the
// four patch rows is loaded as 32 and 32 values two columns on, and vpermt2ps splits them into
// the even and odd columns, so that each of a tile's four columns is one vector across the 16
// tiles (the rows times B); the rows are then combined (Bᵀ times that) into the 16 positions,
// stored ldx floats apart, channel after channel (ldc apart in dst, plane apart in src).
func winogradInputKernel() {
	asmgen.Kernel("winogradInputZ", "func(vectors, channels int, src *float32, pw, plane int, dst *float32, ldx, ldc int)",
		"winogradInputZ writes the Winograd F(2×2, 3×3) input transform of vectors of 16 tiles of one tile row, channel by channel (AVX-512F).")
	idxEven, idxOdd := winogradIndex("winogradEven", func(i int) int { return 2 * i }), winogradIndex("winogradOdd", func(i int) int { return 2*i + 1 })
	channels := Load(Param("channels"), GP64())
	srcCh := Load(Param("src"), GP64())
	dstCh := Load(Param("dst"), GP64())
	pw := byteStride("pw")
	ldx := byteStride("ldx")
	ldx3 := GP64()
	LEAQ(Mem{Base: ldx, Index: ldx, Scale: 2}, ldx3)
	TESTQ(channels, channels)
	JZ(LabelRef("done"))
	Label("channel")
	s, d := GP64(), GP64()
	MOVQ(srcCh, s)
	MOVQ(dstCh, d)
	n := Load(Param("vectors"), GP64())
	Label("vector")
	var c [4][4]VecVirtual // c[k][j]: patch row k times B, column j
	row3 := GP64()
	LEAQ(Mem{Base: s, Index: pw, Scale: 2}, row3)
	ADDQ(pw, row3)
	for k, row := range []Mem{{Base: s}, {Base: s, Index: pw, Scale: 1}, {Base: s, Index: pw, Scale: 2}, {Base: row3}} {
		even, odd, even1, odd1 := ZMM(), ZMM(), ZMM(), ZMM() // columns 2t, 2t+1, 2t+2, 2t+3
		for _, v := range []struct {
			dst  VecVirtual
			idx  VecVirtual
			disp int
		}{{even, idxEven, 0}, {odd, idxOdd, 0}, {even1, idxEven, 8}, {odd1, idxOdd, 8}} {
			VMOVUPS(row.Offset(v.disp), v.dst)
			VPERMT2PS(row.Offset(v.disp+64), v.idx, v.dst)
		}
		for j := range c[k] {
			c[k][j] = ZMM()
		}
		VSUBPS(even1, even, c[k][0])
		VADDPS(even1, odd, c[k][1])
		VSUBPS(odd, even1, c[k][2])
		VSUBPS(odd1, odd, c[k][3])
	}
	p := GP64()
	MOVQ(d, p)
	for xi := 0; xi < 16; xi++ {
		i, j := xi/4, xi%4
		v := ZMM()
		switch i {
		case 0:
			VSUBPS(c[2][j], c[0][j], v)
		case 1:
			VADDPS(c[2][j], c[1][j], v)
		case 2:
			VSUBPS(c[1][j], c[2][j], v)
		case 3:
			VSUBPS(c[3][j], c[1][j], v)
		}
		switch xi % 3 {
		case 0:
			VMOVUPS(v, Mem{Base: p})
		case 1:
			VMOVUPS(v, Mem{Base: p, Index: ldx, Scale: 1})
		case 2:
			VMOVUPS(v, Mem{Base: p, Index: ldx, Scale: 2})
			ADDQ(ldx3, p)
		}
	}
	ADDQ(U32(128), s)
	ADDQ(U32(64), d)
	DECQ(n)
	JNZ(LabelRef("vector"))
	ADDQ(byteStride("plane"), srcCh)
	ADDQ(byteStride("ldc"), dstCh)
	DECQ(channels)
	JNZ(LabelRef("channel"))
	Label("done")
	VZEROUPPER()
	RET()
}

// winogradIndex loads a vpermt2ps index vector whose lane i is at(i), kept as the read-only
// table name.
func winogradIndex(name string, at func(i int) int) VecVirtual {
	table := asmgen.ReadOnly(name, func() {
		for i := 0; i < 16; i++ {
			DATA(4*i, U32(uint32(at(i))))
		}
	})
	idx := ZMM()
	VMOVUPS(table, idx)
	return idx
}

// winogradOutputKernel emits winogradOutputZ[Res][Relu](vectors, channels, m, ldx, ldc, out,
// ldo, plane, res, bias, rows, lo, hi) (AVX-512F), WinogradOutput's transform over vectors of 16
// tiles of one tile row: the 16 positions (ldx floats apart) combined into the tiles' 2×2
// outputs, plus the channel's bias (bias nil: none), each output row's two vectors of 16 tiles
// interleaved by vpermt2ps into 32 consecutive pixels, plus the residual (res, laid out like
// out) and Relu, stored to rows (1 or 2) rows ldo apart. The last vector of a row is loaded and
// stored under the masks lo and hi of its two halves.
func winogradOutputKernel(residual, relu bool) {
	name := "winogradOutputZ"
	if residual {
		name += "Res"
	}
	if relu {
		name += "Relu"
	}
	asmgen.Kernel(name, "func(vectors, channels int, m *float32, ldx, ldc int, out *float32, ldo, plane int, res, bias *float32, rows int, lo, hi uint16)",
		fmt.Sprintf("%s writes the Winograd F(2×2, 3×3) output transform of vectors of 16 tiles of one tile row, channel by channel (AVX-512F).", name))
	idxLo := winogradIndex("winogradInterleaveLo", func(i int) int { return i/2 + 16*(i%2) })
	idxHi := winogradIndex("winogradInterleaveHi", func(i int) int { return 8 + i/2 + 16*(i%2) })
	kLo, kHi := K(), K()
	KMOVW(Load(Param("lo"), GP16()).(GPVirtual).As32(), kLo)
	KMOVW(Load(Param("hi"), GP16()).(GPVirtual).As32(), kHi)
	var zero VecVirtual
	if relu {
		zero = ZMM()
		VPXORD(zero, zero, zero)
	}
	channels := Load(Param("channels"), GP64())
	mCh := Load(Param("m"), GP64())
	outCh := Load(Param("out"), GP64())
	var resCh Register
	if residual {
		resCh = Load(Param("res"), GP64())
	}
	bp := Load(Param("bias"), GP64())
	ldx := byteStride("ldx")
	ldx3 := GP64()
	LEAQ(Mem{Base: ldx, Index: ldx, Scale: 2}, ldx3)
	ldo := byteStride("ldo")
	TESTQ(channels, channels)
	JZ(LabelRef("done"))
	Label("channel")
	bv := ZMM()
	VXORPS(bv, bv, bv)
	TESTQ(bp, bp)
	JZ(LabelRef("biased"))
	VBROADCASTSS(Mem{Base: bp}, bv)
	ADDQ(U32(4), bp)
	Label("biased")
	mp, op := GP64(), GP64()
	MOVQ(mCh, mp)
	MOVQ(outCh, op)
	var rp Register
	if residual {
		rp = GP64()
		MOVQ(resCh, rp)
	}
	n := Load(Param("vectors"), GP64())
	DECQ(n)
	JZ(LabelRef("last"))
	Label("whole")
	winogradOutputVector(mp, op, rp, ldx, ldx3, ldo, bv, idxLo, idxHi, zero, nil, nil, "whole")
	DECQ(n)
	JNZ(LabelRef("whole"))
	Label("last")
	winogradOutputVector(mp, op, rp, ldx, ldx3, ldo, bv, idxLo, idxHi, zero, kLo, kHi, "last")
	ADDQ(byteStride("ldc"), mCh)
	plane := byteStride("plane")
	ADDQ(plane, outCh)
	if residual {
		ADDQ(plane, resCh)
	}
	DECQ(channels)
	JNZ(LabelRef("channel"))
	Label("done")
	VZEROUPPER()
	RET()
}

// winogradOutputVector emits one vector of winogradOutputKernel's tiles and advances mp, op and
// rp (nil without a residual) past it; kLo and kHi nil store whole vectors. zero is nil without
// Relu. label names the vector's branch past its second row.
func winogradOutputVector(mp, op, rp, ldx, ldx3, ldo Register, bv, idxLo, idxHi, zero VecVirtual, kLo, kHi Op, label string) {
	var m [16]VecVirtual
	p := GP64()
	MOVQ(mp, p)
	for xi := range m {
		m[xi] = ZMM()
		switch xi % 3 {
		case 0:
			VMOVUPS(Mem{Base: p}, m[xi])
		case 1:
			VMOVUPS(Mem{Base: p, Index: ldx, Scale: 1}, m[xi])
		case 2:
			VMOVUPS(Mem{Base: p, Index: ldx, Scale: 2}, m[xi])
			ADDQ(ldx3, p)
		}
	}
	var s [2][4]VecVirtual // Aᵀ times the positions
	for j := 0; j < 4; j++ {
		s[0][j], s[1][j] = ZMM(), ZMM()
		VADDPS(m[4+j], m[j], s[0][j])
		VADDPS(m[8+j], s[0][j], s[0][j])
		VSUBPS(m[8+j], m[4+j], s[1][j])
		VSUBPS(m[12+j], s[1][j], s[1][j])
	}
	for y := 0; y < 2; y++ {
		if y == 1 {
			rows := Load(Param("rows"), GP64())
			CMPQ(rows, U8(2))
			JNE(LabelRef(label + "_row1"))
		}
		even, odd := ZMM(), ZMM() // the tiles' left and right pixels
		VADDPS(s[y][1], s[y][0], even)
		VADDPS(s[y][2], even, even)
		VSUBPS(s[y][2], s[y][1], odd)
		VSUBPS(s[y][3], odd, odd)
		VADDPS(bv, even, even)
		VADDPS(bv, odd, odd)
		lo := ZMM()
		VMOVAPS(even, lo)
		VPERMT2PS(odd, idxLo, lo)
		VPERMT2PS(odd, idxHi, even)
		for h, v := range []VecVirtual{lo, even} {
			at := Mem{Base: op, Disp: 64 * h}
			if y == 1 {
				at = Mem{Base: op, Index: ldo, Scale: 1, Disp: 64 * h}
			}
			k := []Op{kLo, kHi}[h]
			if rp != nil {
				r := at
				r.Base = rp
				if k == nil {
					VADDPS(r, v, v)
				} else {
					t := ZMM()
					VMOVUPS_Z(r, k, t)
					VADDPS(t, v, v)
				}
			}
			if zero != nil {
				// As the direct kernel's Relu: VMAXPS returns v where v is NaN (a NaN must
				// reach the output, not turn into 0), and adding +0 turns −0 into +0.
				VMAXPS(v, zero, v)
				VADDPS(zero, v, v)
			}
			if k == nil {
				VMOVUPS(v, at)
			} else {
				VMOVUPS(v, k, at)
			}
		}
		if y == 1 {
			Label(label + "_row1")
		}
	}
	ADDQ(U32(64), mp)
	ADDQ(U32(128), op)
	if rp != nil {
		ADDQ(U32(128), rp)
	}
}
