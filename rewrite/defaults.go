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
	pwluRegularisation     = 1e-6 // pull towards knot interpolation, so empty intervals stay defined
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

// fitPWLU solves the weighted least-squares problem of activations.md §4.3 for fixed bounds:
// unknowns (Y⁰…Y^N, K_L, K_R), regularised towards knot interpolation of target with slopes
// (0, 1) so that intervals without weight stay defined.
func fitPWLU(target func(float64) float64, xs, ws []float64, bl, br float64, n int) (onnxops.PWLUParams, error) {
	k := n + 3 // heights, then K_L, K_R
	ata := make([][]float64, k)
	for i := range ata {
		ata[i] = make([]float64, k)
	}
	atb := make([]float64, k)
	d := (br - bl) / float64(n)
	row := make([]float64, k)
	for j, x := range xs {
		clear(row)
		switch {
		case x < bl:
			row[0], row[n+1] = 1, x-bl
		case x >= br:
			row[n], row[n+2] = 1, x-br
		default:
			i := min(int((x-bl)/d), n-1)
			u := (x - (bl + float64(i)*d)) / d
			row[i], row[i+1] = 1-u, u
		}
		y := target(x)
		for a := range k {
			if row[a] == 0 {
				continue
			}
			atb[a] += ws[j] * row[a] * y
			for b := range k {
				ata[a][b] += ws[j] * row[a] * row[b]
			}
		}
	}
	for i := 0; i <= n; i++ {
		ata[i][i] += pwluRegularisation
		atb[i] += pwluRegularisation * target(bl+float64(i)*d)
	}
	ata[n+2][n+2] += pwluRegularisation
	atb[n+2] += pwluRegularisation // K_R → 1; K_L → 0 adds nothing to the right-hand side
	ata[n+1][n+1] += pwluRegularisation
	theta, err := solveSymmetric(ata, atb)
	if err != nil {
		return onnxops.PWLUParams{}, err
	}
	p := onnxops.PWLUParams{BL: bl, BR: br, Heights: theta[:n+1], KL: theta[n+1], KR: theta[n+2]}
	return p, p.Validate()
}

// solveSymmetric solves A·x = b for a small symmetric positive-definite A by Cholesky.
func solveSymmetric(a [][]float64, b []float64) ([]float64, error) {
	n := len(b)
	l := make([][]float64, n)
	for i := range l {
		l[i] = make([]float64, n)
		for j := 0; j <= i; j++ {
			s := a[i][j]
			for k := 0; k < j; k++ {
				s -= l[i][k] * l[j][k]
			}
			if i == j {
				if s <= 0 {
					return nil, fmt.Errorf("least-squares system is not positive definite (pivot %d)", i)
				}
				l[i][i] = math.Sqrt(s)
			} else {
				l[i][j] = s / l[j][j]
			}
		}
	}
	y := make([]float64, n)
	for i := range n {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= l[i][k] * y[k]
		}
		y[i] = s / l[i][i]
	}
	x := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := y[i]
		for k := i + 1; k < n; k++ {
			s -= l[k][i] * x[k]
		}
		x[i] = s / l[i][i]
	}
	return x, nil
}
