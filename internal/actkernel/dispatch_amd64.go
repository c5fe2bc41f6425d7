//go:build amd64 && !noasm

package actkernel

import (
	"unsafe"

	"github.com/actswap/actswap/internal/actkernel/coeffs"
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/vecmath"
)

// asmPlan splits n elements into a pure-Go head (to align dst to 64 bytes for streaming
// stores), whole blocks of lanes (8 or 16) for the assembly, and a pure-Go tail.
func asmPlan(x simd.Level, dst []float32, n, lanes int, stream bool) (head, body int) {
	if !x.Asm() {
		return 0, 0
	}
	if stream {
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(dst)))
		head = min(int((64-addr%64)%64)/4, n)
	}
	return head, (n - head) / lanes * lanes
}

func crreluF32(x simd.Level, dst, src []float32, eps float32, stream bool) {
	dst = dst[:len(src)]
	h, b := asmPlan(x, dst, len(src), 8, stream)
	crreluGo(dst[:h], src[:h], eps)
	if b > 0 {
		crreluAVX2(dst[h:h+b], src[h:h+b], eps, stream)
	}
	crreluGo(dst[h+b:], src[h+b:], eps)
}

func pwluF32(x simd.Level, dst, src []float32, c *pwluChannel, stream bool) {
	dst = dst[:len(src)]
	if x.Wide() && c.ext != nil {
		pwluExtF32(dst, src, nil, c.ext, stream)
		return
	}
	if x.Wide() && c.n <= 64 {
		h, b := asmPlan(x, dst, len(src), 16, stream)
		pwluGo(dst[:h], src[:h], c)
		if b > 0 {
			d, s := dst[h:h+b], src[h:h+b]
			switch len(c.es) {
			case 16:
				pwluPerm16AVX512(d, s, &c.consts, c.es, c.ds, stream)
			case 32:
				pwluPerm32AVX512(d, s, &c.consts, c.es, c.ds, stream)
			default:
				pwluPerm64AVX512(d, s, &c.consts, c.es, c.ds, stream)
			}
		}
		pwluGo(dst[h+b:], src[h+b:], c)
		return
	}
	h, b := asmPlan(x, dst, len(src), 8, stream)
	pwluGo(dst[:h], src[:h], c)
	if b > 0 {
		d, s := dst[h:h+b], src[h:h+b]
		switch {
		case c.n <= 8:
			pwluPerm8AVX2(d, s, &c.wide, c.es, c.ds, stream)
		case c.n <= 16:
			pwluPerm16AVX2(d, s, &c.wide, c.es, c.ds, stream)
		case c.n <= 32:
			pwluPerm32AVX2(d, s, &c.wide, c.es, c.ds, stream)
		case c.n <= 64:
			pwluPerm64AVX2(d, s, &c.wide, c.es, c.ds, stream)
		default:
			pwluGatherAVX2(d, s, &c.wide, c.es, c.ds, stream)
		}
	}
	pwluGo(dst[h+b:], src[h+b:], c)
}

// pwluExtF32 runs the extended-table kernel (pwluExtTable) over src, with element i's offset
// from offs[i] where offs is not nil (shifted channels) and t's own otherwise. The elements
// before an aligned block (streaming) and after the last whole block go through the same
// kernel in a block of scratch, so that every element gets the same bits wherever it sits.
func pwluExtF32(dst, src, offs []float32, t *[coeffs.ExtLen]float32, stream bool) {
	h, b := asmPlan(simd.AVX512, dst, len(src), 16, stream)
	pwluExtScratch(dst[:h], src[:h], offs, t)
	if b > 0 {
		var o []float32
		if offs != nil {
			o = offs[h : h+b]
		}
		pwluExtBlocks(dst[h:h+b], src[h:h+b], o, t, stream)
	}
	if offs != nil {
		offs = offs[h+b:]
	}
	pwluExtScratch(dst[h+b:], src[h+b:], offs, t)
}

// pwluExtBlocks runs the assembly kernel for t's size over whole blocks of 16.
func pwluExtBlocks(dst, src, offs []float32, t *[coeffs.ExtLen]float32, stream bool) {
	switch small := t[coeffs.ExtTop] < 16; {
	case offs != nil && small:
		pwluShiftExt16AVX512(dst, src, offs, t, stream)
	case offs != nil:
		pwluShiftExt32AVX512(dst, src, offs, t, stream)
	case small:
		pwluExt16AVX512(dst, src, t, stream)
	default:
		pwluExt32AVX512(dst, src, t, stream)
	}
}

// pwluExtScratch is pwluExtF32 for fewer than 16 elements, through a block on the stack.
func pwluExtScratch(dst, src, offs []float32, t *[coeffs.ExtLen]float32) {
	if len(src) == 0 {
		return
	}
	var x, o [16]float32
	copy(x[:], src)
	if offs != nil {
		copy(o[:], offs[:len(src)])
		pwluExtBlocks(x[:], x[:], o[:], t, false)
	} else {
		pwluExtBlocks(x[:], x[:], nil, t, false)
	}
	copy(dst, x[:len(src)])
}

