package calibrate

import (
	"fmt"
	"math"
	"strings"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/tensor"
)

// Names of the results a calibration run compares end to end before handing one back.
const (
	CandidateCalibrated  = "calibrated"            // every site fitted on the calibration rows
	CandidateSequential  = "sequential"            // --sequential's greedy end-to-end choices
	CandidateIndependent = "independent"           // --sequential's starting point: independent fits
	CandidateShrunk      = "per-channel"           // --per-channel: each channel pulled towards the per-tensor fit
	CandidatePerTensor   = "per-tensor"            // --per-channel's alternatives: one set per site,
	CandidateUnshrunk    = "per-channel, no prior" // or each channel on its own data alone
	CandidateOutputAware = "output-aware"          // the fits refined in the metric of the linear map after each site
	CandidateDefaults    = "uncalibrated defaults" // rewrite's defaults, which assume inputs ~ N(0,1)
	CandidateRefitted    = "refitted"              // calibrate: new parameters for the same families
	CandidateAsGiven     = "as given"              // calibrate: the parameters the model came with
	heldOutRows          = "held_out"              // GateCheck.On and Validation.ChosenOn
	inSampleRows         = "in_sample"
	followFactor         = 0.5 // a family follows a target if it removes half of ReLU's error
	endToEndWarnRelL2    = 0.1 // held-out rel-L2 above which the whole model is flagged
	endToEndWarnAgree    = 0.9 // top-1 agreement below which the whole model is flagged
	// roundingRelL2 is a relative L2 error that float32 rounding alone makes between models
	// computing the same function (ReLU → PWLU: 2.4e-7 on the digits, 4.8e-7 on resnet18).
	roundingRelL2 = 1e-6
)

// Validation is how a calibration's result was checked: the candidate results compared end to end
// on rows the fits did not see, the one kept, and its in-sample and held-out errors.
type Validation struct {
	// HeldOutFrom says where the held-out rows come from; empty when none were held out.
	HeldOutFrom string `json:"held_out_from,omitempty"`
	// InSample compares the kept model with the original on the rows the fits used.
	InSample *Comparison `json:"in_sample"`
	// HeldOut compares them on the held-out rows (absent when none were held out).
	HeldOut *Comparison `json:"held_out,omitempty"`
	// ChosenOn names the rows the candidates were compared on: "held_out", or "in_sample" when no
	// row was held out.
	ChosenOn   string               `json:"chosen_on"`
	Candidates []ValidatedCandidate `json:"candidates"`
	Kept       string               `json:"kept"`
	// Warnings are what a user must not miss: families that cannot follow their sites, a model
	// that does not follow the original end to end.
	Warnings []string `json:"warnings,omitempty"`
}

// ValidatedCandidate is one candidate result's end-to-end error on the rows of ChosenOn.
type ValidatedCandidate struct {
	Name string `json:"name"`
	// RelL2 is ‖rewritten − original‖₂ / ‖original‖₂ pooled over every output: the choice's objective.
	RelL2         tensor.JSONFloat64 `json:"rel_l2_err"`
	Top1Agreement float64            `json:"top1_agreement"`
}

// resultCandidate is one complete set of site parameters and the model it makes.
type resultCandidate struct {
	name    string
	sites   []SiteReport
	model   *onnx.ModelProto
	rewrite []rewrite.Report
}

func fitsOf(reports []SiteReport) map[string]rewrite.SiteParams {
	fits := map[string]rewrite.SiteParams{}
	for _, r := range reports {
		fits[r.Node] = siteParams(r)
	}
	return fits
}

func familiesOf(reports []SiteReport) map[string]onnxops.Family {
	fams := map[string]onnxops.Family{}
	for _, r := range reports {
		fams[r.Node] = r.Family
	}
	return fams
}

// defaultReports are the calibrated reports with the rewriter's uncalibrated defaults for the
// same families in place of the fits.
func defaultReports(sites []rewrite.Site, calibrated []SiteReport) ([]SiteReport, error) {
	out := make([]SiteReport, len(sites))
	for i, s := range sites {
		rep := calibrated[i]
		sp, err := rewrite.DefaultParams(s, rep.Family)
		if err != nil {
			return nil, fmt.Errorf("site %q: %w", s.Node, err)
		}
		rep.Parameters, rep.Sequential = sp.Sets, nil
		rep.Fit = pointwiseError(sp.Sets, rep.hist, rep.target)
		out[i] = rep
	}
	return out, nil
}

