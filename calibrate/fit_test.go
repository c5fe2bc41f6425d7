package calibrate

import (
	"math"
	"reflect"
	"sync"
	"testing"

	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// sampledStats holds statistics of 1M samples from named distributions, built once per test run.
var sampledStats = sync.OnceValue(func() map[string]*Stats {
	out := map[string]*Stats{}
	for _, c := range []struct {
		name      string
		mu, sigma float64
	}{{"N(0,1)", 0, 1}, {"N(0.5,1.5²)", 0.5, 1.5}, {"N(3,0.2²)", 3, 0.2}, {"N(0,10²)", 0, 10}} {
		st := NewStats(0)
		xs := normalSamples(1<<20, c.mu, c.sigma, 7)
		for i := 0; i < len(xs); i += 65536 {
			st.Add(xs[i : i+65536])
		}
		out[c.name] = st
	}
	return out
})

// sampleStats returns the statistics of the named distribution (see sampledStats).
func sampleStats(t *testing.T, name string) *Stats {
	t.Helper()
	st, ok := sampledStats()[name]
	if !ok {
		t.Fatalf("no distribution %q", name)
	}
	return st
}

// TestPWLUReproducesSpec checks the measured WLS numbers of activations.md §4.3 (GELU_erf target).
// The spec's bounds were fixed at μ±3σ; our search over c ∈ [2,4] must do at least as well in both
// wRMSE and max error.
func TestPWLUReproducesSpec(t *testing.T) {
	st := sampleStats(t, "N(0,1)")
	cases := []struct {
		n                 int
		maxWRMSE, maxAbs  float64
		wantWRMSE, wantMx float64 // the spec's numbers at the fixed μ±3σ bounds
	}{
		{n: 8, maxWRMSE: 0.0120, maxAbs: 0.036, wantWRMSE: 0.0120, wantMx: 0.036},
		{n: 16, maxWRMSE: 0.0028, maxAbs: 0.0092, wantWRMSE: 0.0028, wantMx: 0.0092},
		{n: 32, maxWRMSE: 0.0007 * 1.05, maxAbs: 0.0028, wantWRMSE: 0.0007, wantMx: 0.0028},
	}
	prev := math.Inf(1)
	for _, c := range cases {
		f, err := FitStats(onnxops.FamilyPWLU, TargetGELU, st, FitOptions{PWLUPoints: c.n})
		if err != nil {
			t.Fatal(err)
		}
		if f.WRMSE > c.maxWRMSE || f.MaxAbs > c.maxAbs {
			t.Errorf("N=%d searched: wRMSE %.5f max %.5f, want ≤ %.5f / %.4f", c.n, f.WRMSE, f.MaxAbs, c.maxWRMSE, c.maxAbs)
		}
		if f.WRMSE >= prev {
			t.Errorf("N=%d: wRMSE %.5f does not improve on fewer intervals (%.5f)", c.n, f.WRMSE, prev)
		}
		prev = f.WRMSE

		// The fixed μ±3σ fit must reproduce the spec's table to its printed precision.
		d, _ := newDistribution(st, TargetGELU, 1e-3)
		p, err := pwluLeastSquares(TargetGELU, d.fit, st.Mean-3*st.Std(), st.Mean+3*st.Std(), c.n)
		if err != nil {
			t.Fatal(err)
		}
		e := measure(p.Eval, d.data)
		if math.Abs(e.WRMSE-c.wantWRMSE) > 0.06*c.wantWRMSE || math.Abs(e.MaxAbs-c.wantMx) > 0.1*c.wantMx {
			t.Errorf("N=%d μ±3σ: wRMSE %.5f max %.5f, spec %.4f / %.4f", c.n, e.WRMSE, e.MaxAbs, c.wantWRMSE, c.wantMx)
		}
		if c.n == 16 && (math.Abs(p.KL) > 0.05 || math.Abs(p.KR-1) > 0.05) {
			t.Errorf("outer slopes K_L=%v K_R=%v, want ≈ 0 and 1", p.KL, p.KR)
		}
	}
}

func TestReLUTargetIsExact(t *testing.T) {
	for _, name := range []string{"N(0,1)", "N(0.5,1.5²)", "N(3,0.2²)", "N(0,10²)"} {
		st := sampleStats(t, name)
		for _, fam := range []onnxops.Family{onnxops.FamilyPWLU, onnxops.FamilyCRReLU} {
			f, err := FitStats(fam, TargetReLU, st, FitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if f.MaxAbs > 1e-12*math.Max(1, math.Abs(st.Max)) {
				t.Errorf("%s %s: max error %g, want exact", name, fam, f.MaxAbs)
			}
			// Exact everywhere, not only on the data: probe far outside.
			for _, x := range []float64{-1e3, -1, -1e-9, 0, 1e-9, 1, 1e3} {
				if got := f.Params.Eval(x); math.Abs(got-onnxops.ReLU(x)) > 1e-9*math.Max(1, math.Abs(x)) {
					t.Errorf("%s %s: f(%g) = %g", name, fam, x, got)
				}
			}
		}
	}
}

func TestCRReLUClosedForm(t *testing.T) {
	// Symmetric data: ε* ≈ 0 and CRReLU equals ReLU's error (§4.2 table: 0.1268 / 0.170).
	st := sampleStats(t, "N(0,1)")
	f, err := FitStats(onnxops.FamilyCRReLU, TargetGELU, st, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eps := f.Params.(onnxops.CRReLUParams).Epsilon
	if math.Abs(eps) > 2e-3 {
		t.Errorf("ε* = %v on symmetric data, want ≈ 0", eps)
	}
	if math.Abs(f.WRMSE-0.1268) > 0.002 || math.Abs(f.MaxAbs-0.170) > 0.002 {
		t.Errorf("wRMSE %.4f max %.4f, want ≈ 0.1268 / 0.170", f.WRMSE, f.MaxAbs)
	}
	// Shifted data: ε* ≈ −0.054 and a small improvement (0.1135 → 0.1113).
	st = sampleStats(t, "N(0.5,1.5²)")
	f, err = FitStats(onnxops.FamilyCRReLU, TargetGELU, st, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	relu, _ := ReLUError(TargetGELU, st)
	eps = f.Params.(onnxops.CRReLUParams).Epsilon
	if math.Abs(eps+0.054) > 0.005 || math.Abs(f.WRMSE-0.1113) > 0.002 || math.Abs(relu.WRMSE-0.1135) > 0.002 {
		t.Errorf("ε* = %.4f wRMSE %.4f (ReLU %.4f), want −0.054, 0.1113 (0.1135)", eps, f.WRMSE, relu.WRMSE)
	}
	init, _ := FitStats(onnxops.FamilyCRReLU, TargetGELU, st, FitOptions{Objective: ObjectiveInit})
	if init.Params.(onnxops.CRReLUParams).Epsilon != 0.01 {
		t.Errorf("init ε = %v, want 0.01", init.Params)
	}
}

func TestZorroFit(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-start LM")
	}
	st := sampleStats(t, "N(0,1)")
	f, err := FitStats(onnxops.FamilyZorro, TargetGELU, st, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// §1.11: gate x·SZ(x) against GELU on N(0,1): wRMSE 0.029, max 0.094.
	if f.WRMSE > 0.031 || f.MaxAbs > 0.11 {
		t.Errorf("GELU: wRMSE %.4f max %.4f, want ≈ 0.029 / 0.094 (%+v)", f.WRMSE, f.MaxAbs, f.Params)
	}
	for _, name := range []string{"N(0,1)", "N(3,0.2²)", "N(0,10²)"} {
		st := sampleStats(t, name)
		for _, target := range []Target{TargetReLU, TargetGELU} {
			f, err := FitStats(onnxops.FamilyZorro, target, st, FitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			relu, _ := ReLUError(target, st)
			if f.WRMSE > relu.WRMSE+0.01*st.Std() {
				t.Errorf("%s %s: Zorro wRMSE %.4g worse than ReLU's %.4g", name, target, f.WRMSE, relu.WRMSE)
			}
			if target == TargetReLU && f.WRMSE > 0.01*st.Std() {
				t.Errorf("%s: Zorro wRMSE %.4g against ReLU, want < 1%% of σ", name, f.WRMSE)
			}
		}
	}
}

func TestFitAutoPrefersCheapOnTies(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-start LM")
	}
	st := sampleStats(t, "N(0,1)")
	best, all, err := FitAuto(TargetReLU, st, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if best.Family != onnxops.FamilyCRReLU || len(all) != 3 {
		t.Errorf("ReLU target: auto chose %s, want CRReLU (exact and cheapest)", best.Family)
	}
	best, _, err = FitAuto(TargetGELU, st, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if best.Family != onnxops.FamilyPWLU {
		t.Errorf("GELU target: auto chose %s, want PWLU", best.Family)
	}
}

func TestInitObjective(t *testing.T) {
	st := sampleStats(t, "N(0.5,1.5²)")
	f, err := FitStats(onnxops.FamilyPWLU, TargetGELU, st, FitOptions{Objective: ObjectiveInit})
	if err != nil {
		t.Fatal(err)
	}
	p := f.Params.(onnxops.PWLUParams)
	if math.Abs(p.BL-(st.Mean-3*st.Std())) > 1e-12 || math.Abs(p.BR-(st.Mean+3*st.Std())) > 1e-12 || p.KL != 0 || p.KR != 1 {
		t.Errorf("init PWLU %+v, want μ±3σ bounds with slopes 0, 1", p)
	}
	for i, h := range p.Heights {
		if h != onnxops.ReLU(p.Knot(i)) {
			t.Errorf("height %d = %v, want ReLU of knot", i, h)
		}
	}
	// §2.3: ReLU target, N(0.5,1.5²), no snapping: max error 0.056 at N=16.
	r, _ := FitStats(onnxops.FamilyPWLU, TargetReLU, st, FitOptions{Objective: ObjectiveInit})
	if math.Abs(r.MaxAbs-0.056) > 0.004 {
		t.Errorf("unsnapped ReLU init: max %.4f, want ≈ 0.056", r.MaxAbs)
	}
}

func TestFitErrors(t *testing.T) {
	if _, err := FitStats(onnxops.FamilyPWLU, TargetGELU, NewStats(0), FitOptions{}); err == nil {
		t.Error("fitting empty statistics should fail")
	}
	// Constant inputs must still give usable parameters.
	st := NewStats(0)
	st.Add([]float32{2, 2, 2})
	for _, fam := range onnxops.Families {
		if _, err := FitStats(fam, TargetGELU, st, FitOptions{}); err != nil {
			t.Errorf("%s on constant data: %v", fam, err)
		}
	}
}

// TestFitChannelsIsTheSerialFit: fitting the channels of a site on several goroutines gives each
// channel the fit it gets alone, in its place.
func TestFitChannelsIsTheSerialFit(t *testing.T) {
	const rows, channels, inner = 8, 7, 64
	xs := normalSamples(rows*channels*inner, 0, 1, 3)
	for i := range xs {
		ch := i / inner % channels
		xs[i] = xs[i]*float32(0.5+0.25*float64(ch)) + float32(ch)/4 // each channel its own spread
	}
	ss := NewSiteStats(0, true)
	if err := ss.AddTensor(tensor.New([]int{rows, channels, inner}, xs)); err != nil {
		t.Fatal(err)
	}
	for _, fam := range []onnxops.Family{onnxops.FamilyZorro, onnxops.FamilyPWLU} {
		layer, err := FitStats(fam, TargetGELU, ss.Layer, FitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fo := FitOptions{start: layer.Params}
		prior := channelPrior(layer.Params)
		got, err := fitChannels(ss, fam, TargetGELU, prior, fo, 3)
		if err != nil {
			t.Fatal(err)
		}
		for c, st := range ss.Channels {
			want, err := FitStats(fam, TargetGELU, shrinkTowards(st, ss.Layer, prior), fo)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got[c], want) {
				t.Errorf("%s channel %d: %+v, fitted alone %+v", fam, c, got[c], want)
			}
		}
	}
}
