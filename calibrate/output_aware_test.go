package calibrate

import (
	"math"
	"testing"

	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// TestOutputObjectiveIsTheNextLayersError checks the output metric against the runtime: on
// digits_mlp_gelu, swapping the first GELU for a PWLU changes the Gemm after it by exactly
// (f(X) − GELU(X))W, so Σ of its squared change over the calibration rows must equal
// outputObjective on the token sample (every row is kept: 256 tokens of 128 channels).
func TestOutputObjectiveIsTheNextLayersError(t *testing.T) {
	d := openDigits(t, "digits_mlp_gelu")
	opts := Options{To: onnxops.FamilyPWLU}
	sites, err := selectSites(d.m, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := sites[0]
	lc, ok := findLinearConsumer(d.m, s)
	if !ok {
		t.Fatalf("site %s: no linear consumer found", s.Node)
	}
	if lc.c != 128 || lc.d != 128 {
		t.Fatalf("consumer %s is %d×%d, want 128×128 (Gemm with transB)", lc.node, lc.c, lc.d)
	}
	samples := make([]*tokenSample, len(sites))
	samples[0] = newTokenSample(lc, 0)
	stats, err := collect(d.m, d.calib, sites, opts, samples)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := fitSite(s, stats[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(samples[0].rows); n != 256 {
		t.Fatalf("sample kept %d tokens, want all 256", n)
	}
	got := outputObjective(evaluator(rep.Parameters[0]), samples[0], lc, rep.target, 1)

	swapped, _, err := applyFits(d.m, sites[:1], fitsOf([]SiteReport{rep}), familiesOf([]SiteReport{rep}), opts)
	if err != nil {
		t.Fatal(err)
	}
	gemmOut := ""
	for _, n := range d.m.GetGraph().GetNode() {
		if n.GetName() == lc.node {
			gemmOut = n.GetOutput()[0]
		}
	}
	var want float64
	orig, err := runtime.NewSession(d.m)
	if err != nil {
		t.Fatal(err)
	}
	repl, err := runtime.NewSession(swapped)
	if err != nil {
		t.Fatal(err)
	}
	err = eachBatch(d.calib, func(_, _ int, batch map[string]*tensor.Tensor) error {
		a, err := orig.Run(batch, gemmOut)
		if err != nil {
			return err
		}
		b, err := repl.Run(batch, gemmOut)
		if err != nil {
			return err
		}
		av, _ := float64Values(a[gemmOut])
		bv, _ := float64Values(b[gemmOut])
		for i := range av {
			want += (bv[i] - av[i]) * (bv[i] - av[i])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want == 0 || math.Abs(got-want) > 2e-3*want {
		t.Errorf("outputObjective %.6g, the runtime's change of %s %.6g", got, gemmOut, want)
	}
}

// TestOutputAwareBeatsPointwise is the point of output-aware fitting: on digits_mlp_gelu (PWLU 16)
// the held-out output error falls by ≥ 40% against the pointwise fits (measured 8.19e-4 →
// 4.47e-4), and the output-aware result is the one kept.
func TestOutputAwareBeatsPointwise(t *testing.T) {
	d := openDigits(t, "digits_mlp_gelu")
	fit, held := HoldOut{Fraction: DefaultHeldOut}.Split(d.calib)
	res, err := Calibrate(d.m, fit, Options{To: onnxops.FamilyPWLU, HeldOut: held})
	if err != nil {
		t.Fatal(err)
	}
	errs := map[string]float64{}
	for _, c := range res.Validation.Candidates {
		errs[c.Name] = float64(c.RelL2)
	}
	oa, ok := errs[CandidateOutputAware]
	if !ok {
		t.Fatalf("no %s candidate: %+v", CandidateOutputAware, res.Validation.Candidates)
	}
	t.Logf("held-out rel-L2: pointwise %.4g, output-aware %.4g, kept %s", errs[CandidateCalibrated], oa, res.Validation.Kept)
	if oa > 0.6*errs[CandidateCalibrated] {
		t.Errorf("output-aware %.4g is not 40%% below the pointwise fits' %.4g", oa, errs[CandidateCalibrated])
	}
	if res.Validation.Kept != CandidateOutputAware {
		t.Errorf("kept %s", res.Validation.Kept)
	}
}

// TestLinearConsumerNeedsOneLinearReader: a site read by two nodes, or by a non-linear one, has no
// output metric (fitted pointwise).
func TestLinearConsumerNeedsOneLinearReader(t *testing.T) {
	d := openDigits(t, "digits_mlp_gelu")
	sites, err := rewrite.Find(d.m)
	if err != nil {
		t.Fatal(err)
	}
	s := sites[0]
	s.Output = s.Input // read by the activation's own nodes, not by a Gemm
	if _, ok := findLinearConsumer(d.m, s); ok {
		t.Error("a value read by the activation's Div/Mul was given a linear consumer")
	}
}