// alternativeReports are reports with each site's alternative (of, when it has one) in place of
// its parameters; ok is false when no site has one.
func alternativeReports(reports []SiteReport, of func(SiteReport) alternative) ([]SiteReport, bool) {
	out := make([]SiteReport, len(reports))
	ok := false
	for i, r := range reports {
		if alt := of(r); alt.sets != nil {
			r.Parameters, r.Fit, ok = alt.sets, alt.fit, true
			if len(alt.sets) == 1 {
				r.ChannelAxis = 0
			}
		}
		out[i] = r
	}
	return out, ok
}

// pooledRelL2 is the relative L2 error over every output together.
func pooledRelL2(c *Comparison) float64 {
	var e, r float64
	for _, o := range c.Outputs {
		e += o.sumSqErr
		r += o.sumSqRef
	}
	switch {
	case math.IsInf(c.maxAbs(), 1) || math.IsNaN(e):
		return math.Inf(1)
	case r > 0:
		return math.Sqrt(e / r)
	case e > 0:
		return math.Inf(1)
	}
	return 0
}

// maxAbs is the largest absolute difference over every output (+Inf when a value went NaN).
func (c *Comparison) maxAbs() float64 {
	m := 0.0
	for _, o := range c.Outputs {
		m = math.Max(m, o.MaxAbs)
	}
	return m
}

// keepBest compares the candidates end to end on the held-out rows (the calibration rows when
// none are held out) and returns the one with the smallest pooled relative L2 error; the first
// candidate wins exact ties. Even float32 rounding decides (ReLU → PWLU on digits_cnn: 2.42e-7
// fitted, 2.41e-7 default), so the result is never worse than any candidate on those rows. data are the calibration rows, for the kept model's in-sample errors.
func keepBest(orig *onnx.ModelProto, cands []resultCandidate, data Reader, opts Options) (resultCandidate, *Validation, error) {
	val := &Validation{HeldOutFrom: opts.HeldOutFrom, ChosenOn: heldOutRows}
	rows := opts.HeldOut
	var notes []string
	if rows != nil {
		n, err := countRows(rows)
		if err != nil {
			return resultCandidate{}, nil, fmt.Errorf("held-out rows: %w", err)
		}
		if n == 0 {
			notes = append(notes, fmt.Sprintf("no row was held out (%s): the data have too few rows; the choice and the errors below are in sample — give separate held-out data (Options.HeldOut)", opts.HeldOutFrom))
			rows, opts.HeldOut = nil, nil
		}
	}
	if rows == nil {
		rows, val.ChosenOn, val.HeldOutFrom = data, inSampleRows, ""
	}
	best, bestErr := -1, math.Inf(1)
	var bestCmp *Comparison
	for i, c := range cands {
		cmp, err := Compare(orig, c.model, rows, nil, opts.Threads)
		if err != nil {
			return resultCandidate{}, nil, fmt.Errorf("validating the %s result on the %s rows: %w", c.name, strings.ReplaceAll(val.ChosenOn, "_", "-"), err)
		}
		e := pooledRelL2(cmp)
		val.Candidates = append(val.Candidates, ValidatedCandidate{Name: c.name, RelL2: tensor.JSONFloat64(e), Top1Agreement: cmp.Top1Agreement})
		if best < 0 || e < bestErr {
			best, bestErr, bestCmp = i, e, cmp
		}
	}
	kept := cands[best]
	val.Kept = kept.name
	if opts.HeldOut != nil {
		val.HeldOut = bestCmp
		in, err := Compare(orig, kept.model, data, nil, opts.Threads)
		if err != nil {
			return resultCandidate{}, nil, fmt.Errorf("comparing on the calibration rows: %w", err)
		}
		val.InSample = in
	} else {
		val.InSample = bestCmp
	}
	for _, s := range kept.sites {
		if s.PerChannelNote != "" {
			notes = append(notes, s.PerChannelNote)
		}
	}
	val.Warnings = append(notes, followWarnings(kept.sites, val)...)
	return kept, val, nil
}

