package onnxops

import (
	"math"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func near(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// Golden values from activations.md §1.3 (Symmetric-Zorro a=1.2, b=1) and §3.2 (CRReLU ε=0.01).
func TestGoldenValues(t *testing.T) {
	t.Parallel()
	xs := []float64{-3, -1, -0.5, 0, 0.25, 1, 1.5, 3}
	zorroY := []float64{-0.105789785, -0.359315774, -0.306406593, 0, 0.25, 1, 1.306406593, 1.229804244}
	zorroD := []float64{-0.090648261, -0.036000841, 0.297282196, 1, 1, 1, 0.297282196, -0.153528448}
	crY := []float64{-3.332698961e-4, -6.065306597e-3, -4.412484513e-3, 0, 0.2524230831, 1.006065307, 1.504869787, 3.000333270}
	crD := []float64{-8.887197231e-4, 0, 6.618726769e-3, 0.01, 1.009086562, 1.0, 0.9959418442, 0.9991112803}
	z := SymmetricZorro(1.2, 1)
	cr := CRReLUParams{Epsilon: 0.01}
	for i, x := range xs {
		if got := z.Eval(x); !near(got, zorroY[i], 1e-8) {
			t.Errorf("Zorro(%v) = %.10g, want %.10g", x, got, zorroY[i])
		}
		if got := z.Deriv(x).DX; !near(got, zorroD[i], 1e-8) {
			t.Errorf("Zorro'(%v) = %.10g, want %.10g", x, got, zorroD[i])
		}
		if got := cr.Eval(x); !near(got, crY[i], 1e-8) {
			t.Errorf("CRReLU(%v) = %.10g, want %.10g", x, got, crY[i])
		}
		if got, _ := cr.Deriv(x); !near(got, crD[i], 1e-8) {
			t.Errorf("CRReLU'(%v) = %.10g, want %.10g", x, got, crD[i])
		}
	}
}

// The MATLAB form of Sigmoid-Zorro passes k explicitly [§1.5]; with moderate a·b it is safe to
// form k, so it checks the stable evaluation independently.
func TestZorroAgainstKForm(t *testing.T) {
	t.Parallel()
	kForm := func(u, a, b float64) float64 { // h(u) = k·u / (1 + (k−1)e^(−a u))
		k := 1 + math.Exp(a*b)
		return k * u / (1 + (k-1)*math.Exp(-a*u))
	}
	for _, ab := range [][2]float64{{1.2, 1}, {4, 2}, {0.7, -1.5}, {3, 0}} {
		p := ZorroParams{AN: ab[0], BN: ab[1], AP: ab[0] + 0.3, BP: ab[1] / 2, InScale: 0.8, InShift: 0.3, OutScale: 1.7, OutShift: -0.2}
		for x := -12.0; x <= 12; x += 0.37 {
			z := p.InScale*x + p.InShift
			want := math.Min(math.Max(z, 0), 1)
			if z < 0 {
				want += kForm(z, p.AN, p.BN)
			}
			if z > 1 {
				want -= kForm(1-z, p.AP, p.BP)
			}
			want = p.OutScale*want + p.OutShift
			if got := p.Eval(x); !near(got, want, 1e-12) {
				t.Fatalf("%+v at x=%v: got %v, want %v", p, x, got, want)
			}
		}
	}
}

func TestZorroLargeABAndInf(t *testing.T) {
	t.Parallel()
	p := SymmetricZorro(4, 25) // a·b = 100: k overflows float32 and nearly float64
	for _, x := range []float64{-1e30, -50, -0.25, 1.25, 50, 1e30} {
		if y := p.Eval(x); math.IsNaN(y) || math.IsInf(y, 0) {
			t.Errorf("Zorro(4,25)(%v) = %v", x, y)
		}
	}
	// β → ∞: h(u) → u·e^(au), so Z(−0.25) → −0.25·e^(−1).
	if got, want := p.Eval(-0.25), -0.25*math.Exp(-1); !near(got, want, 1e-12) {
		t.Errorf("Zorro(4,25)(-0.25) = %v, want %v", got, want)
	}
	q := SymmetricZorro(4, 2000) // a·b far past float64's exp range
	if got, want := q.Eval(-0.25), -0.25*math.Exp(-1); !near(got, want, 1e-12) {
		t.Errorf("Zorro(4,2000)(-0.25) = %v, want %v", got, want)
	}
	for _, gate := range []bool{false, true} {
		r := SigmoidZorro(4, 2, 0.5)
		r.Gate = gate
		for _, x := range []float64{math.Inf(-1), math.Inf(1)} {
			y := r.Eval(x)
			if math.IsNaN(y) {
				t.Errorf("gate=%v: Zorro(%v) = NaN", gate, x)
			}
		}
		if y := r.Eval(math.NaN()); !math.IsNaN(y) {
			t.Errorf("gate=%v: Zorro(NaN) = %v", gate, y)
		}
	}
}

// Finite differences check every analytic derivative.
func TestZorroDerivFiniteDiff(t *testing.T) {
	t.Parallel()
	base := ZorroParams{AN: 1.3, BN: 0.8, AP: 2.1, BP: 1.4, InScale: 0.9, InShift: 0.2, OutScale: 1.5, OutShift: -0.3}
	for _, gate := range []bool{false, true} {
		base.Gate = gate
		for _, x := range []float64{-4.1, -1.3, -0.4, 0.5, 1.6, 2.7, 5.2} {
			g := base.Deriv(x)
			analytic := []float64{g.DAN, g.DBN, g.DAP, g.DBP, g.DInScale, g.DInShift, g.DOutScale, g.DOutShift}
			v := base.Vector()
			for i := range v {
				const h = 1e-6
				up, dn := v, v
				up[i] += h
				dn[i] -= h
				fd := (ZorroFromVector(up, gate).Eval(x) - ZorroFromVector(dn, gate).Eval(x)) / (2 * h)
				if !near(analytic[i], fd, 1e-6) {
					t.Errorf("gate=%v x=%v param %d: analytic %v, finite difference %v", gate, x, i, analytic[i], fd)
				}
			}
			const h = 1e-6
			fd := (base.Eval(x+h) - base.Eval(x-h)) / (2 * h)
			if !near(g.DX, fd, 1e-6) {
				t.Errorf("gate=%v x=%v d/dx: analytic %v, finite difference %v", gate, x, g.DX, fd)
			}
		}
	}
}

func TestCRReLUDerivFiniteDiff(t *testing.T) {
	t.Parallel()
	p := CRReLUParams{Epsilon: 0.3}
	for _, x := range []float64{-3, -0.7, 0.4, 1.9} {
		dx, de := p.Deriv(x)
		const h = 1e-6
		fdx := (p.Eval(x+h) - p.Eval(x-h)) / (2 * h)
		fde := (CRReLUParams{p.Epsilon + h}.Eval(x) - CRReLUParams{p.Epsilon - h}.Eval(x)) / (2 * h)
		if !near(dx, fdx, 1e-6) || !near(de, fde, 1e-6) {
			t.Errorf("x=%v: (%v,%v), finite differences (%v,%v)", x, dx, de, fdx, fde)
		}
	}
	if y := p.Eval(math.Inf(-1)); y != 0 {
		t.Errorf("CRReLU(-Inf) = %v", y)
	}
	if y := p.Eval(math.Inf(1)); !math.IsInf(y, 1) {
		t.Errorf("CRReLU(+Inf) = %v", y)
	}
}

func TestPWLUEvalAndDeriv(t *testing.T) {
	t.Parallel()
	// ReLU initialisation [§2.3]: N even, symmetric bounds, K_L=0, K_R=1, Y^i = ReLU(B_i).
	relu := PWLUParams{BL: -2, BR: 2, KL: 0, KR: 1}
	for i := 0; i <= 8; i++ {
		relu.Heights = append(relu.Heights, ReLU(-2+float64(i)*0.5))
	}
	for _, x := range []float64{-100, -2, -1.3, -0.5, 0, 0.3, 1.99, 2, 7, math.Inf(-1), math.Inf(1)} {
		if got := relu.Eval(x); got != ReLU(x) {
			t.Errorf("ReLU-initialised PWLU(%v) = %v", x, got)
		}
	}
	p := PWLUParams{BL: -1.5, BR: 2.5, Heights: []float64{0.3, -0.2, 0.1, 0.9, 1.7}, KL: -0.1, KR: 1.2}
	for _, x := range []float64{-3, -1.2, -0.1, 0.7, 1.3, 2.2, 4} {
		g := p.Deriv(x)
		const h = 1e-6
		check := func(name string, analytic float64, mod func(q *PWLUParams, d float64)) {
			up := p
			up.Heights = append([]float64(nil), p.Heights...)
			dn := p
			dn.Heights = append([]float64(nil), p.Heights...)
			mod(&up, h)
			mod(&dn, -h)
			fd := (up.Eval(x) - dn.Eval(x)) / (2 * h)
			if !near(analytic, fd, 1e-6) {
				t.Errorf("x=%v %s: analytic %v, finite difference %v", x, name, analytic, fd)
			}
		}
		// Shifting the whole grid left by d is evaluating at x+d.
		check("dx", g.DX, func(q *PWLUParams, d float64) { q.BL -= d; q.BR -= d })
		check("dBL", g.DBL, func(q *PWLUParams, d float64) { q.BL += d })
		check("dBR", g.DBR, func(q *PWLUParams, d float64) { q.BR += d })
		check("dKL", g.DKL, func(q *PWLUParams, d float64) { q.KL += d })
		check("dKR", g.DKR, func(q *PWLUParams, d float64) { q.KR += d })
		for i := range p.Heights {
			check("dY", g.DHeights[i], func(q *PWLUParams, d float64) { q.Heights[i] += d })
		}
	}
	if y := (PWLUParams{BL: -1, BR: 1, Heights: []float64{2, 0, 3}, KL: 0, KR: 0}).Eval(math.Inf(-1)); y != 2 {
		t.Errorf("PWLU(-Inf) with K_L=0 = %v, want 2", y)
	}
}

func TestParamTensorsRoundTrip(t *testing.T) {
	t.Parallel()
	pw := []Params{
		PWLUParams{BL: -1, BR: 1, Heights: []float64{0, 0.5, 1}, KL: 0, KR: 1},
		PWLUParams{BL: -2, BR: 3, Heights: []float64{1, 0.5, 2}, KL: -1, KR: 2},
	}
	ts, err := ParamTensors(FamilyPWLU, pw)
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.SameShape(ts[0].Shape, []int{2, 2}) || !tensor.SameShape(ts[1].Shape, []int{2, 3}) || !tensor.SameShape(ts[2].Shape, []int{2, 2}) {
		t.Fatalf("shapes %v %v %v", ts[0].Shape, ts[1].Shape, ts[2].Shape)
	}
	back, err := ParamsFromTensors(FamilyPWLU, ts)
	if err != nil || len(back) != 2 || back[1].(PWLUParams).BR != 3 || back[1].(PWLUParams).Heights[2] != 2 {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	one, err := ParamTensors(FamilyCRReLU, []Params{CRReLUParams{0.01}})
	if err != nil || len(one[0].Shape) != 0 {
		t.Fatalf("per-tensor epsilon: %v %v", err, one)
	}
	z, err := ParamTensors(FamilyZorro, []Params{SymmetricZorro(1.2, 1)})
	if err != nil || !tensor.SameShape(z[0].Shape, []int{8}) {
		t.Fatalf("zorro: %v %v", err, z)
	}
	// Per-tensor bounds beside per-channel heights apply to every channel.
	mixed := []*tensor.Tensor{
		tensor.New([]int{2}, []float32{-1, 1}),
		tensor.New([]int{3, 2}, []float32{0, 1, 2, 3, 4, 5}),
		tensor.New([]int{1, 2}, []float32{0, 1}),
	}
	ps, err := ParamsFromTensors(FamilyPWLU, mixed)
	if err != nil || len(ps) != 3 || ps[2].(PWLUParams).Heights[0] != 4 || ps[2].(PWLUParams).BL != -1 {
		t.Fatalf("mixed: %v %+v", err, ps)
	}
}

func TestParamsFromTensorsErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fam  Family
		ts   []*tensor.Tensor
	}{
		{"bounds reversed", FamilyPWLU, []*tensor.Tensor{tensor.New([]int{2}, []float32{1, -1}), tensor.New([]int{3}, []float32{0, 1, 2}), tensor.New([]int{2}, []float32{0, 1})}},
		{"one height", FamilyPWLU, []*tensor.Tensor{tensor.New([]int{2}, []float32{-1, 1}), tensor.New([]int{1}, []float32{0}), tensor.New([]int{2}, []float32{0, 1})}},
		{"bounds width 3", FamilyPWLU, []*tensor.Tensor{tensor.New([]int{3}, []float32{-1, 1, 2}), tensor.New([]int{3}, []float32{0, 1, 2}), tensor.New([]int{2}, []float32{0, 1})}},
		{"C mismatch", FamilyPWLU, []*tensor.Tensor{tensor.New([]int{2, 2}, []float32{-1, 1, -1, 1}), tensor.New([]int{3, 2}, []float32{0, 1, 2, 3, 4, 5}), tensor.New([]int{2}, []float32{0, 1})}},
		{"zorro 7", FamilyZorro, []*tensor.Tensor{tensor.New([]int{7}, make([]float32, 7))}},
		{"zorro rank 3", FamilyZorro, []*tensor.Tensor{tensor.New([]int{1, 1, 8}, make([]float32, 8))}},
		{"epsilon rank 2", FamilyCRReLU, []*tensor.Tensor{tensor.New([]int{1, 1}, []float32{0})}},
		{"epsilon int", FamilyCRReLU, []*tensor.Tensor{tensor.New([]int{}, []int64{0})}},
		{"missing", FamilyCRReLU, []*tensor.Tensor{nil}},
		{"count", FamilyCRReLU, nil},
	}
	for _, c := range cases {
		if _, err := ParamsFromTensors(c.fam, c.ts); err == nil {
			t.Errorf("%s: no error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	// Φ(1) = 0.8413447460685429; GELU_tanh differs from GELU by at most 4.73e-4 [§0].
	if got := GELU(1); !near(got, 0.8413447460685429, 1e-15) {
		t.Errorf("GELU(1) = %v", got)
	}
	if got := GELU(-40); got > 0 || got < -1e-300 {
		t.Errorf("GELU(-40) = %v", got)
	}
	for x := -6.0; x <= 6; x += 0.01 {
		if d := math.Abs(GELU(x) - GELUTanh(x)); d > 4.8e-4 {
			t.Fatalf("|GELU-GELUTanh|(%v) = %v", x, d)
		}
	}
	if ReLU(-2) != 0 || ReLU(3) != 3 || !math.IsNaN(ReLU(math.NaN())) {
		t.Error("ReLU")
	}
}

// TestTargetsSpecialValues pins every target at ±Inf, NaN and ±0 against the float64 limits (the
// values a model computes there), signs of zero included: rewrite's sites and calibrate's targets
// both evaluate these functions, so a disagreement between them cannot come back.
func TestTargetsSpecialValues(t *testing.T) {
	t.Parallel()
	inf, nan, negZero := math.Inf(1), math.NaN(), math.Copysign(0, -1)
	quick := func(x float64) float64 { return QuickGELU(x, QuickGELUAlpha) }
	targets := []struct {
		name string
		f    func(float64) float64
		// want at -Inf, +Inf, -0, +0 (NaN is always NaN)
		negInf, posInf, negZero, posZero float64
	}{
		{"ReLU", ReLU, 0, inf, 0, 0},
		{"GELU", GELU, 0, inf, negZero, 0},
		{"GELUTanh", GELUTanh, 0, inf, negZero, 0},
		{"QuickGELU", quick, 0, inf, negZero, 0},
	}
	for _, tc := range targets {
		for _, c := range []struct{ x, want float64 }{
			{-inf, tc.negInf}, {inf, tc.posInf}, {negZero, tc.negZero}, {0, tc.posZero}, {nan, nan},
		} {
			got := tc.f(c.x)
			same := got == c.want && math.Signbit(got) == math.Signbit(c.want) ||
				math.IsNaN(got) && math.IsNaN(c.want)
			if !same {
				t.Errorf("%s(%v) = %v (signbit %v), want %v (signbit %v)",
					tc.name, c.x, got, math.Signbit(got), c.want, math.Signbit(c.want))
			}
		}
	}
	// Far out but finite, QuickGELU's exp overflows to +Inf: x/Inf is −0, not NaN.
	if got := quick(-1e300); got != 0 || math.IsNaN(got) {
		t.Errorf("QuickGELU(-1e300) = %v, want 0", got)
	}
}
