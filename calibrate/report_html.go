package calibrate

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
)

// Verdict levels, worst first; the page colours its first line by them.
const (
	verdictFail    = "fail"    // a quality-gate check failed
	verdictPoor    = "poor"    // the model does not follow the original (validate.go's warning thresholds)
	verdictFair    = "fair"    // it follows, with errors a user should look at
	verdictGood    = "good"    // rel-L2 ≤ goodRelL2 and top-1 agreement ≥ goodAgreement
	verdictUnknown = "unknown" // no end-to-end comparison was made
)

// A rewrite is called good when its outputs stay within 1% (relative L2) of the original's and
// 99% of rows keep their top-1 class; below validate.go's warning thresholds it is poor.
const (
	goodRelL2     = 0.01
	goodAgreement = 0.99
)

// verdict is the page's first line: the level and one sentence saying what the numbers below mean
// for a user, from the best end-to-end evidence at hand (held-out rows, else the calibration rows,
// else the extra comparison) and the quality gate.
func (r Report) verdict() (level, text string) {
	var cmp *Comparison
	var on string
	if v := r.Validation; v != nil && v.HeldOut != nil {
		cmp, on = v.HeldOut, "held-out rows"
	} else if v != nil && v.InSample != nil {
		cmp, on = v.InSample, "the calibration rows (in sample: no row was held out)"
	} else if r.Compare != nil {
		cmp, on = r.Compare, "the comparison data"
	}
	var extra []string
	for _, c := range r.Gate {
		if !c.Passed {
			extra = append(extra, "quality gate failed: "+c.String())
		}
	}
	if s, ok := r.mostSensitive(); ok {
		extra = append(extra, fmt.Sprintf("the most sensitive site is %s (rel-L2 %.3g when swapped alone)", s.Node, s.Sensitivity.RelL2))
	}
	warnings := 0
	if r.Validation != nil {
		warnings = len(r.Validation.Warnings)
	}
	if warnings > 0 {
		extra = append(extra, fmt.Sprintf("%d warning(s) below", warnings))
	}
	if r.Notice != "" {
		extra = append(extra, "uncalibrated defaults")
	}
	if cmp == nil {
		level, text = verdictUnknown, "No end-to-end comparison was made: only the per-site fit errors below say how close the activations are"
	} else {
		worst := 0.0
		for _, o := range cmp.Outputs {
			if math.IsNaN(o.RelL2) || o.RelL2 > worst {
				worst = o.RelL2
			}
		}
		agree := cmp.Top1Agreement
		switch {
		case !(worst <= endToEndWarnRelL2) || agree < endToEndWarnAgree:
			level = verdictPoor
		case worst <= goodRelL2 && agree >= goodAgreement:
			level = verdictGood
		default:
			level = verdictFair
		}
		words := map[string]string{verdictGood: "Good", verdictFair: "Usable, check the errors", verdictPoor: "Poor: the rewritten model does not follow the original"}
		text = fmt.Sprintf("%s — on %s (%d rows) the outputs differ by rel-L2 %.3g and %.1f%% of rows keep their top-1 class", words[level], on, cmp.Rows, worst, 100*agree)
	}
	if slices.ContainsFunc(r.Gate, func(c GateCheck) bool { return !c.Passed }) {
		level = verdictFail
	}
	if len(extra) > 0 {
		text += "; " + strings.Join(extra, "; ")
	}
	return level, text + "."
}

// mostSensitive is the site whose swap alone moves the outputs most, when sensitivity was measured.
// Sites within float32 rounding of the original (roundingRelL2) are never named.
func (r Report) mostSensitive() (SiteJSON, bool) {
	best, found := SiteJSON{}, false
	for _, s := range r.Sites {
		if s.Sensitivity != nil && (!found || s.Sensitivity.RelL2 > best.Sensitivity.RelL2 || math.IsNaN(s.Sensitivity.RelL2)) {
			best, found = s, true
		}
	}
	return best, found && len(r.Sites) > 1 && !(best.Sensitivity.RelL2 <= roundingRelL2)
}

