package onnxops

import (
	"math"
)

// The float32 kernels work from per-channel constant tables built once from the parameters, so
// that a Run does no parameter arithmetic. Each table type has a pure-Go loop (this file) and, on
// amd64 with AVX2+FMA, a generated assembly loop (kernels_amd64.s) over the same constants.

// crreluTable holds ε per channel.
type crreluTable struct{ eps []float32 }

func newCRReLUTable(ps []Params) *crreluTable {
	t := &crreluTable{eps: make([]float32, len(ps))}
	for i, p := range ps {
		t.eps[i] = float32(p.(CRReLUParams).Epsilon)
	}
	return t
}

func (t *crreluTable) channels() int { return len(t.eps) }

func (t *crreluTable) apply(dst, src []float32, ch int) { crreluF32(dst, src, t.eps[ch]) }

func crreluGo(dst, src []float32, eps float32) {
	for i, x := range src {
		y := max(x, 0)
		if x*x <= crreluCutoff*crreluCutoff {
			y += eps * x * exp32(-0.5*x*x)
		}
		if x != x {
			y = x
		}
		dst[i] = y
	}
}

// pwluTable is the segment table of activations.md §2.5 in its well-conditioned form
// y = Y_j + (x − B_j)·K_j for segments j = 0 … N+1 (0: left of B_L, N+1: right of B_R), with
// j = clamp(⌊(x − B_L)·N/(B_R − B_L)⌋, −1, N) + 1.
type pwluTable struct{ chans []pwluChannel }

type pwluChannel struct {
	consts     [pwluConsts]float32 // B_L, N/(B_R−B_L), N
	wide       [pwluConsts * 8]float32
	ys, bs, ks []float32 // N+2 entries each
}

// Layout of the per-channel constants the assembly reads.
const (
	pwluBL = iota
	pwluInvD
	pwluN
	pwluConsts
)

func newPWLUTable(ps []Params) *pwluTable {
	t := &pwluTable{}
	for _, p := range ps {
		q := p.(PWLUParams)
		n := q.N()
		d := (q.BR - q.BL) / float64(n)
		ys, bs, ks := make([]float32, n+2), make([]float32, n+2), make([]float32, n+2)
		ys[0], bs[0], ks[0] = float32(q.Heights[0]), float32(q.BL), float32(q.KL)
		for i := 0; i < n; i++ {
			ys[i+1] = float32(q.Heights[i])
			bs[i+1] = float32(q.Knot(i))
			ks[i+1] = float32((q.Heights[i+1] - q.Heights[i]) / d)
		}
		ys[n+1], bs[n+1], ks[n+1] = float32(q.Heights[n]), float32(q.BR), float32(q.KR)
		ch := pwluChannel{
			consts: [pwluConsts]float32{float32(q.BL), float32(float64(n) / (q.BR - q.BL)), float32(n)},
			ys:     ys, bs: bs, ks: ks,
		}
		widen(ch.wide[:], ch.consts[:])
		t.chans = append(t.chans, ch)
	}
	return t
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

func (t *pwluTable) apply(dst, src []float32, ch int) { pwluF32(dst, src, &t.chans[ch]) }

func pwluGo(dst, src []float32, c *pwluChannel) {
	bl, invD, n := c.consts[pwluBL], c.consts[pwluInvD], c.consts[pwluN]
	ys, bs, ks := c.ys, c.bs, c.ks
	for i, x := range src {
		// Clamp in float first: it keeps huge |x| and NaN away from the integer conversion.
		s := min(max((x-bl)*invD, -1), n)
		if s != s {
			s = -1
		}
		j := int(float32(math.Floor(float64(s)))) + 1
		y := ys[j]
		if k := ks[j]; k != 0 { // K = 0 at ±Inf would give Inf·0
			y += (x - bs[j]) * k
		}
		if x != x {
			y = x
		}
		dst[i] = y
	}
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
type zorroTable struct{ chans []zorroChannel }

type zorroChannel struct {
	consts [zorroConsts]float32
	wide   [zorroConsts * 8]float32
}

// Layout of the per-channel constants the assembly reads.
const (
	zInScale = iota
	zInShift
	zOutScale
	zOutShift
	zNegA
	zNegAmp // A
	zNegQ
	zNegBeta // β'
	zPosA
	zPosAmp
	zPosQ
	zPosBeta
	zGate // all-ones bits when gate, else 0: the assembly blends with it
	zorroConsts
)

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

func newZorroTable(ps []Params, gate bool) *zorroTable {
	t := &zorroTable{}
	for _, p := range ps {
		q := p.(ZorroParams)
		var ch zorroChannel
		c := &ch.consts
		c[zInScale], c[zInShift] = float32(q.InScale), float32(q.InShift)
		c[zOutScale], c[zOutShift] = float32(q.OutScale), float32(q.OutShift)
		c[zNegA], c[zNegAmp], c[zNegQ], c[zNegBeta] = humpConsts(q.AN, q.BN)
		c[zPosA], c[zPosAmp], c[zPosQ], c[zPosBeta] = humpConsts(q.AP, q.BP)
		if gate {
			c[zGate] = math.Float32frombits(^uint32(0))
		}
		widen(ch.wide[:], ch.consts[:])
		t.chans = append(t.chans, ch)
	}
	return t
}

func (t *zorroTable) channels() int { return len(t.chans) }

func (t *zorroTable) apply(dst, src []float32, ch int) { zorroF32(dst, src, &t.chans[ch]) }

// hump32 is h(u) = u·G for u ≤ 0, 0 where a·|u| > 100.
func hump32(u, a, amp, q, beta float32) float32 {
	au := a * u
	if au < -zorroCutoff {
		return 0
	}
	return u * (amp / (q + exp32(beta-au)))
}

func zorroGo(dst, src []float32, ch *zorroChannel) {
	c := &ch.consts
	gate := math.Float32bits(c[zGate]) != 0
	for i, x := range src {
		z := c[zInScale]*x + c[zInShift]
		zv := min(max(z, 0), 1) +
			hump32(min(z, 0), c[zNegA], c[zNegAmp], c[zNegQ], c[zNegBeta]) -
			hump32(min(1-z, 0), c[zPosA], c[zPosAmp], c[zPosQ], c[zPosBeta])
		w := c[zOutScale]*zv + c[zOutShift]
		if gate && w != 0 {
			w *= x
		}
		if x != x {
			w = x
		}
		dst[i] = w
	}
}
