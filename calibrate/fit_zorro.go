package calibrate

import (
	"cmp"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/actswap/actswap/onnxops"
)

// The Zorro replacement is the gate form x·SZ(x), SZ(x) = Z(m·x + ½; a, b) (Sigmoid-Zorro as a gate,
// gate=1, in_shift=½, out_scale=1, out_shift=0). Of the readings verified in activations.md §1.11 it
// is the only one that tracks GELU for x > 1 (wRMSE 0.029 on N(0,1)), the bounded forms cannot. It
// also serves ReLU: as m grows the gate becomes a step and x·SZ(x) → ReLU, so for a ReLU target the
// fit runs to the large-m edge of the box, whose error shrinks with 1/(m·σ).
//
// Free parameters θ = (log m, log a, β = a·b), box-bounded as in §4.4; the k = 1+e^β of the
// formula is never formed (onnxops evaluates the stable form).

// Box bounds in the natural parameters [§4.4]; m's upper bound scales with the data so that the
// ReLU limit is reachable whatever the spread of the inputs.
const (
	zorroMinA, zorroMaxA       = 0.05, 1e4
	zorroMinBeta, zorroMaxBeta = -20.0, 40.0
	zorroMinM                  = 0.01
	// The refinement keeps in_shift within ½ ± zorroMaxShift.
	zorroMaxShift = 5.0
)

// Iteration budget of the multi-start: every start gets zorroScoutIters, the best zorroFinalists
// then continue for up to zorroFinalIters.
const (
	zorroScoutIters = 12
	zorroFinalists  = 4
	zorroFinalIters = 200
)

// zorroLMPoints caps the sample the Levenberg–Marquardt iterations see; adjacent bins are merged.
const zorroLMPoints = 320

// The paper's Sigmoid-Zorro defaults (a = 4, b = 2, m = 0.5), used by the init objective.
const (
	zorroInitA, zorroInitB, zorroInitM = 4.0, 2.0, 0.5
)

func zorroGate(logM, logA, beta float64) onnxops.ZorroParams {
	a := math.Exp(logA)
	p := onnxops.SigmoidZorro(a, beta/a, math.Exp(logM))
	p.Gate = true
	return p
}

func fitZorro(target Target, d *distribution, opts FitOptions) (onnxops.Params, error) {
	if opts.Objective == ObjectiveInit {
		p := onnxops.SigmoidZorro(zorroInitA, zorroInitB, zorroInitM)
		p.Gate = true
		return p, nil
	}
	maxM := math.Max(100, 100/d.scale())
	lo := []float64{math.Log(zorroMinM), math.Log(zorroMinA), zorroMinBeta}
	hi := []float64{math.Log(maxM), math.Log(zorroMaxA), zorroMaxBeta}
	s := coarsen(d.fit, zorroLMPoints)

	residuals := func(theta []float64, r []float64, jac *mat.Dense) {
		p := zorroGate(theta[0], theta[1], theta[2])
		a, b, m := p.AN, p.BN, p.InScale
		for i, x := range s.x {
			sw := math.Sqrt(s.w[i])
			r[i] = sw * (p.Eval(x) - s.y[i])
			if jac == nil {
				continue
			}
			g := p.Deriv(x)
			da, db := g.DAN+g.DAP, g.DBN+g.DBP // a and b are shared by both humps
			jac.Set(i, 0, sw*m*g.DInScale)
			jac.Set(i, 1, sw*(a*da-b*db)) // ∂/∂log a at fixed β: b = β/a moves with a
			jac.Set(i, 2, sw*db/a)
		}
	}

	if z, ok := opts.start.(onnxops.ZorroParams); ok && z.Gate && z.AN > 0 && z.InScale > 0 {
		// A channel near the layer's fit: refine from it, and from the ReLU-like corner as the
		// multi-start does, instead of 61 starts (per-channel Zorro took 23–29 s on digits).
		best, bestCost := []float64{}, math.Inf(1)
		for _, start := range [][]float64{{math.Log(z.InScale), math.Log(z.AN), z.AN * z.BN}, {math.Log(maxM), math.Log(zorroMaxA), zorroMaxBeta}} {
			for k := range start {
				start[k] = math.Max(lo[k], math.Min(hi[k], start[k]))
			}
			if theta, cost := levenbergMarquardt(residuals, start, lo, hi, len(s.x), zorroFinalIters); cost < bestCost {
				best, bestCost = theta, cost
			}
		}
		return refineZorro(zorroGate(best[0], best[1], best[2]), s, maxM), nil
	}

	// Multi-start [§4.4]: a grid in (a, β), two slopes m, plus a start at the ReLU-like corner so the
	// result is never worse than (approximately) plain ReLU.
	var starts [][]float64
	for _, m := range []float64{0.5, 1 / d.scale()} {
		for _, a := range []float64{0.5, 1, 2, 4, 8} {
			for _, beta := range []float64{-2, 0, 2, 5, 10, 20} {
				starts = append(starts, []float64{math.Log(m), math.Log(a), beta})
			}
		}
	}
	starts = append(starts, []float64{math.Log(maxM), math.Log(zorroMaxA), zorroMaxBeta})

	// A short run from every start, then the most promising few run to convergence.
	type run struct {
		theta []float64
		cost  float64
	}
	runs := make([]run, len(starts))
	for i, start := range starts {
		for k := range start {
			start[k] = math.Max(lo[k], math.Min(hi[k], start[k]))
		}
		theta, cost := levenbergMarquardt(residuals, start, lo, hi, len(s.x), zorroScoutIters)
		runs[i] = run{theta, cost}
	}
	slices.SortFunc(runs, func(a, b run) int { return cmp.Compare(a.cost, b.cost) })
	best, bestCost := runs[0].theta, runs[0].cost
	for _, r := range runs[:zorroFinalists] {
		theta, cost := levenbergMarquardt(residuals, r.theta, lo, hi, len(s.x), zorroFinalIters)
		if cost < bestCost {
			best, bestCost = theta, cost
		}
	}
	return refineZorro(zorroGate(best[0], best[1], best[2]), s, maxM), nil
}

