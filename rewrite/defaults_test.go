package rewrite

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/optimize"

	"github.com/actswap/actswap/onnxops"
)

// gaussianErrors returns the N(0,1)-weighted RMS error of f against target and the largest
// absolute error on [−span, span].
func gaussianErrors(f, target func(float64) float64, span float64) (wrmse, maxErr float64) {
	const h = 1.0 / 512
	var s float64
	for x := -8.0; x <= 8; x += h {
		d := f(x) - target(x)
		s += h * math.Exp(-x*x/2) / math.Sqrt(2*math.Pi) * d * d
		if math.Abs(x) <= span {
			maxErr = math.Max(maxErr, math.Abs(d))
		}
	}
	return math.Sqrt(s), maxErr
}

func TestDefaultsForReLUAreExact(t *testing.T) {
	t.Parallel()
	relu := Site{Kind: KindReLU}
	for _, tc := range []struct {
		fam onnxops.Family
		tol float64 // largest error allowed on [−50, 50]
	}{
		{onnxops.FamilyPWLU, 1e-12},
		{onnxops.FamilyCRReLU, 0},
		{onnxops.FamilyZorro, 7e-6}, // ReLU is a limit of Zorro: x·Z(10⁴x + ½) misses by ≤ 1/(16·10⁴)
	} {
		sp, err := DefaultParams(relu, tc.fam)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for x := -50.0; x <= 50; x += 1.0 / 4096 {
			worst = math.Max(worst, math.Abs(sp.Sets[0].Eval(x)-onnxops.ReLU(x)))
		}
		for x := -1e-3; x <= 1e-3; x += 1e-7 { // Zorro's smoothed step lives within 5e-5 of 0
			worst = math.Max(worst, math.Abs(sp.Sets[0].Eval(x)-onnxops.ReLU(x)))
		}
		if worst > tc.tol {
			t.Errorf("%s default for ReLU: max error %.3g on [−50, 50], want ≤ %.3g", tc.fam, worst, tc.tol)
		}
		t.Logf("%s ← ReLU: max error %.3g", tc.fam, worst)
	}
}

func TestDefaultsForGELU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		site          Site
		fam           onnxops.Family
		wrmse, maxErr float64 // bounds on N(0,1) weighted RMS and max error on [−4, 4]
	}{
		// activations.md §4.3 measures WLS N=16 μ±3σ: wRMSE 0.0028, max 0.0092.
		{Site{Kind: KindGELU}, onnxops.FamilyPWLU, 0.003, 0.0095},
		{Site{Kind: KindGELUTanh}, onnxops.FamilyPWLU, 0.003, 0.0095},
		{Site{Kind: KindQuickGELU, Alpha: 1.702}, onnxops.FamilyPWLU, 0.004, 0.02},
		// CRReLU with ε=0 is ReLU: wRMSE 0.1268, max 0.170 (activations.md §4.2).
		{Site{Kind: KindGELU}, onnxops.FamilyCRReLU, 0.127, 0.17},
		{Site{Kind: KindGELU}, onnxops.FamilyZorro, 0.0285, 0.095},
	} {
		sp, err := DefaultParams(tc.site, tc.fam)
		if err != nil {
			t.Fatal(err)
		}
		w, mx := gaussianErrors(sp.Sets[0].Eval, tc.site.Target(), 4)
		t.Logf("%s ← %s: wRMSE %.4f, max error %.4f on [−4, 4]", tc.fam, tc.site.Kind, w, mx)
		if w > tc.wrmse || mx > tc.maxErr {
			t.Errorf("%s ← %s: wRMSE %.4f (want ≤ %g), max %.4f (want ≤ %g)", tc.fam, tc.site.Kind, w, tc.wrmse, mx, tc.maxErr)
		}
	}
}

// TestGELUZorroDefaultIsFitted re-runs the offline fit behind geluZorro: Nelder–Mead over the
// six free parameters of the gated form x·Z(m·x + c; a_n, b_n, a_p, b_p) (out_scale 1 and
// out_shift 0 keep the asymptotes of GELU: y → x for x → ∞, y → 0 for x → −∞), started from the
// recorded values. The recorded set must be within 1% of what the refit reaches.
func TestGELUZorroDefaultIsFitted(t *testing.T) {
	t.Parallel()
	toParams := func(v []float64) onnxops.ZorroParams {
		an, ap := math.Exp(v[0]), math.Exp(v[2])
		return onnxops.ZorroParams{AN: an, BN: v[1] / an, AP: ap, BP: v[3] / ap, InScale: v[4], InShift: v[5], OutScale: 1, Gate: true}
	}
	loss := func(v []float64) float64 {
		w, _ := gaussianErrors(toParams(v).Eval, onnxops.GELU, 0)
		return w
	}
	p := geluZorro
	start := []float64{math.Log(p.AN), p.AN * p.BN, math.Log(p.AP), p.AP * p.BP, p.InScale, p.InShift}
	res, err := optimize.Minimize(optimize.Problem{Func: loss}, start, &optimize.Settings{FuncEvaluations: 1500}, &optimize.NelderMead{})
	if err != nil && res == nil {
		t.Fatal(err)
	}
	recorded := loss(start)
	t.Logf("recorded wRMSE %.5f, refit %.5f at %+v", recorded, res.F, toParams(res.X))
	if recorded > 1.01*res.F {
		t.Errorf("geluZorro is not a fitted optimum: wRMSE %.5f, a refit reaches %.5f with %+v", recorded, res.F, toParams(res.X))
	}
}

func TestGELUPWLUSlopes(t *testing.T) {
	t.Parallel()
	sp, err := DefaultParams(Site{Kind: KindGELU}, onnxops.FamilyPWLU)
	if err != nil {
		t.Fatal(err)
	}
	p := sp.Sets[0].(onnxops.PWLUParams)
	if p.N() != 16 || p.BL != -3 || p.BR != 3 || math.Abs(p.KL) > 0.02 || math.Abs(p.KR-1) > 0.02 {
		t.Fatalf("GELU PWLU default %+v, want N=16 on [−3, 3] with K_L ≈ 0 and K_R ≈ 1", p)
	}
	t.Logf("K_L %.4f, K_R %.4f", p.KL, p.KR)
}
