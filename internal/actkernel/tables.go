package actkernel

import (
	"math"
	"slices"

	"github.com/actswap/actswap/internal/actkernel/coeffs"
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/onnxops"
)

// The float32 kernels work from per-channel constant tables built once from the parameters, so
// that a Run does no parameter arithmetic. Each table type has a pure-Go loop (this file) and, on
// amd64 with AVX2+FMA, a generated assembly loop (kernels_amd64.s) over the same constants.

// crreluTable holds ε per channel.
type crreluTable struct {
	level simd.Level // the level whose loops apply it
	eps   []float32
}

// The "rows" kernels serve a channel axis that is last: a row holds every channel once, so lane i
// of the k-th block of 8 is channel 8k+i. Their constants are laid out per group of 8 channels
// (lane i = channel 8g+i), built here beside the per-channel ones; channels past the last full
// group are evaluated element by element.

func newCRReLUTable(x simd.Level, ps []onnxops.Params) *crreluTable {
	t := &crreluTable{level: x, eps: make([]float32, len(ps))}
	for i, p := range ps {
		t.eps[i] = float32(p.(onnxops.CRReLUParams).Epsilon)
	}
	return t
}

func (t *crreluTable) channels() int { return len(t.eps) }

func (t *crreluTable) apply(dst, src []float32, ch int, stream bool) {
	crreluF32(t.level, dst, src, t.eps[ch], stream)
}

func (t *crreluTable) eval(x float32, ch int) float32 { return crrelu1(x, t.eps[ch]) }

func crreluGo(dst, src []float32, eps float32) {
	for i, x := range src {
		dst[i] = crrelu1(x, eps)
	}
}

func crrelu1(x, eps float32) float32 {
	y := max(x, 0)
	if x*x <= onnxops.CRReLUCutoff*onnxops.CRReLUCutoff {
		y += eps * x * exp32(-0.5*x*x)
	}
	if x != x {
		y = x
	}
	return y
}

// pwluTable is the segment table of activations.md §2.5 in a well-conditioned form. With
// s = (x − B_L)·N/(B_R − B_L):
//
//	s < 0:  y = Y⁰ + (x − B_L)·K_L        s ≥ N:  y = Y^N + (x − B_R)·K_R
//	else:   y = E_j + s·D_j,  j = ⌊min(s, N−1)⌋,  D_j = Y^{j+1} − Y^j,  E_j = Y^j − j·D_j
//
// so an element needs two lookups and one FMA inside the bounds. The inner form works in grid
// units, so nothing scales with |B_L| (A_j·x + C_j cancels badly when |B_i| ≫ d): |E_j| and
// |s·D_j| stay within the function's own range over the bounds. The outer segments use x
// itself, because s overflows for |x| near 3e38; an outer product that is ±Inf·0 on a flat
// segment is 0, giving the end height. Inside, the float32 error is about
// 2^-22·(|y| + (B_R − B_L)·max|K_i|): a few 1e-7 for fitted activations (range ≲ 10, |K| ≲ 2),
// more for saw-tooth heights whose slopes are large against the bounds' width.
type pwluTable struct {
	level simd.Level // the level whose loops apply it
	chans []pwluChannel
	rows  pwluRows
	// shift, when set, says that channel c is channel 0 moved right by shift[c] (same heights,
	// slopes and width; bounds B_L + shift[c]), what a per-tensor PWLU becomes when it absorbs a
	// per-channel bias (rewrite): a row is then x − shift followed by channel 0's per-tensor
	// kernel, as fast as a per-tensor PWLU, where the rows kernel must gather per lane.
	shift []float32
	// extOffs, when set beside shift (and channel 0's ext), is each channel's offset for the
	// extended-table kernel, off_c = 1 − B_L(c)·N/(B_R−B_L): a row is then one pass of channel
	// 0's extended table with the offsets read in step.
	extOffs []float32
}

// rowGroups holds, for the rows kernel, per group of 8 channels the (coeffs.PWLUConsts+1)×8 block of
// per-lane constants, the last one being the channel's offset (int32 bits) into rowEs/rowDs,
// the concatenated tables.
type pwluRows struct {
	groups       []float32
	rowEs, rowDs []float32
}

type pwluChannel struct {
	consts [coeffs.PWLUConsts]float32
	wide   [coeffs.PWLUConsts * 8]float32
	// es and ds hold E_j and D_j for the N intervals; the assembly's permute kernels read them
	// padded with zeros to a power of two ≥ 16, so their length may exceed N.
	es, ds []float32
	n      int
	// ext is the extended table of the AVX-512 kernels pwluExt16/32 (see pwluExtTable), nil
	// where they do not apply.
	ext *[coeffs.ExtLen]float32
}

