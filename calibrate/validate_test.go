package calibrate

import (
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/tensor"
)

// rowsReader yields rows 0..n-1 (the row number is the value) in batches of b.
type rowsReader struct{ n, b, next int }

func (r *rowsReader) Reset() error { r.next = 0; return nil }
func (r *rowsReader) Close() error { return nil }
func (r *rowsReader) Next() (map[string]*tensor.Tensor, error) {
	if r.next >= r.n {
		return nil, io.EOF
	}
	k := min(r.b, r.n-r.next)
	v := make([]float32, 2*k)
	for i := range k {
		v[2*i], v[2*i+1] = float32(r.next+i), float32(r.next+i)
	}
	r.next += k
	return map[string]*tensor.Tensor{"x": tensor.New([]int{k, 2}, v)}, nil
}

func splitRows(t *testing.T, r Reader) []int {
	t.Helper()
	if err := r.Reset(); err != nil {
		t.Fatal(err)
	}
	var rows []int
	for {
		b, err := r.Next()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		x := b["x"].F32()
		for i := 0; i < len(x); i += 2 {
			if x[i] != x[i+1] {
				t.Fatalf("row %v torn apart", x[i:i+2])
			}
			rows = append(rows, int(x[i]))
		}
	}
}

func TestHoldOutSplitsRowsExactly(t *testing.T) {
	for _, c := range []struct {
		frac       float64
		whole      bool
		n, b, held int
		first      []int
	}{
		{0.25, false, 256, 64, 64, []int{3, 7, 11}},
		{0.2, false, 100, 7, 20, []int{4, 9, 14}},
		{0.5, false, 9, 4, 4, []int{1, 3, 5}},
		{0.25, true, 40, 10, 10, []int{30, 31, 32}}, // whole batches: the 4th batch
	} {
		fit, held := HoldOut{Fraction: c.frac, WholeBatches: c.whole}.Split(&rowsReader{n: c.n, b: c.b})
		f, h := splitRows(t, fit), splitRows(t, held)
		if len(h) != c.held || len(f)+len(h) != c.n {
			t.Errorf("%+v: %d fit + %d held-out rows", c, len(f), len(h))
		}
		seen := map[int]bool{}
		for _, r := range append(f, h...) {
			if seen[r] {
				t.Errorf("%+v: row %d on both sides", c, r)
			}
			seen[r] = true
		}
		for i, r := range c.first {
			if i >= len(h) || h[i] != r {
				t.Errorf("%+v: held-out rows start %v, want %v", c, h[:min(len(h), 3)], c.first)
				break
			}
		}
	}
	// The views share their source: reading one in the other's pass is refused, not mixed.
	fit, held := HoldOut{Fraction: 0.25}.Split(&rowsReader{n: 8, b: 4})
	fit.Reset()
	held.Reset()
	if _, err := fit.Next(); err != errSplitInterleaved {
		t.Errorf("interleaved read: %v", err)
	}
	if err := (HoldOut{Fraction: 1}).Validate(); err == nil {
		t.Error("holding out every row must be refused")
	}
}

func TestGateChecks(t *testing.T) {
	cmp := &Comparison{Outputs: []OutputError{{Name: "logits", RelL2: 0.05, Top1Agreement: 0.97}, {Name: "aux", RelL2: math.NaN(), Top1Agreement: 1}}}
	rel, err := ParseGateLimits("--max-rel-l2", "0.1,aux=0.5", false)
	if err != nil {
		t.Fatal(err)
	}
	agree, err := ParseGateLimits("--min-agreement", "logits=0.98", true)
	if err != nil {
		t.Fatal(err)
	}
	checks, err := Gate{MaxRelL2: rel, MinAgreement: agree}.Check(cmp, "held_out")
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, false, false} // logits rel-L2, logits agreement, aux rel-L2 (NaN never passes)
	if len(checks) != len(want) {
		t.Fatalf("checks %+v", checks)
	}
	for i, c := range checks {
		if c.Passed != want[i] {
			t.Errorf("check %s: passed %v, want %v", c, c.Passed, want[i])
		}
	}
	if !GateFailed(checks) {
		t.Error("GateFailed")
	}
	if b, err := json.Marshal(checks); err != nil || !strings.Contains(string(b), `"value":"NaN"`) {
		t.Errorf("a NaN check must encode: %s %v", b, err)
	}
	for _, bad := range []string{"x", "-1", "NaN", "a=1,a=2", "=0.1", "1.5"} {
		if _, err := ParseGateLimits("--min-agreement", bad, true); err == nil {
			t.Errorf("--min-agreement %q accepted", bad)
		}
	}
	if _, err := (Gate{MaxRelL2: map[string]float64{"nope": 1}}).Check(cmp, "held_out"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown output: %v", err)
	}
}