// WriteHTML writes one self-contained page (no script, no external resource): a one-line verdict,
// the sites with their candidates and sensitivity, the validation and gate, and per site a plot of
// the original and fitted curves over the input histogram with the error in its own panel. res
// supplies what the plots need beyond the report (histograms and targets).
func (r Report) WriteHTML(w io.Writer, title string, res *Result) error {
	type siteView struct {
		SiteJSON
		SVG           template.HTML
		Channels      int
		MostSensitive bool
		// SequentialRanked is --sequential's candidates, best end-to-end objective first.
		SequentialRanked []SequentialCandidate
	}
	top, _ := r.mostSensitive()
	var sites []siteView
	for i, s := range r.Sites {
		v := siteView{SiteJSON: s, SVG: template.HTML(`<p class="no-plot">no plot</p>`), Channels: len(s.Parameters)}
		if i < len(res.Sites) {
			v.SVG = template.HTML(siteSVG(res.Sites[i], fmt.Sprintf("site%d", i)))
		}
		v.MostSensitive = s.Sensitivity != nil && s.Node == top.Node
		if s.Sequential != nil {
			v.SequentialRanked = slices.Clone(s.Sequential.Candidates)
			slices.SortStableFunc(v.SequentialRanked, func(a, b SequentialCandidate) int { return cmp.Compare(a.Objective, b.Objective) })
		}
		sites = append(sites, v)
	}
	type table struct {
		Label string
		*Comparison
	}
	var tables []table
	if v := r.Validation; v != nil {
		if v.HeldOut != nil {
			tables = append(tables, table{"held out: " + v.HeldOutFrom, v.HeldOut})
		}
		if v.InSample != nil {
			tables = append(tables, table{"in sample: the rows the parameters were fitted on", v.InSample})
		}
	}
	if r.Compare != nil {
		tables = append(tables, table{"on the comparison data", r.Compare})
	}
	level, verdict := r.verdict()
	anyCandidates, anySequential, anySensitivity := false, false, false
	for _, s := range r.Sites {
		anyCandidates = anyCandidates || len(s.Candidates) > 0
		anySequential = anySequential || s.Sequential != nil
		anySensitivity = anySensitivity || s.Sensitivity != nil
	}
	return reportPage.Execute(w, map[string]any{
		"Title": title, "Level": level, "Verdict": verdict, "Sites": sites, "Tables": tables, "Report": r,
		"AnyCandidates": anyCandidates, "AnySequential": anySequential, "AnySensitivity": anySensitivity,
	})
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"g":   func(v float64) string { return fmt.Sprintf("%.4g", v) },
	"pct": func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1150px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.verdict{font-size:1.1em;padding:.6em .9em;border-left:6px solid #888;background:#f6f6f6}
.verdict.good{border-color:#2ca02c}.verdict.fair{border-color:#e6a100}.verdict.poor,.verdict.fail{border-color:#c00;background:#fdf0f0}
.verdict.unknown{border-color:#888}
.site{display:inline-block;margin:0 1em 1.5em 0;vertical-align:top}
.legend>span{display:inline-block;margin-right:1.2em}
.wide{overflow-x:auto}
details{margin:.3em 0}summary{cursor:pointer}
.warning{color:#a00}
.chosen{font-weight:bold}
.cands{text-align:left;white-space:nowrap}
.hot{background:#fdecea}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="verdict {{.Level}}" id="verdict"><b>Verdict:</b> {{.Verdict}}</p>
{{with .Report.Notice}}<p class="warning"><b>Note:</b> {{.}}</p>{{end}}
<h2>Sites</h2>
<div class="wide"><table><tr><th>site</th><th>kind</th><th>family</th><th>channels</th><th>inputs</th><th>mean</th><th>std</th><th>fit wRMSE</th><th>fit max err</th><th>ReLU wRMSE</th><th>ReLU max</th>
{{if .AnySensitivity}}<th title="the original model with only this site swapped">alone: rel-L2</th><th>alone: top-1</th>{{end}}
{{if .AnyCandidates}}<th>auto candidates (wRMSE)</th>{{end}}{{if .AnySequential}}<th>sequential: chosen, output MSE before → after this site</th>{{end}}</tr>
{{range .Sites}}<tr{{if .MostSensitive}} class="hot"{{end}}><td>{{.Node}}{{with .Warning}}<br><span class="warning">{{.}}</span>{{end}}</td><td>{{.Kind}}</td><td>{{.Family}}</td><td>{{.Channels}}</td><td>{{.Stats.Count}}</td><td>{{g .Stats.Mean}}</td><td>{{g .Stats.Std}}</td><td>{{g .Fit.WRMSE}}</td><td>{{g .Fit.MaxAbs}}</td><td>{{g .ReLU.WRMSE}}</td><td>{{g .ReLU.MaxAbs}}</td>
{{if $.AnySensitivity}}{{with .Sensitivity}}<td>{{g .RelL2}}</td><td>{{pct .Top1Agreement}}</td>{{else}}<td></td><td></td>{{end}}{{end}}
{{if $.AnyCandidates}}<td class="cands">{{$fam := .Family}}{{range .Candidates}}<span{{if eq .Family $fam}} class="chosen"{{end}}>{{.Family}} {{g .WRMSE}}{{if eq .Family $fam}} ✓{{end}}</span><br>{{end}}</td>{{end}}
{{if $.AnySequential}}<td class="cands">{{with .Sequential}}<span class="chosen">{{.Chosen}}</span><br>{{g .Before}} → {{g .After}}<br>of {{len .Candidates}} (below){{end}}</td>{{end}}</tr>
{{end}}</table></div>
{{if .AnySensitivity}}<p>“Alone” is the end-to-end error of the original model with only that site swapped: a site with a large share is the one to leave out (exclude) or fit with another family.</p>{{end}}
{{with .Report.Sequential}}<p>Sequential refinement: output MSE {{g .Sequential}} with the sequential choices, {{g .Independent}} with independent fits{{if .KeptIndependent}} (independent fits kept){{end}}. Each site's candidates, best first:</p>
{{range $.Sites}}{{if .Sequential}}{{$chosen := .Sequential.Chosen}}<details><summary>{{.Node}}: {{len .SequentialRanked}} candidates; chosen <b>{{$chosen}}</b>{{with .Sequential.Note}} ({{.}}){{end}}</summary>
<table><tr><th>candidate</th><th>family</th><th>output MSE</th><th>max abs err</th></tr>
{{range .SequentialRanked}}<tr{{if eq .Name $chosen}} class="chosen"{{end}}><td>{{.Name}}{{if eq .Name $chosen}} ✓{{end}}</td><td>{{.Family}}</td><td>{{g .Objective}}</td><td>{{g .MaxAbs}}</td></tr>
{{end}}</table></details>
{{end}}{{end}}{{end}}
{{with .Report.Validation}}{{range .Warnings}}<p class="warning"><b>Warning:</b> {{.}}</p>{{end}}
<p>Kept: <b>{{.Kept}}</b>, the best end to end of {{range $i, $c := .Candidates}}{{if $i}}, {{end}}{{$c.Name}} (rel-L2 {{g $c.RelL2}}){{end}} on the {{if eq .ChosenOn "held_out"}}held-out{{else}}calibration (in-sample){{end}} rows.</p>{{end}}
{{with .Report.Gate}}<h2>Quality gate</h2><ul>{{range .}}<li{{if not .Passed}} class="warning"{{end}}>{{.}}</li>{{end}}</ul>{{end}}
{{range .Tables}}<h2>End to end, {{.Label}} ({{.Rows}} rows)</h2>
<table><tr><th>output</th><th>max abs err</th><th>rel L2 err</th><th>top-1 agreement</th></tr>
{{range .Outputs}}<tr><td>{{.Name}}</td><td>{{g .MaxAbs}}</td><td>{{g .RelL2}}</td><td>{{pct .Top1Agreement}}</td></tr>{{end}}
{{with .Accuracy}}<tr><td>accuracy original / rewritten</td><td colspan="3">{{pct .Original}} / {{pct .Rewritten}}</td></tr>{{end}}
</table>{{end}}
<h2>Curves</h2>
<p class="legend"><span><span style="color:#bbb">&#9632;</span> input histogram</span><span><span style="color:#1f77b4;opacity:.5">&#9644;&#9644;</span> original (wide, underneath)</span><span><span style="color:#d62728">&#9472;&#9472;</span> fitted</span><span><span style="color:#2ca02c">&#9472;&#9472;</span> fit − original (lower panel, own scale)</span><span><span style="color:#d62728">&#9675;</span> PWLU knots, dashed: bounds B_L, B_R</span></p>
{{range .Sites}}<div class="site"><b>{{.Node}}</b> ({{.Kind}} → {{.Family}}{{if gt .Channels 1}}, channel 0 of {{.Channels}}{{end}})<br>{{.SVG}}</div>
{{end}}
</body></html>
`))