// pwluExtMaxSegments is the most segments (N+2) the extended-table kernels take.
const pwluExtMaxSegments = 32

// pwluExtTable builds the extended table of channel ch for bounds (bl, br) — which may differ
// from ch's own by a shift (shifted channels use channel 0's table) — or returns nil where the
// extended form would lose precision. It extends the segment table by the two outer segments as
// segments 0 and N+1, in grid units shifted by one: with s' = x·N/(B_R−B_L) + off,
//
//	y = E_j + s'·D_j,  j = ⌊clamp(s', 0, N+1)⌋,
//
// segment 0 being Y⁰ + (s'−1)·K_L·d, segment i+1 interval i, segment N+1 Y^N + (s'−N−1)·K_R·d
// (d = 1/(N/(B_R−B_L)) in float32, so that the outer slopes are exactly K_L and K_R in x). One
// FMA makes s' from x, where pwluTable's form subtracts B_L first: its error is |x|·N/(B_R−B_L)
// and |off| in units of 2⁻²⁴ grid steps instead of |x − B_L|·N/(B_R−B_L), so the form is taken
// only where the bounds lie within two widths of 0 (|B_L|, |B_R| ≤ 2(B_R−B_L)): inside the
// bounds at most 5N units, against N for pwluTable's form, well within OPS.md's 1e-5 for
// fitted activations (a saw-tooth with rises of 1 per step and N = 30 loses ≈ 1e-5).
func pwluExtTable(ch *pwluChannel, q onnxops.PWLUParams) *[coeffs.ExtLen]float32 {
	n := ch.n
	if n+2 > pwluExtMaxSegments || !extPrecise(q.BL, q.BR) {
		return nil
	}
	c := &ch.consts
	t := new([coeffs.ExtLen]float32)
	invD := float64(c[coeffs.PWLUInvD])
	d := 1 / invD
	t[coeffs.ExtInvD], t[coeffs.ExtOff], t[coeffs.ExtTop] = c[coeffs.PWLUInvD], float32(1-q.BL*invD), float32(n+1)
	t[coeffs.ExtY0], t[coeffs.ExtKL], t[coeffs.ExtYN], t[coeffs.ExtKR] = c[coeffs.PWLUY0], c[coeffs.PWLUKL], c[coeffs.PWLUYN], c[coeffs.PWLUKR]
	t[coeffs.ExtLo], t[coeffs.ExtHi] = c[coeffs.PWLULo], c[coeffs.PWLUHi]
	segment := func(j int, e, slope float64) { t[coeffs.ExtE+j], t[coeffs.ExtD+j] = float32(e), float32(slope) }
	kl, kr := q.KL*d, q.KR*d
	segment(0, q.Heights[0]-kl, kl)
	for i := range n {
		rise := q.Heights[i+1] - q.Heights[i]
		segment(i+1, q.Heights[i]-float64(i+1)*rise, rise)
	}
	segment(n+1, q.Heights[n]-float64(n+1)*kr, kr)
	return t
}

// extPrecise reports whether bounds (bl, br) are close enough to 0 for the extended form's
// one-FMA grid position (see pwluExtTable).
func extPrecise(bl, br float64) bool {
	return max(math.Abs(bl), math.Abs(br)) <= 2*(br-bl)
}

// pwluPadded is the table length for n intervals: the next power of two ≥ 16 up to 64 (the
// permute kernels read whole 16-entry vectors), else n (the gather kernel).
func pwluPadded(n int) int {
	for size := 16; size <= 64; size *= 2 {
		if n <= size {
			return size
		}
	}
	return n
}