// followWarnings collects the sites' warnings and adds one for the whole model when it does not
// follow the original on the rows the choice was made on.
func followWarnings(sites []SiteReport, val *Validation) []string {
	var warnings []string
	bad := map[string]int{}
	better := map[onnxops.Family]bool{}
	for _, s := range sites {
		if s.Warning == "" {
			continue
		}
		warnings = append(warnings, s.Warning)
		bad[string(s.Family)]++
		for _, c := range s.Candidates {
			if c.WRMSE < followFactor*s.Fit.WRMSE {
				better[c.Family] = true
			}
		}
	}
	cmp, on := val.HeldOut, "held-out"
	if cmp == nil {
		cmp, on = val.InSample, "in-sample"
	}
	e := pooledRelL2(cmp)
	drift := e > endToEndWarnRelL2 || cmp.Top1Agreement < endToEndWarnAgree
	for _, fam := range sortedKeys(bad) {
		var alt []string
		for _, f := range onnxops.Families {
			if better[f] && f != onnxops.Family(fam) {
				alt = append(alt, strings.ToLower(string(f)))
			}
		}
		msg := fmt.Sprintf("%d of %d sites cannot follow their activation with %s", bad[fam], len(sites), strings.ToLower(fam))
		if len(alt) > 0 {
			msg += fmt.Sprintf("; use Options.To %s (or Options.To auto, which picks per site)", strings.Join(alt, " or "))
		}
		warnings = append(warnings, msg+fmt.Sprintf(": end to end %s rel-L2 %.3g, top-1 agreement %.1f%%", on, e, 100*cmp.Top1Agreement))
	}
	if drift && len(bad) == 0 {
		warnings = append(warnings, fmt.Sprintf("the rewritten model does not follow the original end to end: %s rel-L2 %.3g, top-1 agreement %.1f%% (flagged above rel-L2 %g or below %g%% agreement)",
			on, e, 100*cmp.Top1Agreement, endToEndWarnRelL2, 100*endToEndWarnAgree))
	}
	return warnings
}

// followWarning returns the warning of a site whose fit removes less than half of plain ReLU's
// error (CRReLU on a GELU whose inputs are symmetric about 0 is ReLU itself), naming the families
// that would follow, by the fits --to auto makes. It fits the other families only for such sites.
func followWarning(rep *SiteReport, layer *Stats, opts Options) error {
	if rep.ReLU.WRMSE == 0 || rep.Fit.WRMSE < followFactor*rep.ReLU.WRMSE {
		return nil
	}
	if rep.Candidates == nil {
		_, all, err := FitAuto(rep.target, layer, opts.Fit)
		if err != nil {
			return err
		}
		for _, f := range all {
			rep.Candidates = append(rep.Candidates, Candidate{Family: f.Family, FitError: f.FitError})
		}
	}
	var alt []string
	for _, c := range rep.Candidates {
		if c.Family != rep.Family && c.WRMSE < followFactor*rep.Fit.WRMSE {
			alt = append(alt, fmt.Sprintf("%s reaches %.3g", c.Family, c.WRMSE))
		}
	}
	rep.Warning = fmt.Sprintf("site %q: %s cannot follow %s here: its best fit, wRMSE %.3g, is %.0f%% of plain ReLU's %.3g",
		rep.Node, rep.Family, rep.Kind, rep.Fit.WRMSE, 100*rep.Fit.WRMSE/rep.ReLU.WRMSE, rep.ReLU.WRMSE)
	if len(alt) > 0 {
		rep.Warning += " (" + strings.Join(alt, ", ") + ")"
	}
	return nil
}

// nodeParams reads the parameter sets an ai.actswap node carries.
func nodeParams(sn scopedNode, inits map[string]*onnx.TensorProto) ([]onnxops.Params, error) {
	n := sn.node
	fam, err := onnxops.ParseFamily(n.GetOpType())
	if err != nil {
		return nil, err
	}
	var ts []*tensor.Tensor
	for _, name := range n.GetInput()[1:] {
		tp, ok := inits[onnx.ScopedName(sn.scope, name)]
		if !ok {
			return nil, fmt.Errorf("parameter %q is not an initializer", name)
		}
		t, err := tensor.FromProto(tp)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", name, err)
		}
		ts = append(ts, t)
	}
	sets, err := onnxops.ParamsFromTensors(fam, ts)
	if err != nil {
		return nil, err
	}
	for _, a := range n.GetAttribute() {
		if a.GetName() == "gate" && a.GetI() != 0 {
			for i, p := range sets {
				if z, ok := p.(onnxops.ZorroParams); ok {
					z.Gate = true
					sets[i] = z
				}
			}
		}
	}
	return sets, nil
}