// pwluShiftedRow is dst[i] = PWLU_c(src[i] − shift[i]) in one pass over a row (the shifted
// channels of pwluTable), cached stores: a row is one channel-last vector, not a whole tensor.
func pwluShiftedRow(x simd.Level, dst, src, shift []float32, c *pwluChannel) {
	dst, shift = dst[:len(src)], shift[:len(src)]
	b := 0
	switch {
	case x.Wide() && c.n <= 64:
		_, b = asmPlan(x, dst, len(src), 16, false)
		if b > 0 {
			d, s, sh := dst[:b], src[:b], shift[:b]
			switch len(c.es) {
			case 16:
				pwluShiftPerm16AVX512(d, s, sh, &c.consts, c.es, c.ds, false)
			case 32:
				pwluShiftPerm32AVX512(d, s, sh, &c.consts, c.es, c.ds, false)
			default:
				pwluShiftPerm64AVX512(d, s, sh, &c.consts, c.es, c.ds, false)
			}
		}
	case c.n <= 64:
		_, b = asmPlan(x, dst, len(src), 8, false)
		if b > 0 {
			d, s, sh := dst[:b], src[:b], shift[:b]
			switch {
			case c.n <= 8:
				pwluShiftPerm8AVX2(d, s, sh, &c.wide, c.es, c.ds, false)
			case c.n <= 16:
				pwluShiftPerm16AVX2(d, s, sh, &c.wide, c.es, c.ds, false)
			case c.n <= 32:
				pwluShiftPerm32AVX2(d, s, sh, &c.wide, c.es, c.ds, false)
			default:
				pwluShiftPerm64AVX2(d, s, sh, &c.wide, c.es, c.ds, false)
			}
		}
	default: // tables past 64 entries gather on AVX2 (and AVX-512): subtract, then the table
		vecmath.Arith(vecmath.OpSub, dst, src, shift)
		pwluF32(x, dst, dst, c, false)
		return
	}
	for i := b; i < len(src); i++ {
		dst[i] = pwlu1(src[i]-shift[i], c)
	}
}

func zorroF32(x simd.Level, dst, src []float32, c *zorroChannel, stream bool) {
	dst = dst[:len(src)]
	lanes := 8
	if x.Wide() {
		lanes = 16
	}
	h, b := asmPlan(x, dst, len(src), lanes, stream)
	zorroGo(dst[:h], src[:h], c)
	switch {
	case b > 0 && x.Wide():
		zorroAVX512(dst[h:h+b], src[h:h+b], &c.consts, stream)
	case b > 0:
		zorroAVX2(dst[h:h+b], src[h:h+b], &c.wide, stream)
	}
	zorroGo(dst[h+b:], src[h+b:], c)
}

// The applyRow methods run the rows kernels over the channels in whole groups of 8 and
// evaluate the rest element by element. A row may start at any channel ch0 (a piece of a
// channels-last row, in a product's epilogue).

func (t *crreluTable) applyRow(dst, src []float32, ch0 int) {
	n := 0
	if t.level.Asm() {
		n = len(src) &^ 7
		if n > 0 {
			crreluRowsAVX2(dst[:n], src[:n], &t.eps[ch0], false)
		}
	}
	for i := n; i < len(src); i++ {
		dst[i] = t.eval(src[i], ch0+i)
	}
}

func (t *pwluTable) applyRow(dst, src []float32, ch0 int) {
	if t.extOffs != nil && t.level.Wide() {
		pwluExtF32(dst[:len(src)], src, t.extOffs[ch0:ch0+len(src)], t.chans[0].ext, false)
		return
	}
	if t.shift != nil && t.level.Asm() {
		pwluShiftedRow(t.level, dst, src, t.shift[ch0:], &t.chans[0])
		return
	}
	head := groupHead(t, dst, src, ch0)
	dst, src, ch0 = dst[head:], src[head:], ch0+head
	n := 0
	if t.level.Asm() {
		n = len(src) &^ 7
		if n > 0 {
			pwluGatherRowsAVX2(dst[:n], src[:n], &t.rows.groups[ch0/8*(coeffs.PWLUConsts+1)*8], t.rows.rowEs, t.rows.rowDs, false)
		}
	}
	for i := n; i < len(src); i++ {
		dst[i] = t.eval(src[i], ch0+i)
	}
}

func (t *zorroTable) applyRow(dst, src []float32, ch0 int) {
	head := groupHead(t, dst, src, ch0)
	dst, src, ch0 = dst[head:], src[head:], ch0+head
	n := 0
	if t.level.Asm() {
		n = len(src) &^ 7
		if n > 0 {
			zorroRowsAVX2(dst[:n], src[:n], &t.rowGroups[ch0/8*coeffs.ZorroConsts*8], false)
		}
	}
	for i := n; i < len(src); i++ {
		dst[i] = t.eval(src[i], ch0+i)
	}
}

// groupHead evaluates, element by element, a row's values before the first channel that starts
// a group of 8 (the rows kernels' constants come in such groups) and returns their number.
func groupHead(t table, dst, src []float32, ch0 int) int {
	head := min((8-ch0%8)%8, len(src))
	for i := range head {
		dst[i] = t.eval(src[i], ch0+i)
	}
	return head
}

// Accelerated reports whether the float32 kernels run the generated assembly.
func Accelerated() bool { return simd.Host().Asm() }