// refineZorro frees more of the gated operator, x·Z(m·x + c; a_n, b_n, a_p, b_p), from the best
// symmetric fit: asymmetric humps and the input shift c, six parameters by the same projected LM.
// The output affine stays at s = 1, t = 0: x·(s·Z + t) has slope t at −∞ and s + t at +∞, and ReLU
// and GELU need 0 and 1 there, or the error grows linearly outside the data. It returns the refined
// set only when it fits better, so the result is never worse than the symmetric fit.
func refineZorro(p0 onnxops.ZorroParams, s sample, maxM float64) onnxops.ZorroParams {
	build := func(th []float64) onnxops.ZorroParams {
		an, ap := math.Exp(th[1]), math.Exp(th[3])
		return onnxops.ZorroParams{AN: an, BN: th[2] / an, AP: ap, BP: th[4] / ap,
			InScale: math.Exp(th[0]), InShift: th[5], OutScale: 1, OutShift: 0, Gate: true}
	}
	lo := []float64{math.Log(zorroMinM), math.Log(zorroMinA), zorroMinBeta, math.Log(zorroMinA), zorroMinBeta, 0.5 - zorroMaxShift}
	hi := []float64{math.Log(maxM), math.Log(zorroMaxA), zorroMaxBeta, math.Log(zorroMaxA), zorroMaxBeta, 0.5 + zorroMaxShift}
	residuals := func(theta []float64, r []float64, jac *mat.Dense) {
		p := build(theta)
		for i, x := range s.x {
			sw := math.Sqrt(s.w[i])
			r[i] = sw * (p.Eval(x) - s.y[i])
			if jac == nil {
				continue
			}
			g := p.Deriv(x)
			for k, v := range []float64{
				p.InScale * g.DInScale,
				p.AN*g.DAN - p.BN*g.DBN, g.DBN / p.AN, // log a_n and β_n, as in fitZorro
				p.AP*g.DAP - p.BP*g.DBP, g.DBP / p.AP,
				g.DInShift,
			} {
				jac.Set(i, k, sw*v)
			}
		}
	}
	start := []float64{math.Log(p0.InScale), math.Log(p0.AN), p0.AN * p0.BN, math.Log(p0.AP), p0.AP * p0.BP, p0.InShift}
	r := make([]float64, len(s.x))
	residuals(start, r, nil)
	var startCost float64
	for _, e := range r {
		startCost += e * e
	}
	theta, cost := levenbergMarquardt(residuals, start, lo, hi, len(s.x), zorroFinalIters)
	if !(cost < startCost) {
		return p0
	}
	return build(theta)
}

// levenbergMarquardt minimises ½‖r(θ)‖² inside the box [lo, hi] (steps are projected onto it),
// with Marquardt's diagonal scaling. It returns the best θ and its cost Σ r².
func levenbergMarquardt(residuals func(theta, r []float64, jac *mat.Dense), theta0, lo, hi []float64, nres, maxIter int) ([]float64, float64) {
	np := len(theta0)
	theta := append([]float64(nil), theta0...)
	r := make([]float64, nres)
	trial := make([]float64, nres)
	jac := mat.NewDense(nres, np, nil)
	sumsq := func(v []float64) float64 {
		var s float64
		for _, e := range v {
			s += e * e
		}
		return s
	}
	residuals(theta, r, jac)
	cost := sumsq(r)
	lambda := 1e-3
	next := make([]float64, np)
	var jtj mat.SymDense
	var jtr, step mat.VecDense
	for range maxIter {
		jtj.SymOuterK(1, jac.T())
		jtr.MulVec(jac.T(), mat.NewVecDense(nres, r))
		improved := false
		for lambda < 1e12 {
			damped := mat.NewSymDense(np, nil)
			damped.CopySym(&jtj)
			for k := range np {
				damped.SetSym(k, k, jtj.At(k, k)*(1+lambda)+1e-12)
			}
			var chol mat.Cholesky
			if !chol.Factorize(damped) {
				lambda *= 10
				continue
			}
			if err := chol.SolveVecTo(&step, &jtr); err != nil {
				lambda *= 10
				continue
			}
			for k := range np {
				next[k] = math.Max(lo[k], math.Min(hi[k], theta[k]-step.AtVec(k)))
			}
			residuals(next, trial, nil)
			c := sumsq(trial)
			if c < cost {
				rel := (cost - c) / math.Max(cost, 1e-300)
				copy(theta, next)
				cost = c
				residuals(theta, r, jac)
				lambda = math.Max(lambda/3, 1e-9)
				improved = rel > 1e-10
				break
			}
			lambda *= 4
		}
		if !improved {
			break
		}
	}
	return theta, cost
}

// coarsen merges adjacent points into at most k groups of equal count, each at its weighted mean.
func coarsen(s sample, k int) sample {
	if len(s.x) <= k {
		return s
	}
	var out sample
	per := (len(s.x) + k - 1) / k
	for i := 0; i < len(s.x); i += per {
		var sw, sx, sy float64
		for j := i; j < min(i+per, len(s.x)); j++ {
			sw += s.w[j]
			sx += s.w[j] * s.x[j]
			sy += s.w[j] * s.y[j]
		}
		if sw > 0 {
			out.x = append(out.x, sx/sw)
			out.w = append(out.w, sw)
			out.y = append(out.y, sy/sw)
		}
	}
	return out
}
