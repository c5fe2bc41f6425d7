package calibrate

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/actswap/actswap/onnxops"
)

// The plot of one site: a main panel with the input histogram, the original activation and the
// fit, and below it an error panel with its own scale, so the error is readable however small
// and can never leave its box. The original is drawn wide and pale under the thin fit, so where
// they coincide both stay visible.
const (
	plotWidth    = 520.0
	plotLeft     = 62.0 // room for y tick labels and the axis title
	plotRight    = 14.0
	plotTop      = 14.0
	mainHeight   = 220.0
	panelGap     = 14.0
	errorHeight  = 90.0
	plotBottom   = 44.0 // x tick labels and the axis title
	plotSamples  = 400
	histColumns  = 120
	colorOrig    = "#1f77b4"
	colorFit     = "#d62728"
	colorErr     = "#2ca02c"
	colorHist    = "#e3e3e3"
	colorKnot    = "#d62728"
	colorGrid    = "#bbb"
	plotFontSize = 11
)

// plotRange is the x range plotted for a site: the observed inputs, trimmed to mean ± 6σ so one
// outlier does not squeeze the curves, and widened to show every PWLU knot near the data.
func plotRange(s SiteReport) (lo, hi float64) {
	lo, hi = s.Stats.Min, s.Stats.Max
	if m := s.Stats.Mean; s.Stats.Std > 0 {
		lo, hi = math.Max(lo, m-6*s.Stats.Std), math.Min(hi, m+6*s.Stats.Std)
	}
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		c := 0.0
		if !math.IsNaN(lo) && !math.IsInf(lo, 0) {
			c = lo
		}
		lo, hi = c-1, c+1
	}
	return lo, hi
}

// niceTicks returns about n round values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	span := hi - lo
	if !(span > 0) || math.IsInf(span, 0) {
		return []float64{lo}
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, v)
	}
	return ticks
}

// panel maps data coordinates into one box of the SVG.
type panel struct {
	x0, y0, w, h       float64 // the box
	xlo, xhi, ylo, yhi float64 // the data range
}

func (p panel) px(x float64) float64 { return p.x0 + (x-p.xlo)/(p.xhi-p.xlo)*p.w }
func (p panel) py(y float64) float64 { return p.y0 + p.h - (y-p.ylo)/(p.yhi-p.ylo)*p.h }

// svgWriter accumulates one plot.
type svgWriter struct {
	strings.Builder
	id string // unique per plot, for clip paths
}

func (b *svgWriter) printf(format string, args ...any) { fmt.Fprintf(b, format, args...) }

func (b *svgWriter) box(p panel, clip string) {
	b.printf(`<clipPath id="%s"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></clipPath>`, clip, p.x0, p.y0, p.w, p.h)
	b.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#888"/>`, p.x0, p.y0, p.w, p.h)
}

