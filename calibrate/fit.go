package calibrate

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/actswap/actswap/onnxops"
)

// Target is the activation a replacement has to approximate: Kind is one of relu, gelu (exact erf),
// gelu_tanh and quick_gelu (x·σ(Alpha·x)), the spellings the rewriter's sites use.
type Target struct {
	Kind  string
	Alpha float64 // quick_gelu only
}

var (
	TargetReLU     = Target{Kind: "relu"}
	TargetGELU     = Target{Kind: "gelu"}
	TargetGELUTanh = Target{Kind: "gelu_tanh"}
)

// String is the kind, with α for QuickGELU.
func (t Target) String() string {
	if t.Kind == "quick_gelu" {
		return fmt.Sprintf("quick_gelu(α=%g)", t.Alpha)
	}
	return t.Kind
}

// Eval is the float64 reference of the target.
func (t Target) Eval(x float64) float64 {
	switch t.Kind {
	case "gelu":
		return onnxops.GELU(x)
	case "gelu_tanh":
		return onnxops.GELUTanh(x)
	case "quick_gelu":
		return onnxops.QuickGELU(x, t.Alpha)
	}
	return onnxops.ReLU(x)
}

// ParseTarget accepts relu, gelu, gelu_tanh and quick_gelu (α = 1.702).
func ParseTarget(s string) (Target, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "relu":
		return TargetReLU, nil
	case "gelu", "gelu_erf":
		return TargetGELU, nil
	case "gelu_tanh":
		return TargetGELUTanh, nil
	case "quick_gelu":
		return Target{Kind: "quick_gelu", Alpha: onnxops.QuickGELUAlpha}, nil
	}
	return Target{}, fmt.Errorf("unknown activation %q (want relu, gelu, gelu_tanh or quick_gelu)", s)
}

// Objective says what the fitted parameters should achieve.
type Objective string

const (
	// ObjectiveMatch approximates the original activation on the observed input distribution.
	ObjectiveMatch Objective = "match"
	// ObjectiveInit uses the papers' initialisations, set from the statistics (a start for training).
	ObjectiveInit Objective = "init"
)

// ParseObjective accepts match and init.
func ParseObjective(s string) (Objective, error) {
	switch Objective(s) {
	case ObjectiveMatch, ObjectiveInit:
		return Objective(s), nil
	}
	return "", fmt.Errorf("unknown objective %q (want match or init)", s)
}

// MaxPWLUPoints bounds PWLU's interval count N. The fit sees the data through a DefaultBins-bin
// histogram, so each of N intervals is fitted from at most DefaultBins/N bins — 8 at N = 256, fewer
// where the bounds cover only part of the histogram's range; beyond that, intervals are set by the
// ridge rather than by the data, while time, memory and model size keep growing with N (1e8
// intervals took a minute and 7 GB and wrote a 1.2 GB model).
const MaxPWLUPoints = 256

// FitOptions tunes the fits; the zero value means the defaults.
type FitOptions struct {
	Objective  Objective // default match
	PWLUPoints int       // PWLU intervals N, default 16
	TailMass   float64   // ρ, mass spread uniformly over [min, max] so that empty regions stay sane; default 1e-3
	// start, when set, is a fit of the same family on nearby data (the layer's, for a channel):
	// Zorro then refines it instead of searching from scratch.
	start onnxops.Params
}

func (o FitOptions) withDefaults() FitOptions {
	if o.Objective == "" {
		o.Objective = ObjectiveMatch
	}
	if o.PWLUPoints <= 0 {
		o.PWLUPoints = 16
	}
	if o.TailMass <= 0 {
		o.TailMass = 1e-3
	}
	return o
}

// Fit is one fitted parameter set with its error against the target on the observed inputs.
type Fit struct {
	Family onnxops.Family
	Params onnxops.Params
	FitError
}

// FitError measures a function against the target: wRMSE = √Σ w_j (f(c_j) − g(c_j))² over the
// histogram, and the largest |f − g| over bins with data.
type FitError struct {
	WRMSE  float64 `json:"wrmse"`
	MaxAbs float64 `json:"max_abs"`
}

// sample is a weighted set of points (histogram bin centres) with the value y the fitted function
// should take at each: the target function, or the mean paired target of a conditional histogram.
type sample struct {
	x, w, y []float64
}

// distribution holds what every fit needs from the statistics of one site or channel.
type distribution struct {
	data     sample // observed bins, weights summing to 1
	fit      sample // data blended with the tail guard, weights summing to 1
	mu, std  float64
	min, max float64
}

const tailGuardPoints = 256