// TestCalibratedNeverWorseThanDefaults is the acceptance check of "never worse": on every bundled
// classifier and family, the calibrated model's error on held-out rows, measured here by a
// separate comparison, is no worse than the rewriter's uncalibrated defaults'. CRReLU on the GELU
// MLP is the case where the fit is worse than the defaults (0.092 vs 0.087) and the
// defaults must be kept.
func TestCalibratedNeverWorseThanDefaults(t *testing.T) {
	keptDefaults := false
	for _, model := range []string{"digits_cnn", "digits_mlp_gelu", "digits_vit"} {
		d := openDigits(t, model)
		for _, fam := range []onnxops.Family{onnxops.FamilyPWLU, onnxops.FamilyCRReLU, onnxops.FamilyZorro} {
			rule := HoldOut{Fraction: DefaultHeldOut}
			fit, held := rule.Split(d.calib)
			res, err := Calibrate(d.m, fit, Options{To: fam, HeldOut: held, HeldOutFrom: "test"})
			if err != nil {
				t.Fatalf("%s %s: %v", model, fam, err)
			}
			defaults, _, err := rewrite.Apply(d.m, rewrite.Options{To: fam})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Compare(d.m, res.Model, held, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			base, err := Compare(d.m, defaults, held, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			g, b := got.Outputs[0].RelL2, base.Outputs[0].RelL2
			t.Logf("%-16s %-6s held-out rel-L2 %.4g (uncalibrated %.4g), kept %s", model, fam, g, b, res.Validation.Kept)
			if g > b {
				t.Errorf("%s %s: calibrated held-out rel-L2 %.4g worse than the defaults' %.4g", model, fam, g, b)
			}
			if res.Validation.HeldOut == nil || res.Validation.HeldOut.Rows != 64 || res.Validation.InSample.Rows != 192 {
				t.Errorf("%s %s: validation %+v", model, fam, res.Validation)
			}
			keptDefaults = keptDefaults || res.Validation.Kept == CandidateDefaults
		}
	}
	if !keptDefaults {
		t.Error("no case kept the defaults: the choice is not exercised")
	}
}

// TestPerChannelNeverWorseThanPerTensor: per-channel fits used to over-fit thin channels (PWLU on
// digits_mlp_gelu: held-out rel-L2 2.4e-3 against 8.2e-4 per tensor). With each channel pulled
// towards the per-tensor fit, and the per-tensor fit a candidate, the held-out error is no worse
// than per tensor; measured here by a separate comparison.
func TestPerChannelNeverWorseThanPerTensor(t *testing.T) {
	d := openDigits(t, "digits_mlp_gelu")
	for _, fam := range []onnxops.Family{onnxops.FamilyPWLU, onnxops.FamilyZorro} {
		errs := map[bool]float64{}
		for _, perChannel := range []bool{false, true} {
			fit, held := HoldOut{Fraction: DefaultHeldOut}.Split(d.calib)
			res, err := Calibrate(d.m, fit, Options{To: fam, PerChannel: perChannel, HeldOut: held})
			if err != nil {
				t.Fatal(err)
			}
			cmp, err := Compare(d.m, res.Model, held, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			errs[perChannel] = cmp.Outputs[0].RelL2
			t.Logf("%s per-channel=%v: held-out rel-L2 %.4g, kept %s", fam, perChannel, errs[perChannel], res.Validation.Kept)
		}
		if errs[true] > errs[false] {
			t.Errorf("%s: per-channel held-out rel-L2 %.4g worse than per-tensor %.4g", fam, errs[true], errs[false])
		}
		// PWLU per-channel once improved on per-tensor (7.6e-4 vs 8.2e-4); the per-tensor fit is
		// now output-aware (4.5e-4) and wins, and --per-channel keeps it: the errors are equal.
	}
}

// TestSequentialPerChannelNeverWorse: --sequential --per-channel compares its greedy choices with
// every result the independent per-channel run has (the shrunk and unshrunk channel fits, the
// per-tensor and output-aware fits) and the defaults, on the same held-out rows, so it is never
// worse there than calibrating without --sequential.
func TestSequentialPerChannelNeverWorse(t *testing.T) {
	d := openDigits(t, "digits_mlp_gelu")
	errs := map[bool]float64{}
	for _, sequential := range []bool{false, true} {
		fit, held := HoldOut{Fraction: DefaultHeldOut}.Split(d.calib)
		res, err := Calibrate(d.m, fit, Options{To: onnxops.FamilyPWLU, PerChannel: true, Sequential: sequential, HeldOut: held})
		if err != nil {
			t.Fatal(err)
		}
		cmp, err := Compare(d.m, res.Model, held, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		errs[sequential] = cmp.Outputs[0].RelL2
		names := map[string]bool{}
		for _, c := range res.Validation.Candidates {
			names[c.Name] = true
		}
		for _, want := range []string{CandidatePerTensor, CandidateUnshrunk, CandidateOutputAware, CandidateDefaults} {
			if !names[want] {
				t.Errorf("sequential=%v: no %q candidate among %v", sequential, want, res.Validation.Candidates)
			}
		}
		t.Logf("sequential=%v per-channel: held-out rel-L2 %.4g, kept %s", sequential, errs[sequential], res.Validation.Kept)
	}
	if errs[true] > errs[false]*(1+1e-9) {
		t.Errorf("--sequential --per-channel held-out rel-L2 %.4g worse than without --sequential, %.4g", errs[true], errs[false])
	}
}
