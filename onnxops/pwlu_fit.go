package onnxops

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// PWLURidge pulls a least-squares PWLU towards knot interpolation of its target, and its outer
// slopes towards those of ReLU and GELU (0 left, 1 right), so that intervals without data stay
// well defined [activations.md §4.3].
const PWLURidge = 1e-6

// FitPWLU solves the weighted linear least squares of activations.md §4.3 for fixed bounds
// [bl, br] and n intervals: the PWLU closest to the samples (xs[k], ys[k]) with weights ws[k],
// ridge-regularised by PWLURidge towards knot interpolation of target. The unknowns are
// (Y⁰…Y^N, K_L, K_R); each sample row has at most two non-zeros, so the normal equations are
// accumulated directly and solved by Cholesky. The result is not validated: callers that need a
// valid operator call Validate.
func FitPWLU(xs, ys, ws []float64, target func(float64) float64, bl, br float64, n int) (PWLUParams, error) {
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
	for k, x := range xs {
		w := ws[k]
		if w == 0 {
			continue
		}
		y := ys[k]
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
	for i := 0; i <= n; i++ {
		add(i, i, PWLURidge)
		atb.SetVec(i, atb.AtVec(i)+PWLURidge*target(bl+float64(i)*step))
	}
	add(kl, kl, PWLURidge)
	add(kr, kr, PWLURidge)
	atb.SetVec(kr, atb.AtVec(kr)+PWLURidge*1)

	var chol mat.Cholesky
	if !chol.Factorize(ata) {
		return PWLUParams{}, fmt.Errorf("normal equations for bounds [%g, %g] are not positive definite", bl, br)
	}
	var theta mat.VecDense
	if err := chol.SolveVecTo(&theta, atb); err != nil {
		return PWLUParams{}, fmt.Errorf("solving for bounds [%g, %g]: %w", bl, br, err)
	}
	p := PWLUParams{BL: bl, BR: br, Heights: make([]float64, n+1), KL: theta.AtVec(kl), KR: theta.AtVec(kr)}
	for i := range p.Heights {
		p.Heights[i] = theta.AtVec(i)
	}
	return p, nil
}
