package calibrate

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/actswap/actswap/onnxops"
)

// pwluRidge pulls the solution towards knot interpolation so that intervals without data stay
// well defined [activations.md §4.3].
const pwluRidge = 1e-6

// PWLU bounds are searched as μ ± c·σ with c in this range [§4.3].
const (
	pwluMinWidth  = 2.0
	pwluMaxWidth  = 4.0
	pwluInitWidth = 3.0 // the paper's realignment
)

func fitPWLU(target Target, d *distribution, opts FitOptions) (onnxops.Params, error) {
	n := opts.PWLUPoints
	if n < 1 {
		return nil, fmt.Errorf("PWLU needs at least 1 interval, got %d", n)
	}
	sigma := d.scale()
	if opts.Objective == ObjectiveInit {
		return pwluKnotInterpolation(onnxops.ReLU, d.mu-pwluInitWidth*sigma, d.mu+pwluInitWidth*sigma, n), nil
	}
	if target == TargetReLU {
		return pwluExactReLU(d.mu-pwluInitWidth*sigma, d.mu+pwluInitWidth*sigma, n), nil
	}
	// The search criterion is wRMSE + 0.1·max|error| on the observed bins: wRMSE alone pulls the
	// bounds in until the linear tails miss GELU's curvature by 0.04–0.06 on a few outlying bins,
	// while the max term alone ignores where the mass is. On N(0,1), N=16 this picks c ≈ 2.75 and
	// beats the paper's μ±3σ in both measures.
	solve := func(c float64) (onnxops.PWLUParams, float64, error) {
		p, err := pwluLeastSquares(target, d.fit, d.mu-c*sigma, d.mu+c*sigma, n)
		if err != nil {
			return p, 0, err
		}
		e := measure(p.Eval, d.data)
		return p, e.WRMSE + pwluMaxWeight*e.MaxAbs, nil
	}
	return searchWidth(solve)
}

// pwluMaxWeight weighs the max error against wRMSE when choosing the bounds.
const pwluMaxWeight = 0.1

// searchWidth scans c over [pwluMinWidth, pwluMaxWidth] (the criterion need not be unimodal) and
// refines the best cell by golden-section search.
func searchWidth(solve func(float64) (onnxops.PWLUParams, float64, error)) (onnxops.PWLUParams, error) {
	var best onnxops.PWLUParams
	bestScore := math.Inf(1)
	eval := func(c float64) (float64, error) {
		p, score, err := solve(c)
		if err != nil {
			return 0, err
		}
		if score < bestScore {
			best, bestScore = p, score
		}
		return score, nil
	}
	const cells = 20
	step := (pwluMaxWidth - pwluMinWidth) / cells
	bestC := pwluMinWidth
	for k := 0; k <= cells; k++ {
		c := pwluMinWidth + float64(k)*step
		before := bestScore
		if _, err := eval(c); err != nil {
			return best, err
		}
		if bestScore < before {
			bestC = c
		}
	}
	a, b := math.Max(pwluMinWidth, bestC-step), math.Min(pwluMaxWidth, bestC+step)
	invPhi := (math.Sqrt(5) - 1) / 2
	x1, x2 := b-invPhi*(b-a), a+invPhi*(b-a)
	f1, err := eval(x1)
	if err != nil {
		return best, err
	}
	f2, err := eval(x2)
	if err != nil {
		return best, err
	}
	for range 12 {
		if f1 < f2 {
			b, x2, f2 = x2, x1, f1
			x1 = b - invPhi*(b-a)
			if f1, err = eval(x1); err != nil {
				return best, err
			}
		} else {
			a, x1, f1 = x1, x2, f2
			x2 = a + invPhi*(b-a)
			if f2, err = eval(x2); err != nil {
				return best, err
			}
		}
	}
	return best, nil
}

