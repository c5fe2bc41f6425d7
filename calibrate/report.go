package calibrate

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/actswap/actswap/onnxops"
)

// Report is the JSON form of a calibration run (--report).
type Report struct {
	Model     string     `json:"model,omitempty"`
	To        string     `json:"to"`
	Objective Objective  `json:"objective"`
	Sites     []SiteJSON `json:"sites"`
	// Notice says what a user must know about the parameters (UncalibratedNotice).
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
	Node       string            `json:"node"`
	Kind       string            `json:"kind"`
	Input      string            `json:"input"`
	Family     onnxops.Family    `json:"family"`
	Parameters []map[string]any  `json:"parameters"` // one set, or one per channel
	Stats      StatsSummary      `json:"input_stats"`
	Fit        FitError          `json:"fit_error"`
	ReLU       FitError          `json:"relu_error"`
	Candidates []Candidate       `json:"candidates,omitempty"`
	Sequential *SequentialChoice `json:"sequential,omitempty"`
	Warning    string            `json:"warning,omitempty"`
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
		js := SiteJSON{Node: s.Node, Kind: s.Kind, Input: s.Input, Family: s.Family, Stats: s.Stats, Fit: s.Fit, ReLU: s.ReLU, Candidates: s.Candidates, Sequential: s.Sequential, Warning: s.Warning}
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

// WriteHTML writes one self-contained page: per site the original and fitted curves over the input
// histogram (inline SVG), the fit errors, and the end-to-end table.
func WriteHTML(w io.Writer, title string, res *Result, cmp *Comparison) error {
	type siteView struct {
		SiteReport
		SVG template.HTML
	}
	var sites []siteView
	for _, s := range res.Sites {
		sites = append(sites, siteView{s, template.HTML(siteSVG(s))})
	}
	type table struct {
		Label string
		*Comparison
	}
	var tables []table
	if v := res.Validation; v != nil {
		if v.HeldOut != nil {
			tables = append(tables, table{"held out: " + v.HeldOutFrom, v.HeldOut})
		}
		tables = append(tables, table{"in sample: the rows the parameters were fitted on", v.InSample})
	}
	if cmp != nil {
		tables = append(tables, table{"on the comparison data", cmp})
	}
	return reportPage.Execute(w, map[string]any{"Title": title, "Sites": sites, "Tables": tables, "Validation": res.Validation})
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"g":   func(v float64) string { return fmt.Sprintf("%.4g", v) },
	"pct": func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) },
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.site{display:inline-block;margin:0 1em 1em 0;vertical-align:top}
.legend span{margin-right:1em}
.warning{color:#a00}
</style></head><body>
<h1>{{.Title}}</h1>
<h2>Sites</h2>
<table><tr><th>site</th><th>kind</th><th>family</th><th>inputs</th><th>mean</th><th>std</th><th>wRMSE</th><th>max err</th><th>ReLU wRMSE</th><th>ReLU max</th></tr>
{{range .Sites}}<tr><td>{{.Node}}</td><td>{{.Kind}}</td><td>{{.Family}}</td><td>{{.Stats.Count}}</td><td>{{g .Stats.Mean}}</td><td>{{g .Stats.Std}}</td><td>{{g .Fit.WRMSE}}</td><td>{{g .Fit.MaxAbs}}</td><td>{{g .ReLU.WRMSE}}</td><td>{{g .ReLU.MaxAbs}}</td></tr>
{{end}}</table>
{{with .Validation}}{{range .Warnings}}<p class="warning"><b>Warning:</b> {{.}}</p>{{end}}
<p>Kept: <b>{{.Kept}}</b>, the best end to end of {{range $i, $c := .Candidates}}{{if $i}}, {{end}}{{$c.Name}} (rel-L2 {{g $c.RelL2}}){{end}} on the {{if eq .ChosenOn "held_out"}}held-out{{else}}calibration (in-sample){{end}} rows.</p>{{end}}
{{range .Tables}}<h2>End to end, {{.Label}} ({{.Rows}} rows)</h2>
<table><tr><th>output</th><th>max abs err</th><th>rel L2 err</th><th>top-1 agreement</th></tr>
{{range .Outputs}}<tr><td>{{.Name}}</td><td>{{g .MaxAbs}}</td><td>{{g .RelL2}}</td><td>{{pct .Top1Agreement}}</td></tr>{{end}}
{{with .Accuracy}}<tr><td>accuracy original / rewritten</td><td colspan="3">{{pct .Original}} / {{pct .Rewritten}}</td></tr>{{end}}
</table>{{end}}
<h2>Curves</h2>
<p class="legend"><span style="color:#999">&#9632; input histogram</span><span style="color:#1f77b4">&#9644; original</span><span style="color:#d62728">&#9644; fitted</span><span style="color:#2ca02c">&#9644; error ×10</span></p>
{{range .Sites}}<div class="site"><b>{{.Node}}</b> ({{.Kind}} → {{.Family}})<br>{{.SVG}}</div>
{{end}}
</body></html>
`))

// siteSVG draws one site: histogram bars, the original activation and the fit (the first
// parameter set when per channel) over the observed range.
func siteSVG(s SiteReport) string {
	const w, h, pad = 480.0, 260.0, 36.0
	if s.hist == nil || len(s.Parameters) == 0 {
		return "<p>no data</p>"
	}
	lo, hi := s.Stats.Min, s.Stats.Max
	if m := s.Stats.Mean; s.Stats.Std > 0 {
		lo, hi = math.Max(lo, m-6*s.Stats.Std), math.Min(hi, m+6*s.Stats.Std)
	}
	if !(hi > lo) {
		lo, hi = lo-1, hi+1
	}
	const samples = 240
	xs := make([]float64, samples+1)
	orig := make([]float64, samples+1)
	fit := make([]float64, samples+1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for i := range xs {
		x := lo + (hi-lo)*float64(i)/samples
		xs[i], orig[i], fit[i] = x, s.target.Eval(x), s.Parameters[0].Eval(x)
		ylo = math.Min(ylo, math.Min(orig[i], fit[i]))
		yhi = math.Max(yhi, math.Max(orig[i], fit[i]))
	}
	if !(yhi > ylo) {
		yhi = ylo + 1
	}
	px := func(x float64) float64 { return pad + (x-lo)/(hi-lo)*(w-2*pad) }
	py := func(y float64) float64 { return h - pad - (y-ylo)/(yhi-ylo)*(h-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">`, w, h, w, h)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%.0f" height="%.0f" fill="#fff" stroke="#ddd"/>`, w, h)
	// Histogram, rebinned to 120 columns over the plotted range, scaled to the plot height.
	const cols = 120
	counts := make([]float64, cols)
	hist := s.hist
	for i, c := range hist.Counts {
		x := hist.Center(i)
		if c == 0 || x < lo || x > hi {
			continue
		}
		counts[min(cols-1, int((x-lo)/(hi-lo)*cols))] += c
	}
	peak := 0.0
	for _, c := range counts {
		peak = math.Max(peak, c)
	}
	for i, c := range counts {
		if c == 0 {
			continue
		}
		bh := c / peak * (h - 2*pad)
		x0 := px(lo + (hi-lo)*float64(i)/cols)
		x1 := px(lo + (hi-lo)*float64(i+1)/cols)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ddd"/>`, x0, h-pad-bh, x1-x0, bh)
	}
	// Axes at y = 0 and x = 0 when in view.
	if ylo < 0 && yhi > 0 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#aaa"/>`, pad, py(0), w-pad, py(0))
	}
	if lo < 0 && hi > 0 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#aaa"/>`, px(0), pad, px(0), h-pad)
	}
	path := func(ys []float64, color string, scale float64, offset float64) {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, color)
		for i, x := range xs {
			fmt.Fprintf(&b, "%.1f,%.1f ", px(x), py(offset+scale*ys[i]))
		}
		b.WriteString(`"/>`)
	}
	path(orig, "#1f77b4", 1, 0)
	path(fit, "#d62728", 1, 0)
	errs := make([]float64, len(xs))
	for i := range xs {
		errs[i] = fit[i] - orig[i]
	}
	path(errs, "#2ca02c", 10, 0)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11" text-anchor="middle">%.3g</text>`, pad, h-pad+14, lo)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11" text-anchor="middle">%.3g</text>`, w-pad, h-pad+14, hi)
	fmt.Fprintf(&b, `<text x="4" y="%.0f" font-size="11">%.3g</text>`, py(yhi)+4, yhi)
	fmt.Fprintf(&b, `<text x="4" y="%.0f" font-size="11">%.3g</text>`, py(ylo), ylo)
	fmt.Fprintf(&b, `<text x="%.0f" y="16" font-size="11" text-anchor="end">wRMSE %.3g, max %.3g</text>`, w-pad, s.Fit.WRMSE, s.Fit.MaxAbs)
	b.WriteString(`</svg>`)
	return b.String()
}