func newDistribution(st *Stats, target Target, rho float64) (*distribution, error) {
	if st == nil || st.Count == 0 || st.Hist == nil {
		return nil, fmt.Errorf("no finite values were observed")
	}
	h := st.Hist
	total := h.Total()
	d := &distribution{mu: st.Mean, std: st.Std(), min: st.Min, max: st.Max}
	for i, c := range h.Counts {
		if c > 0 {
			x := h.Center(i)
			y := target.Eval(x)
			if h.SumY != nil {
				y = h.SumY[i] / c
			}
			d.data.x = append(d.data.x, x)
			d.data.w = append(d.data.w, c/total)
			d.data.y = append(d.data.y, y)
		}
	}
	// Guard the fit with a little uniform mass over [min, max] [activations.md §4.1].
	d.fit.x = make([]float64, 0, len(d.data.x)+tailGuardPoints)
	d.fit.w = make([]float64, 0, len(d.data.x)+tailGuardPoints)
	d.fit.y = make([]float64, 0, len(d.data.x)+tailGuardPoints)
	for i, x := range d.data.x {
		d.fit.x = append(d.fit.x, x)
		d.fit.w = append(d.fit.w, (1-rho)*d.data.w[i])
		d.fit.y = append(d.fit.y, d.data.y[i])
	}
	if d.max > d.min {
		for k := range tailGuardPoints {
			x := d.min + (float64(k)+0.5)/tailGuardPoints*(d.max-d.min)
			d.fit.x = append(d.fit.x, x)
			d.fit.w = append(d.fit.w, rho/tailGuardPoints)
			d.fit.y = append(d.fit.y, target.Eval(x))
		}
	} else {
		for i := range d.fit.w {
			d.fit.w[i] = d.data.w[i]
		}
	}
	sortSample(&d.fit)
	return d, nil
}

// sortSample orders the points by x, so that neighbours in the slice are neighbours on the line.
func sortSample(s *sample) {
	idx := make([]int, len(s.x))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(s.x[a], s.x[b]) })
	x, w, y := make([]float64, len(idx)), make([]float64, len(idx)), make([]float64, len(idx))
	for k, i := range idx {
		x[k], w[k], y[k] = s.x[i], s.w[i], s.y[i]
	}
	s.x, s.w, s.y = x, w, y
}

// scale is a usable spread of the data: σ, or a small width when the data are (nearly) constant.
func (d *distribution) scale() float64 {
	return math.Max(d.std, 1e-3*math.Max(1, math.Abs(d.mu)))
}

// measure evaluates f against the sample's values on the observed bins.
func measure(f func(float64) float64, s sample) FitError {
	var sum, worst float64
	for i, x := range s.x {
		e := f(x) - s.y[i]
		sum += s.w[i] * e * e
		worst = math.Max(worst, math.Abs(e))
	}
	return FitError{WRMSE: math.Sqrt(sum), MaxAbs: worst}
}

// FitStats fits one family to the target on the distribution summarised by st. When st holds a
// conditional histogram the fit regresses on the mean paired target per bin instead (ReLU targets
// keep their exact construction).
func FitStats(fam onnxops.Family, target Target, st *Stats, opts FitOptions) (Fit, error) {
	opts = opts.withDefaults()
	d, err := newDistribution(st, target, opts.TailMass)
	if err != nil {
		return Fit{}, err
	}
	var p onnxops.Params
	switch fam {
	case onnxops.FamilyCRReLU:
		p = fitCRReLU(target, d, opts)
	case onnxops.FamilyPWLU:
		p, err = fitPWLU(target, d, opts)
	case onnxops.FamilyZorro:
		p, err = fitZorro(target, d, opts)
	default:
		return Fit{}, fmt.Errorf("cannot fit unknown family %q", fam)
	}
	if err != nil {
		return Fit{}, fmt.Errorf("%s fit: %w", fam, err)
	}
	if err := p.Validate(); err != nil {
		return Fit{}, fmt.Errorf("%s fit produced unusable parameters: %w", fam, err)
	}
	return Fit{Family: fam, Params: p, FitError: measure(p.Eval, d.data)}, nil
}

// ReLUError is the error plain ReLU would make against the target on st's distribution (against
// the paired targets for a conditional histogram): the baseline a replacement of a GELU must beat.
func ReLUError(target Target, st *Stats) (FitError, error) {
	d, err := newDistribution(st, target, 0)
	if err != nil {
		return FitError{}, err
	}
	return measure(onnxops.ReLU, d.data), nil
}

// kernelCost orders the families by inference cost, for breaking ties in automatic choice.
func kernelCost(f onnxops.Family) int {
	switch f {
	case onnxops.FamilyCRReLU:
		return 0
	case onnxops.FamilyPWLU:
		return 1
	}
	return 2
}

// Better reports whether a should be preferred over b: a clearly smaller wRMSE, or an equal one
// (within 1% or 1e-9) from a cheaper kernel.
func Better(a, b Fit) bool {
	tie := math.Abs(a.WRMSE-b.WRMSE) <= 0.01*math.Min(a.WRMSE, b.WRMSE)+1e-9
	if tie {
		return kernelCost(a.Family) < kernelCost(b.Family)
	}
	return a.WRMSE < b.WRMSE
}

// FitAuto fits every family and returns the best by Better, and all fits in family order.
func FitAuto(target Target, st *Stats, opts FitOptions) (Fit, []Fit, error) {
	var all []Fit
	var best Fit
	for i, fam := range []onnxops.Family{onnxops.FamilyCRReLU, onnxops.FamilyPWLU, onnxops.FamilyZorro} {
		f, err := FitStats(fam, target, st, opts)
		if err != nil {
			return Fit{}, nil, err
		}
		all = append(all, f)
		if i == 0 || Better(f, best) {
			best = f
		}
	}
	return best, all, nil
}