// pwluKnotInterpolation puts the knots on g with slopes 0 and 1 outside: the closed-form baseline,
// and with g = ReLU the paper's initialisation.
func pwluKnotInterpolation(g func(float64) float64, bl, br float64, n int) onnxops.PWLUParams {
	p := onnxops.PWLUParams{BL: bl, BR: br, Heights: make([]float64, n+1), KL: 0, KR: 1}
	for i := range p.Heights {
		p.Heights[i] = g(p.Knot(i))
	}
	return p
}

// pwluExactReLU shifts the grid so that 0 is a knot inside [B_L, B_R]; the knot interpolation of
// ReLU is then ReLU exactly, everywhere [§4.3].
func pwluExactReLU(bl, br float64, n int) onnxops.PWLUParams {
	if bl > 0 {
		bl = 0
	}
	if br < 0 {
		br = 0
	}
	step := (br - bl) / float64(n)
	left := math.Ceil(-bl / step) // intervals left of 0
	left = math.Max(0, math.Min(float64(n), left))
	bl = -left * step
	br = bl + float64(n)*step
	p := pwluKnotInterpolation(onnxops.ReLU, bl, br, n)
	p.Heights[int(left)] = 0 // exactly, whatever rounding bl + left·step did
	return p
}

// pwluLeastSquares solves the weighted linear least squares for fixed bounds [§4.3]. The unknowns
// are (Y⁰…Y^N, K_L, K_R); each sample row has at most two non-zeros, so the normal equations are
// accumulated directly and solved by Cholesky.
func pwluLeastSquares(target Target, s sample, bl, br float64, n int) (onnxops.PWLUParams, error) {
	m := n + 3
	kl, kr := n+1, n+2
	ata := mat.NewSymDense(m, nil)
	atb := mat.NewVecDense(m, nil)
	add := func(i, j int, v float64) {
		if i <= j {
			ata.SetSym(i, j, ata.At(i, j)+v)
		} else {
			ata.SetSym(j, i, ata.At(j, i)+v)
		}
	}
	step := (br - bl) / float64(n)
	for k, x := range s.x {
		w := s.w[k]
		if w == 0 {
			continue
		}
		y := s.y[k]
		var cols [2]int
		var vals [2]float64
		switch {
		case x < bl:
			cols, vals = [2]int{0, kl}, [2]float64{1, x - bl}
		case x >= br:
			cols, vals = [2]int{n, kr}, [2]float64{1, x - br}
		default:
			t := (x - bl) / step
			i := min(int(t), n-1)
			u := t - float64(i)
			cols, vals = [2]int{i, i + 1}, [2]float64{1 - u, u}
		}
		for a := range 2 {
			atb.SetVec(cols[a], atb.AtVec(cols[a])+w*vals[a]*y)
			for b := range 2 {
				if a <= b { // (a,b) and (b,a) are one entry of the symmetric matrix
					add(cols[a], cols[b], w*vals[a]*vals[b])
				}
			}
		}
	}
	// Ridge towards knot interpolation and the asymptotic slopes of ReLU and GELU (0 and 1).
	for i := 0; i <= n; i++ {
		add(i, i, pwluRidge)
		atb.SetVec(i, atb.AtVec(i)+pwluRidge*target.Eval(bl+float64(i)*step))
	}
	add(kl, kl, pwluRidge)
	add(kr, kr, pwluRidge)
	atb.SetVec(kr, atb.AtVec(kr)+pwluRidge*1)

	var chol mat.Cholesky
	if !chol.Factorize(ata) {
		return onnxops.PWLUParams{}, fmt.Errorf("normal equations for bounds [%g, %g] are not positive definite", bl, br)
	}
	var theta mat.VecDense
	if err := chol.SolveVecTo(&theta, atb); err != nil {
		return onnxops.PWLUParams{}, fmt.Errorf("solving for bounds [%g, %g]: %w", bl, br, err)
	}
	p := onnxops.PWLUParams{BL: bl, BR: br, Heights: make([]float64, n+1), KL: theta.AtVec(kl), KR: theta.AtVec(kr)}
	for i := range p.Heights {
		p.Heights[i] = theta.AtVec(i)
	}
	return p, nil
}