func newPWLUTable(x simd.Level, ps []onnxops.Params) *pwluTable {
	t := &pwluTable{level: x}
	for _, p := range ps {
		q := p.(onnxops.PWLUParams)
		n := q.N()
		size := pwluPadded(n)
		es, ds := make([]float32, size), make([]float32, size)
		for i := 0; i < n; i++ {
			rise := q.Heights[i+1] - q.Heights[i]
			es[i], ds[i] = float32(q.Heights[i]-float64(i)*rise), float32(rise)
		}
		ch := pwluChannel{es: es, ds: ds, n: n}
		ch.consts = [coeffs.PWLUConsts]float32{
			coeffs.PWLUBL: float32(q.BL), coeffs.PWLUInvD: float32(float64(n) / (q.BR - q.BL)),
			coeffs.PWLUN: float32(n), coeffs.PWLUNm1: float32(n - 1),
			coeffs.PWLUY0: float32(q.Heights[0]), coeffs.PWLUKL: float32(q.KL),
			coeffs.PWLUBR: float32(q.BR), coeffs.PWLUYN: float32(q.Heights[n]), coeffs.PWLUKR: float32(q.KR),
			coeffs.PWLULo: float32(math.Inf(-1)), coeffs.PWLUHi: float32(math.Inf(1)),
		}
		if ch.consts[coeffs.PWLUKL] == 0 {
			ch.consts[coeffs.PWLULo] = -math.MaxFloat32
		}
		if ch.consts[coeffs.PWLUKR] == 0 {
			ch.consts[coeffs.PWLUHi] = math.MaxFloat32
		}
		widen(ch.wide[:], ch.consts[:])
		if x.Wide() {
			ch.ext = pwluExtTable(&ch, q)
		}
		t.chans = append(t.chans, ch)
	}
	t.shift = shiftedCopies(ps)
	if t.shift != nil && t.chans[0].ext != nil {
		t.extOffs = extOffsets(ps, t.chans[0].consts[coeffs.PWLUInvD])
	}
	for g := 0; g+8 <= len(t.chans); g += 8 {
		block := make([]float32, (coeffs.PWLUConsts+1)*8)
		for i := 0; i < 8; i++ {
			ch := &t.chans[g+i]
			for k, v := range ch.consts {
				block[8*k+i] = v
			}
			block[8*coeffs.PWLUConsts+i] = math.Float32frombits(uint32(len(t.rows.rowEs) + i*len(ch.es)))
		}
		for i := 0; i < 8; i++ {
			t.rows.rowEs = append(t.rows.rowEs, t.chans[g+i].es...)
			t.rows.rowDs = append(t.rows.rowDs, t.chans[g+i].ds...)
		}
		t.rows.groups = append(t.rows.groups, block...)
	}
	return t
}

// shiftedCopies returns B_L(c) − B_L(0) per channel when every channel is channel 0 moved along x
// (equal heights and slopes, widths within float32 rounding), else nil.
func shiftedCopies(ps []onnxops.Params) []float32 {
	if len(ps) < 2 {
		return nil
	}
	p0 := ps[0].(onnxops.PWLUParams)
	width := p0.BR - p0.BL
	shift := make([]float32, len(ps))
	for c, p := range ps {
		q := p.(onnxops.PWLUParams)
		if q.KL != p0.KL || q.KR != p0.KR || !slices.Equal(q.Heights, p0.Heights) || math.Abs((q.BR-q.BL)-width) > 1e-6*width {
			return nil
		}
		shift[c] = float32(q.BL - p0.BL)
	}
	return shift
}

// extOffsets returns off_c = 1 − B_L(c)·invD per channel for the extended-table kernel, or nil
// where some channel's bounds are too far from 0 for it (extPrecise).
func extOffsets(ps []onnxops.Params, invD float32) []float32 {
	offs := make([]float32, len(ps))
	for c, p := range ps {
		q := p.(onnxops.PWLUParams)
		if !extPrecise(q.BL, q.BR) {
			return nil
		}
		offs[c] = float32(1 - q.BL*float64(invD))
	}
	return offs
}

// widen copies each constant 8 times, the layout the assembly reads as 32-byte vectors.
func widen(wide, narrow []float32) {
	for i, v := range narrow {
		for j := 0; j < 8; j++ {
			wide[8*i+j] = v
		}
	}
}

func (t *pwluTable) channels() int { return len(t.chans) }

func (t *pwluTable) apply(dst, src []float32, ch int, stream bool) {
	pwluF32(t.level, dst, src, &t.chans[ch], stream)
}

func (t *pwluTable) eval(x float32, ch int) float32 { return pwlu1(x, &t.chans[ch]) }

func pwluGo(dst, src []float32, ch *pwluChannel) {
	for i, x := range src {
		dst[i] = pwlu1(x, ch)
	}
}

func pwlu1(x float32, ch *pwluChannel) float32 {
	c := &ch.consts
	s := (x - c[coeffs.PWLUBL]) * c[coeffs.PWLUInvD]
	switch {
	case x != x:
		return x
	case s < 0:
		return c[coeffs.PWLUY0] + orZero((x-c[coeffs.PWLUBL])*c[coeffs.PWLUKL])
	case s >= c[coeffs.PWLUN]:
		return c[coeffs.PWLUYN] + orZero((x-c[coeffs.PWLUBR])*c[coeffs.PWLUKR])
	}
	j := int(min(s, c[coeffs.PWLUNm1])) // s ≥ 0: truncation is ⌊s⌋
	return ch.es[j] + s*ch.ds[j]
}

// orZero maps NaN to 0: an outer PWLU product ±Inf·0 on a flat segment.
func orZero(v float32) float32 {
	if v != v {
		return 0
	}
	return v
}

