package rewrite

import (
	"fmt"
	"math"
	"sync"

	"github.com/actswap/actswap/onnxops"
)

// Default parameters, used when no calibration data is given (Options.Params nil). They assume
// pre-activations distributed like N(0, 1); the package documentation lists their errors.
const (
	defaultPWLUN           = 16
	defaultReLUPWLUBound   = 4.0 // ±4 with N=16: d = 0.5, so 0 is a knot and the fit is exact
	defaultGELUPWLUBound   = 3.0 // μ ± 3σ for N(0,1), the PWLU paper's choice
	reluZorroSharpness     = 1e4 // in_scale of the gated Sigmoid-Zorro step; error ≈ 1/(16·m)
	reluZorroHumpA         = 8.0
	reluZorroHumpB         = 2.0
	gaussianQuadratureStep = 1.0 / 256
	gaussianQuadratureSpan = 8.0
)

// reluZorro is the gated Sigmoid-Zorro x·Z(m·x + ½) with a steep m: Z(m·x + ½) is a smoothed unit
// step, so the product is ReLU except within 1/(2m) of 0 and in two tiny humps. ReLU is only a
// limit of Zorro (activations.md §1.11); m = 1e4 puts the maximum error near 6e-6, below float32
// resolution for |y| ≳ 50 and below the 1e-5 accuracy bound of OPS.md.
var reluZorro = onnxops.ZorroParams{
	AN: reluZorroHumpA, BN: reluZorroHumpB, AP: reluZorroHumpA, BP: reluZorroHumpB,
	InScale: reluZorroSharpness, InShift: 0.5, OutScale: 1, OutShift: 0, Gate: true,
}

// geluZorro is the gated form x·Z(m·x + c) fitted offline to exact GELU on N(0,1) inputs, with
// out_scale 1 and out_shift 0 so the tails behave like GELU's (TestGELUZorroDefaultIsFitted
// re-runs the fit). The fit drives a to infinity, so the humps vanish and this is in effect
// x·clip(0.31357·x + ½, 0, 1): the best Zorro can do for GELU, and still a poor one.
var geluZorro = onnxops.ZorroParams{
	AN: 1e4, BN: 2e-3, AP: 1e4, BP: 2e-3, InScale: 0.31357, InShift: 0.5, OutScale: 1, OutShift: 0, Gate: true,
}

// DefaultParams returns the parameters a site gets without calibration: one set for the whole tensor.
func DefaultParams(site Site, fam onnxops.Family) (SiteParams, error) {
	var p onnxops.Params
	switch {
	case fam == onnxops.FamilyCRReLU:
		// ε = 0 is exact for ReLU and, for inputs symmetric about 0, the best CRReLU can do for
		// GELU (GELU − ReLU is even, the correction is odd: activations.md §4.2).
		p = onnxops.CRReLUParams{Epsilon: 0}
	case fam == onnxops.FamilyPWLU && site.Kind == KindReLU:
		p = reluPWLU()
	case fam == onnxops.FamilyPWLU:
		q, err := gaussianPWLU(site)
		if err != nil {
			return SiteParams{}, err
		}
		p = q
	case fam == onnxops.FamilyZorro && site.Kind == KindReLU:
		p = reluZorro
	case fam == onnxops.FamilyZorro:
		p = geluZorro
	default:
		return SiteParams{}, fmt.Errorf("no default parameters for %s", fam)
	}
	return SiteParams{Sets: []onnxops.Params{p}}, nil
}

// reluPWLU is exact: knots at −4, −3.5, …, 4 include 0, heights are ReLU's, slopes 0 and 1.
func reluPWLU() onnxops.PWLUParams {
	p := onnxops.PWLUParams{BL: -defaultReLUPWLUBound, BR: defaultReLUPWLUBound, KL: 0, KR: 1,
		Heights: make([]float64, defaultPWLUN+1)}
	for i := range p.Heights {
		p.Heights[i] = onnxops.ReLU(p.Knot(i))
	}
	return p
}

// gaussianPWLUCache memoises the N(0,1) fit per target (kind and QuickGelu α).
var gaussianPWLUCache sync.Map // key string → onnxops.PWLUParams

// gaussianPWLU fits PWLU (N=16, bounds ±3) to the site's target by weighted least squares
// on N(0,1) (activations.md §4.3).
func gaussianPWLU(site Site) (onnxops.PWLUParams, error) {
	key := fmt.Sprintf("%s/%g", site.Kind, site.Alpha)
	if p, ok := gaussianPWLUCache.Load(key); ok {
		return clonePWLU(p.(onnxops.PWLUParams)), nil
	}
	var xs, ws []float64
	for x := -gaussianQuadratureSpan; x <= gaussianQuadratureSpan; x += gaussianQuadratureStep {
		xs = append(xs, x)
		ws = append(ws, gaussianQuadratureStep*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi))
	}
	p, err := fitPWLU(site.Target(), xs, ws, -defaultGELUPWLUBound, defaultGELUPWLUBound, defaultPWLUN)
	if err != nil {
		return onnxops.PWLUParams{}, fmt.Errorf("default PWLU for %s: %w", site.Kind, err)
	}
	gaussianPWLUCache.Store(key, p)
	return clonePWLU(p), nil
}

func clonePWLU(p onnxops.PWLUParams) onnxops.PWLUParams {
	p.Heights = append([]float64(nil), p.Heights...)
	return p
}

// fitPWLU is onnxops.FitPWLU on the target's own values at xs, validated.
func fitPWLU(target func(float64) float64, xs, ws []float64, bl, br float64, n int) (onnxops.PWLUParams, error) {
	ys := make([]float64, len(xs))
	for i, x := range xs {
		ys[i] = target(x)
	}
	p, err := onnxops.FitPWLU(xs, ys, ws, target, bl, br, n)
	if err != nil {
		return onnxops.PWLUParams{}, err
	}
	return p, p.Validate()
}
