package calibrate

import (
	"math"
	"strings"
	"testing"

	"github.com/actswap/actswap/onnxops"
)

// With one site, swapping it alone is the whole rewrite: the sensitivity must equal the
// end-to-end comparison of the calibrated model on the same rows (SensitivityRows of them).
func TestSensitivityOfOnlySiteIsTheEndToEndError(t *testing.T) {
	m := synthModel()
	res, err := Calibrate(m, &synthReader{batches: 2}, Options{To: onnxops.FamilyZorro})
	if err != nil {
		t.Fatal(err)
	}
	data := &synthReader{batches: 3} // 768 rows, of which the first 256 are read
	if err := MeasureSensitivity(m, res, data, 0); err != nil {
		t.Fatal(err)
	}
	want, err := Compare(m, res.Model, &synthReader{batches: 1}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := res.Sites[0].Sensitivity
	if got == nil || got.Rows != SensitivityRows || want.Rows != SensitivityRows {
		t.Fatalf("sensitivity %+v over %d rows, want %d rows", got, want.Rows, SensitivityRows)
	}
	if !(want.Outputs[0].RelL2 > 0) || math.Abs(got.RelL2-want.Outputs[0].RelL2) > 1e-12 || got.Top1Agreement != want.Top1Agreement {
		t.Errorf("sensitivity %+v, end to end rel-L2 %g, top-1 %g", got, want.Outputs[0].RelL2, want.Top1Agreement)
	}
}

// A refitted model names its sites by the ai.actswap node ("<node>/actswap_<family>"); they are
// found in the original by the node they replaced. A site the original lacks is an error and
// leaves the result as it was.
func TestSensitivitySiteNames(t *testing.T) {
	m := synthModel()
	res, err := Calibrate(m, &synthReader{batches: 1}, Options{To: onnxops.FamilyPWLU})
	if err != nil {
		t.Fatal(err)
	}
	res.Sites[0].Node += "/actswap_pwlu"
	if err := MeasureSensitivity(m, res, &synthReader{batches: 1}, 0); err != nil {
		t.Fatalf("refitted site name: %v", err)
	}
	res.Sites[0].Node, res.Sites[0].Sensitivity = "elsewhere", nil
	if err := MeasureSensitivity(m, res, &synthReader{batches: 1}, 0); err == nil || !strings.Contains(err.Error(), `"elsewhere"`) {
		t.Errorf("unknown site: %v", err)
	}
	if res.Sites[0].Sensitivity != nil {
		t.Error("a failed measurement set a sensitivity")
	}
}

func TestVerdict(t *testing.T) {
	cmp := func(relL2, agree float64) *Comparison {
		return &Comparison{Rows: 10, Top1Agreement: agree, Outputs: []OutputError{{Name: "y", RelL2: relL2}}}
	}
	for _, c := range []struct {
		name  string
		r     Report
		level string
		says  []string
	}{
		{"nothing measured", Report{}, verdictUnknown, []string{"No end-to-end comparison"}},
		{"good held out", Report{Validation: &Validation{HeldOut: cmp(0.004, 1), InSample: cmp(0.5, 0)}}, verdictGood, []string{"held-out rows", "0.004"}},
		{"in sample only", Report{Validation: &Validation{InSample: cmp(0.02, 0.995)}}, verdictFair, []string{"in sample"}},
		{"poor", Report{Compare: cmp(0.64, 0)}, verdictPoor, []string{"does not follow", "0.64"}},
		{"NaN is not a match", Report{Compare: cmp(math.NaN(), 1)}, verdictPoor, []string{"NaN"}},
		{"gate", Report{Compare: cmp(0.001, 1), Gate: []GateCheck{{Output: "y", Metric: "rel_l2_err", Limit: 1e-4, Value: 1e-3, On: "held_out"}}}, verdictFail, []string{"quality gate failed"}},
		{"sensitive site", Report{Compare: cmp(0.001, 1), Sites: []SiteJSON{
			{Node: "a", Sensitivity: &SiteSensitivity{RelL2: 1e-4}}, {Node: "b", Sensitivity: &SiteSensitivity{RelL2: 9e-4}}}}, verdictGood, []string{"most sensitive site is b"}},
		{"exact sites are never named", Report{Compare: cmp(0, 1), Sites: []SiteJSON{
			{Node: "a", Sensitivity: &SiteSensitivity{}}, {Node: "b", Sensitivity: &SiteSensitivity{}}}}, verdictGood, nil},
	} {
		level, text := c.r.verdict()
		if level != c.level {
			t.Errorf("%s: level %s, want %s (%s)", c.name, level, c.level, text)
		}
		for _, s := range c.says {
			if !strings.Contains(text, s) {
				t.Errorf("%s: %q does not say %q", c.name, text, s)
			}
		}
		if c.name == "exact sites are never named" && strings.Contains(text, "sensitive") {
			t.Errorf("%s: %q", c.name, text)
		}
	}
}
