package calibrate

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/actswap/actswap/onnxops"
)

// Report is the JSON form of a calibration run (--report).
type Report struct {
	Model     string     `json:"model,omitempty"`
	To        string     `json:"to"`
	Objective Objective  `json:"objective"`
	Sites     []SiteJSON `json:"sites"`
	// Notice says what a user must know about the parameters (a notice such as "uncalibrated: ...").
	Notice string `json:"notice,omitempty"`
	// Validation holds the end-to-end errors on the calibration rows (in_sample) and on held-out
	// rows (held_out), the candidate results compared and the one kept.
	Validation *Validation `json:"validation,omitempty"`
	// Gate is every quality-gate check made, passed or failed.
	Gate []GateCheck `json:"gate,omitempty"`
	// Compare is an extra comparison the caller made (the demo's, on the test set).
	Compare *Comparison   `json:"compare,omitempty"`
	Options ReportOptions `json:"options"`
	// Sequential is the end-to-end objective of the sequential choices and of independent fitting.
	Sequential *SequentialSummary `json:"sequential,omitempty"`
}

// ReportOptions records the settings a report was produced with.
type ReportOptions struct {
	PWLUPoints int  `json:"pwlu_points"`
	PerChannel bool `json:"per_channel"`
	Sequential bool `json:"sequential"`
}

// SiteJSON is one site of a Report.
type SiteJSON struct {
	Scope      string           `json:"scope,omitempty"` // "" for the main graph
	Node       string           `json:"node"`
	Kind       string           `json:"kind"`
	Input      string           `json:"input"`
	Family     onnxops.Family   `json:"family"`
	Parameters []map[string]any `json:"parameters"` // one set, or one per channel along ChannelAxis
	// ChannelAxis is the input's axis of per-channel parameters (absent for one set);
	// PerChannelNote says why a site has one set although per-channel sets were asked for.
	ChannelAxis    int               `json:"channel_axis,omitempty"`
	PerChannelNote string            `json:"per_channel_note,omitempty"`
	Stats          StatsSummary      `json:"input_stats"`
	Fit            FitError          `json:"fit_error"`
	ReLU           FitError          `json:"relu_error"`
	Candidates     []Candidate       `json:"candidates,omitempty"`
	Sequential     *SequentialChoice `json:"sequential,omitempty"`
	Warning        string            `json:"warning,omitempty"`
	// Sensitivity is the end-to-end error with only this site swapped (MeasureSensitivity).
	Sensitivity *SiteSensitivity `json:"sensitivity,omitempty"`
}

// NewReport gathers a result (and optionally its comparison) for writing.
func NewReport(model string, res *Result, cmp *Comparison, opts Options) Report {
	fit := opts.Fit.withDefaults()
	r := Report{Model: model, To: string(opts.To), Objective: fit.Objective, Compare: cmp,
		Options:    ReportOptions{PWLUPoints: fit.PWLUPoints, PerChannel: opts.PerChannel, Sequential: opts.Sequential},
		Sequential: res.Sequential, Validation: res.Validation}
	if r.To == "" {
		r.To = "as rewritten"
	}
	for _, s := range res.Sites {
		js := SiteJSON{Scope: s.Scope, Node: s.Node, Kind: s.Kind, Input: s.Input, Family: s.Family, Stats: s.Stats, Fit: s.Fit, ReLU: s.ReLU, Candidates: s.Candidates, Sequential: s.Sequential, Warning: s.Warning, Sensitivity: s.Sensitivity,
			PerChannelNote: s.PerChannelNote}
		if len(s.Parameters) > 1 {
			js.ChannelAxis = s.axis()
		}
		for _, p := range s.Parameters {
			js.Parameters = append(js.Parameters, paramsJSON(p))
		}
		r.Sites = append(r.Sites, js)
	}
	return r
}

// paramsJSON names parameters as the operator inputs of OPS.md do.
func paramsJSON(p onnxops.Params) map[string]any {
	switch q := p.(type) {
	case onnxops.CRReLUParams:
		return map[string]any{"epsilon": q.Epsilon}
	case onnxops.PWLUParams:
		return map[string]any{"bounds": []float64{q.BL, q.BR}, "heights": q.Heights, "slopes": []float64{q.KL, q.KR}}
	case onnxops.ZorroParams:
		v := q.Vector()
		return map[string]any{"a_n": v[0], "b_n": v[1], "a_p": v[2], "b_p": v[3], "in_scale": v[4], "in_shift": v[5], "out_scale": v[6], "out_shift": v[7], "gate": q.Gate}
	}
	return map[string]any{}
}