// yAxis draws tick labels and light grid lines for a panel's y range and its vertical title.
func (b *svgWriter) yAxis(p panel, title string) {
	for _, v := range niceTicks(p.ylo, p.yhi, 4) {
		y := p.py(v)
		b.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="0.5" stroke-dasharray="2,3"/>`, p.x0, y, p.x0+p.w, y, colorGrid)
		b.printf(`<text x="%.1f" y="%.1f" font-size="%d" text-anchor="end">%s</text>`, p.x0-4, y+4, plotFontSize, tickLabel(v))
	}
	cx, cy := 12.0, p.y0+p.h/2
	b.printf(`<text class="axis-title" x="%.1f" y="%.1f" font-size="%d" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`, cx, cy, plotFontSize, cx, cy, html.EscapeString(title))
}

func tickLabel(v float64) string {
	if v == 0 {
		return "0"
	}
	return strings.Replace(fmt.Sprintf("%.3g", v), "e-0", "e-", 1)
}

// polyline draws a curve clipped to its panel, skipping non-finite points (a NaN in "points"
// is an SVG error).
func (b *svgWriter) polyline(p panel, clip, class, color string, width, opacity float64, xs, ys []float64) {
	b.printf(`<polyline class="curve %s" clip-path="url(#%s)" fill="none" stroke="%s" stroke-width="%.1f" stroke-opacity="%.2f" stroke-linejoin="round" points="`, class, clip, color, width, opacity)
	for i, x := range xs {
		if y := ys[i]; !math.IsNaN(y) && !math.IsInf(y, 0) {
			b.printf("%.1f,%.1f ", p.px(x), p.py(y))
		}
	}
	b.WriteString(`"/>`)
}

// siteSVG draws one site: the input histogram, the original activation and the fit (channel 0
// when per channel) over the observed range with PWLU knots and bounds marked, and the error of
// the fit in its own panel below.
func siteSVG(s SiteReport, id string) string {
	if s.hist == nil || len(s.Parameters) == 0 {
		return `<p class="no-plot">no input statistics for this site</p>`
	}
	params := s.Parameters[0]
	lo, hi := plotRange(s)
	xs := make([]float64, plotSamples+1)
	orig := make([]float64, len(xs))
	fit := make([]float64, len(xs))
	errs := make([]float64, len(xs))
	ylo, yhi, emax := math.Inf(1), math.Inf(-1), 0.0
	for i := range xs {
		x := lo + (hi-lo)*float64(i)/plotSamples
		xs[i], orig[i], fit[i] = x, s.target.Eval(x), params.Eval(x)
		errs[i] = fit[i] - orig[i]
		for _, y := range []float64{orig[i], fit[i]} {
			if !math.IsNaN(y) && !math.IsInf(y, 0) {
				ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
			}
		}
		if e := math.Abs(errs[i]); e > emax && !math.IsInf(e, 0) {
			emax = e
		}
	}
	if !(yhi > ylo) {
		ylo, yhi = ylo-1, ylo+1
		if math.IsInf(ylo, 0) || math.IsNaN(ylo) {
			ylo, yhi = -1, 1
		}
	}
	margin := 0.06 * (yhi - ylo)
	ylo, yhi = ylo-margin, yhi+margin
	if emax == 0 {
		emax = 1e-6 // an exact fit: a flat line at 0 in a small box
	}
	emax *= 1.1
	innerW := plotWidth - plotLeft - plotRight
	main := panel{x0: plotLeft, y0: plotTop, w: innerW, h: mainHeight, xlo: lo, xhi: hi, ylo: ylo, yhi: yhi}
	errp := panel{x0: plotLeft, y0: plotTop + mainHeight + panelGap, w: innerW, h: errorHeight, xlo: lo, xhi: hi, ylo: -emax, yhi: emax}
	height := errp.y0 + errp.h + plotBottom

	b := &svgWriter{id: id}
	b.printf(`<svg class="site-plot" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="system-ui,sans-serif">`, plotWidth, height, plotWidth, height)
	mainClip, errClip := id+"-main", id+"-err"
	b.box(main, mainClip)
	b.box(errp, errClip)

	// Histogram, rebinned to histColumns over the plotted range, scaled to the panel height.
	counts := make([]float64, histColumns)
	for i, c := range s.hist.Counts {
		if x := s.hist.Center(i); c > 0 && x >= lo && x <= hi {
			counts[min(histColumns-1, int((x-lo)/(hi-lo)*histColumns))] += c
		}
	}
	peak := 0.0
	for _, c := range counts {
		peak = math.Max(peak, c)
	}
	b.printf(`<g class="histogram" fill="%s">`, colorHist)
	for i, c := range counts {
		if c == 0 {
			continue
		}
		bh := c / peak * main.h
		x0, x1 := main.px(lo+(hi-lo)*float64(i)/histColumns), main.px(lo+(hi-lo)*float64(i+1)/histColumns)
		b.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x0, main.y0+main.h-bh, x1-x0, bh)
	}
	b.WriteString(`</g>`)

	b.yAxis(main, "activation")
	b.yAxis(errp, "fit − original")
	// x ticks on both panels, labels under the error panel.
	for _, v := range niceTicks(lo, hi, 6) {
		x := main.px(v)
		for _, p := range []panel{main, errp} {
			b.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="0.5" stroke-dasharray="2,3"/>`, x, p.y0, x, p.y0+p.h, colorGrid)
		}
		b.printf(`<text x="%.1f" y="%.1f" font-size="%d" text-anchor="middle">%s</text>`, x, errp.y0+errp.h+14, plotFontSize, tickLabel(v))
	}
	b.printf(`<text class="axis-title" x="%.1f" y="%.1f" font-size="%d" text-anchor="middle">pre-activation input x</text>`, main.x0+main.w/2, height-8, plotFontSize)
	if errp.ylo < 0 && errp.yhi > 0 {
		b.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#666" stroke-width="0.8"/>`, errp.x0, errp.py(0), errp.x0+errp.w, errp.py(0))
	}

	b.polyline(main, mainClip, "original", colorOrig, 5, 0.45, xs, orig)
	b.polyline(main, mainClip, "fitted", colorFit, 1.5, 1, xs, fit)
	b.polyline(errp, errClip, "error", colorErr, 1.2, 1, xs, errs)
	if p, ok := params.(onnxops.PWLUParams); ok {
		b.pwluKnots(main, errp, mainClip, p)
	}
	b.printf(`<text x="%.1f" y="%.1f" font-size="%d" text-anchor="end">wRMSE %.3g, max |error| %.3g</text>`, main.x0+main.w-4, main.y0+plotFontSize+2, plotFontSize, s.Fit.WRMSE, s.Fit.MaxAbs)
	b.WriteString(`</svg>`)
	return b.String()
}

// pwluKnots marks the knots B_i on the fitted curve and draws the bounds B_L, B_R across both
// panels, labelled, where they fall inside the plotted range.
func (b *svgWriter) pwluKnots(main, errp panel, clip string, p onnxops.PWLUParams) {
	b.printf(`<g class="knots" fill="#fff" stroke="%s" stroke-width="1.2">`, colorKnot)
	for i := 0; i <= p.N(); i++ {
		x := p.Knot(i)
		if x < main.xlo || x > main.xhi {
			continue
		}
		b.printf(`<circle class="knot" cx="%.1f" cy="%.1f" r="2.6" clip-path="url(#%s)"/>`, main.px(x), main.py(p.Eval(x)), clip)
	}
	b.WriteString(`</g>`)
	for _, bound := range []struct {
		name string
		x    float64
	}{{"B_L", p.BL}, {"B_R", p.BR}} {
		if bound.x < main.xlo || bound.x > main.xhi {
			continue
		}
		x := main.px(bound.x)
		b.printf(`<line class="bound" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="0.8" stroke-dasharray="5,3"/>`, x, main.y0, x, errp.y0+errp.h, colorKnot)
		b.printf(`<text x="%.1f" y="%.1f" font-size="%d" fill="%s" text-anchor="middle">%s</text>`, x, main.y0+main.h-4, plotFontSize, colorKnot, bound.name)
	}
}