// zorroTable holds per channel the constants of
//
//	z = in_scale·x + in_shift, Z = clip(z,0,1) + h(min(z,0); neg) − h(min(1−z,0); pos),
//	W = out_scale·Z + out_shift, Y = W (or x·W with gate; 0 where W = 0)
//
// with each hump written as h(u) = u·G, G = A / (q + e^(β' − a·u)) and, for β = a·b,
// β ≥ 0: A = 1+e^(−β), q = e^(−β), β' = 0;  β < 0: A = 1+e^β, q = 1, β' = β.
// Both are k·σ(a(u−b)) rearranged so that no term exceeds 2 (k itself is never formed) and
// the exponent β' − a·u ≥ β' only grows as u → −∞, where G → 0 [activations.md §1.9].
type zorroTable struct {
	level simd.Level // the level whose loops apply it
	chans []zorroChannel
	// rowGroups: per group of 8 channels, coeffs.ZorroConsts×8 values with lane i = channel 8g+i.
	rowGroups []float32
}

type zorroChannel struct {
	consts [coeffs.ZorroConsts]float32
	wide   [coeffs.ZorroConsts * 8]float32
}

func humpConsts(a, b float64) (aa, amp, q, beta float32) {
	beta64 := a * b
	if math.IsInf(beta64, 0) || math.IsNaN(beta64) {
		beta64 = math.Copysign(math.MaxFloat64, beta64)
	}
	if beta64 >= 0 {
		c := math.Exp(-beta64)
		return float32(a), float32(1 + c), float32(c), 0
	}
	c := math.Exp(beta64)
	return float32(a), float32(1 + c), 1, float32(max(beta64, -1e30))
}

func newZorroTable(x simd.Level, ps []onnxops.Params, gate bool) *zorroTable {
	t := &zorroTable{level: x}
	for _, p := range ps {
		q := p.(onnxops.ZorroParams)
		var ch zorroChannel
		c := &ch.consts
		c[coeffs.ZorroInScale], c[coeffs.ZorroInShift] = float32(q.InScale), float32(q.InShift)
		c[coeffs.ZorroOutScale], c[coeffs.ZorroOutShift] = float32(q.OutScale), float32(q.OutShift)
		c[coeffs.ZorroNegA], c[coeffs.ZorroNegAmp], c[coeffs.ZorroNegQ], c[coeffs.ZorroNegBeta] = humpConsts(q.AN, q.BN)
		c[coeffs.ZorroPosA], c[coeffs.ZorroPosAmp], c[coeffs.ZorroPosQ], c[coeffs.ZorroPosBeta] = humpConsts(q.AP, q.BP)
		if gate {
			c[coeffs.ZorroGate] = math.Float32frombits(^uint32(0))
		}
		widen(ch.wide[:], ch.consts[:])
		t.chans = append(t.chans, ch)
	}
	for g := 0; g+8 <= len(t.chans); g += 8 {
		block := make([]float32, coeffs.ZorroConsts*8)
		for i := 0; i < 8; i++ {
			for k, v := range t.chans[g+i].consts {
				block[8*k+i] = v
			}
		}
		t.rowGroups = append(t.rowGroups, block...)
	}
	return t
}

func (t *zorroTable) channels() int { return len(t.chans) }

func (t *zorroTable) apply(dst, src []float32, ch int, stream bool) {
	zorroF32(t.level, dst, src, &t.chans[ch], stream)
}

// hump32 is h(u) = u·G for u ≤ 0, 0 where a·|u| > 100.
func hump32(u, a, amp, q, beta float32) float32 {
	au := a * u
	if au < -onnxops.ZorroCutoff {
		return 0
	}
	return u * (amp / (q + exp32(beta-au)))
}

func (t *zorroTable) eval(x float32, ch int) float32 { return zorro1(x, &t.chans[ch]) }

func zorroGo(dst, src []float32, ch *zorroChannel) {
	for i, x := range src {
		dst[i] = zorro1(x, ch)
	}
}

func zorro1(x float32, ch *zorroChannel) float32 {
	c := &ch.consts
	z := c[coeffs.ZorroInScale]*x + c[coeffs.ZorroInShift]
	zv := min(max(z, 0), 1)
	switch { // at most one hump is non-zero
	case z < 0:
		zv += hump32(z, c[coeffs.ZorroNegA], c[coeffs.ZorroNegAmp], c[coeffs.ZorroNegQ], c[coeffs.ZorroNegBeta])
	case z > 1:
		zv -= hump32(1-z, c[coeffs.ZorroPosA], c[coeffs.ZorroPosAmp], c[coeffs.ZorroPosQ], c[coeffs.ZorroPosBeta])
	}
	w := c[coeffs.ZorroOutScale]*zv + c[coeffs.ZorroOutShift]
	if w != 0 && math.Float32bits(c[coeffs.ZorroGate]) != 0 {
		w *= x
	}
	if x != x {
		w = x
	}
	return w
}