// WriteJSON writes the report, indented.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText prints the per-site table and, when present, the validation, the extra comparison,
// the quality gate and the warnings (last, where they are seen).
func (r Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%-40s %-10s %-7s %10s %10s %10s %10s\n", "site", "kind", "family", "wRMSE", "max err", "ReLU wRMSE", "ReLU max")
	for _, s := range r.Sites {
		fmt.Fprintf(w, "%-40s %-10s %-7s %10.3g %10.3g %10.3g %10.3g\n", s.Node, s.Kind, s.Family, s.Fit.WRMSE, s.Fit.MaxAbs, s.ReLU.WRMSE, s.ReLU.MaxAbs)
	}
	header := false
	for _, s := range r.Sites {
		if s.Sensitivity == nil {
			continue
		}
		if !header {
			fmt.Fprintf(w, "\nsensitivity: end to end with only this site swapped\n%-40s %10s %10s\n", "site", "rel L2", "top-1 agr")
			header = true
		}
		fmt.Fprintf(w, "%-40s %10.3g %9.2f%%\n", s.Node, s.Sensitivity.RelL2, 100*s.Sensitivity.Top1Agreement)
	}
	if v := r.Validation; v != nil {
		v.WriteText(w)
	}
	if r.Compare != nil {
		r.Compare.WriteText(w)
	}
	for i, c := range r.Gate {
		if i == 0 {
			fmt.Fprintln(w, "\nquality gate:")
		}
		fmt.Fprintf(w, "  %s\n", c)
	}
	if r.Notice != "" {
		fmt.Fprintf(w, "\nnote: %s\n", r.Notice)
	}
	if r.Validation != nil {
		for _, msg := range r.Validation.Warnings {
			fmt.Fprintf(w, "\nWARNING: %s\n", msg)
		}
	}
}

// WriteText prints the candidates compared, the one kept, and its in-sample and held-out errors.
func (v *Validation) WriteText(w io.Writer) {
	on := "held-out rows (" + v.HeldOutFrom + ")"
	if v.ChosenOn == inSampleRows {
		on = "the calibration rows (no row held out: the choice and its error are in sample)"
	}
	fmt.Fprintf(w, "\ncandidates, end to end on %s:\n", on)
	for _, c := range v.Candidates {
		mark := " "
		if c.Name == v.Kept {
			mark = "*"
		}
		fmt.Fprintf(w, " %s %-24s rel-L2 %10.4g   top-1 agreement %6.2f%%\n", mark, c.Name, c.RelL2, 100*c.Top1Agreement)
	}
	fmt.Fprintf(w, "kept          %s\n", v.Kept)
	if v.InSample != nil {
		fmt.Fprint(w, "\nin sample (the rows the parameters were fitted on):")
		v.InSample.WriteText(w)
	}
	if v.HeldOut != nil {
		fmt.Fprint(w, "\nheld out (rows the fits never saw):")
		v.HeldOut.WriteText(w)
	}
}

// WriteText prints a comparison as a small table.
func (c *Comparison) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nend to end over %d rows:\n", c.Rows)
	fmt.Fprintf(w, "%-30s %12s %12s %10s\n", "output", "max abs err", "rel L2 err", "top-1 agr")
	for _, o := range c.Outputs {
		fmt.Fprintf(w, "%-30s %12.3g %12.3g %9.2f%%\n", o.Name, o.MaxAbs, o.RelL2, 100*o.Top1Agreement)
		if n := o.NonFinite; n.any() {
			fmt.Fprintf(w, "  non-finite: original %d NaN, %d Inf; rewritten %d NaN, %d Inf; %d where the original is finite\n",
				n.OriginalNaN, n.OriginalInf, n.RewrittenNaN, n.RewrittenInf, n.Introduced)
		}
	}
	fmt.Fprintf(w, "top-1 agreement  %.2f%%\n", 100*c.Top1Agreement)
	if c.Accuracy != nil {
		fmt.Fprintf(w, "accuracy         original %.2f%%, rewritten %.2f%%\n", 100*c.Accuracy.Original, 100*c.Accuracy.Rewritten)
	}
}
