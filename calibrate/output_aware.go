package calibrate

import (
	"fmt"
	"math"
	goruntime "runtime"
	"sync"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/tensor"
)

// Output-aware fitting. A site's output y (channels on the last axis) is read by a linear map W
// (the MatMul or Gemm after an MLP's activation), so what the rest of the model sees of an
// activation error e is eW, per token: the error that matters is the quadratic form e(WWᵀ)eᵀ, in
// which the errors of channel pairs add up or cancel, not the plain Σe² a pointwise fit minimises.
// The fit in that metric is exact and tractable without forming WWᵀ: with the free parameters θ of
// the pointwise fit (PWLU's heights and outer slopes, in which the function is linear, or Zorro's
// shape values, linearised and iterated), each token t gives the residual r_t = Σ_c (f(x_tc) −
// y_tc) W_c and the Jacobian rows J_tk = Σ_c ∂f/∂θ_k(x_tc) W_c (two nonzero ∂f/∂θ_k per value for
// PWLU), and the normal equations Σ JJᵀ, Σ Jr are the Gauss–Newton system of ‖(f(X) − Y)W‖². The
// step is regularised towards the pointwise fit by its Gramian, with the strength chosen by 4-fold
// cross-validation over the rows (crossValidatedStep), so a direction W does not see (WWᵀ is
// singular when W has fewer columns than rows, and the bias after W absorbs a constant) stays where
// the pointwise fit put it. The tokens are a sample spread over the calibration rows (tokenSample).

// linearConsumer is the linear map applied to a site's output by the one node that reads it.
type linearConsumer struct {
	node string
	c, d int
	w    []float64 // c×d row-major: row k holds channel k's outgoing weights
}

// findLinearConsumer returns the linear map after site s in m: s's output must be read by exactly
// one node, a MatMul with a constant 2-D right operand or a Gemm (transA = 0) with a constant B.
// ok is false otherwise (the site is then fitted pointwise).
func findLinearConsumer(m *onnx.ModelProto, s rewrite.Site) (*linearConsumer, bool) {
	g := m.GetGraph()
	var readers []*onnx.NodeProto
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			if in == s.Output {
				readers = append(readers, n)
				break
			}
		}
	}
	for _, o := range g.GetOutput() {
		if o.GetName() == s.Output {
			return nil, false
		}
	}
	if len(readers) != 1 {
		return nil, false
	}
	n := readers[0]
	in := n.GetInput()
	if len(in) < 2 || in[0] != s.Output || in[1] == s.Output {
		return nil, false
	}
	var transB bool
	alpha := 1.0
	switch {
	case onnx.IsDefaultDomain(n.GetDomain()) && n.GetOpType() == "MatMul":
	case onnx.IsDefaultDomain(n.GetDomain()) && n.GetOpType() == "Gemm":
		for _, a := range n.GetAttribute() {
			switch a.GetName() {
			case "transA":
				if a.GetI() != 0 {
					return nil, false
				}
			case "transB":
				transB = a.GetI() != 0
			case "alpha":
				alpha = float64(a.GetF())
			}
		}
	default:
		return nil, false
	}
	w, ok := constantValue(g, in[1])
	if !ok || w.Rank() != 2 {
		return nil, false
	}
	vals, err := float64Values(w)
	if err != nil {
		return nil, false
	}
	rows, cols := w.Shape[0], w.Shape[1]
	lc := &linearConsumer{node: n.GetName(), c: rows, d: cols, w: vals}
	if transB {
		lc.c, lc.d = cols, rows
		lc.w = make([]float64, len(vals))
		for i := range rows {
			for j := range cols {
				lc.w[j*rows+i] = vals[i*cols+j]
			}
		}
	}
	if alpha != 1 {
		for i := range lc.w {
			lc.w[i] *= alpha
		}
	}
	for _, v := range lc.w {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false
		}
	}
	return lc, true
}

// constantValue is the value of an initializer or of a Constant node's tensor.
func constantValue(g *onnx.GraphProto, name string) (*tensor.Tensor, bool) {
	for _, t := range g.GetInitializer() {
		if t.GetName() == name {
			v, err := tensor.FromProto(t)
			return v, err == nil
		}
	}
	for _, n := range g.GetNode() {
		if n.GetOpType() != "Constant" || !onnx.IsDefaultDomain(n.GetDomain()) || len(n.GetOutput()) != 1 || n.GetOutput()[0] != name {
			continue
		}
		for _, a := range n.GetAttribute() {
			if a.GetName() == "value" && a.GetT() != nil {
				v, err := tensor.FromProto(a.GetT())
				return v, err == nil
			}
		}
	}
	return nil, false
}

// outputAwareWork caps the multiply-adds of one pass over a site's token sample (about a second
// of one core): the sample keeps at most outputAwareWork / (3·C·D) tokens, and at least
// minTokens. vit_tiny's MLP (C = 768, D = 192) keeps 2427 tokens, its 24 calibration rows have 4728.
const (
	outputAwareWork = 1 << 30
	minTokens       = 256
)

// tokenSample keeps the values of up to max tokens (rows of the last axis) of a site's input, with
// the paired original outputs when calibrating against a partly rewritten model, spread evenly
// over the stream: when full, every other token is dropped and the stride doubles.
type tokenSample struct {
	c        int
	max      int
	stride   int
	seen     int       // tokens offered so far
	xs, ys   []float32 // kept tokens × c; ys nil: the target of xs
	rows     []int     // each kept token's calibration row (its cross-validation fold)
	mismatch bool      // a batch's last axis was not c: no sample
}

func newTokenSample(lc *linearConsumer) *tokenSample {
	return &tokenSample{c: lc.c, max: max(minTokens, outputAwareWork/(3*lc.c*lc.d)), stride: 1}
}

// add offers a batch: x the site's input, y the paired original activation output (nil: none),
// first the batch's first row.
func (ts *tokenSample) add(x, y *tensor.Tensor, first int) {
	if ts.mismatch {
		return
	}
	xs, ok := tensor.Float32s(x)
	if !ok || x.Rank() == 0 || x.Shape[x.Rank()-1] != ts.c {
		ts.mismatch = true
		return
	}
	var ys []float32
	if y != nil {
		if ys, ok = tensor.Float32s(y); !ok || len(ys) != len(xs) {
			ts.mismatch = true
			return
		}
	}
	tokens := len(xs) / ts.c
	perRow := max(1, tokens/max(1, x.Shape[0]))
	for t := range tokens {
		if ts.seen%ts.stride == 0 {
			if len(ts.rows) == ts.max {
				ts.halve()
			}
			if ts.seen%ts.stride == 0 {
				ts.xs = append(ts.xs, xs[t*ts.c:(t+1)*ts.c]...)
				if ys != nil {
					ts.ys = append(ts.ys, ys[t*ts.c:(t+1)*ts.c]...)
				}
				ts.rows = append(ts.rows, first+t/perRow)
			}
		}
		ts.seen++
	}
}

// halve drops every other kept token and doubles the stride.
func (ts *tokenSample) halve() {
	kept := 0
	for i := 0; i < len(ts.rows); i += 2 {
		copy(ts.xs[kept*ts.c:(kept+1)*ts.c], ts.xs[i*ts.c:(i+1)*ts.c])
		if ts.ys != nil {
			copy(ts.ys[kept*ts.c:(kept+1)*ts.c], ts.ys[i*ts.c:(i+1)*ts.c])
		}
		ts.rows[kept] = ts.rows[i]
		kept++
	}
	ts.xs, ts.rows = ts.xs[:kept*ts.c], ts.rows[:kept]
	if ts.ys != nil {
		ts.ys = ts.ys[:kept*ts.c]
	}
	ts.stride *= 2
}

func (ts *tokenSample) usable() bool { return ts != nil && !ts.mismatch && len(ts.rows) > 0 }

// outputAwareIterations are the Gauss–Newton iterations: one solves a family that is linear in
// its free parameters (PWLU, CRReLU) exactly; Zorro's are relinearised.
func outputAwareIterations(p onnxops.Params) int {
	if _, ok := p.(onnxops.ZorroParams); ok {
		return 4
	}
	return 1
}

// outputAwareSite is base refitted in the output metric: PWLU's bounds chosen by it
// (outputAwareBounds, on the site's statistics st), then the free parameters refined
// (outputAwareFit). ok is false when neither changes base.
func outputAwareSite(base onnxops.Params, st *Stats, ts *tokenSample, lc *linearConsumer, target Target, fo FitOptions) (onnxops.Params, bool) {
	if !ts.usable() || st == nil {
		return base, false
	}
	fo = fo.withDefaults()
	p, moved := base, false
	if q, ok := base.(onnxops.PWLUParams); ok {
		if d, err := newDistribution(st, target, fo.TailMass); err == nil {
			b := outputAwareBounds(q, d, ts, lc, target, q.N())
			moved = b.BL != q.BL || b.BR != q.BR
			p = b
		}
	}
	q, _, refined := outputAwareFit(p, ts, lc, st.Hist, target, math.Max(st.Std(), 1e-3))
	return q, moved || refined
}

// statsOf rebuilds a site's statistics from its report (summary and histogram); nil without a
// histogram.
func statsOf(r SiteReport) *Stats {
	if r.hist == nil || r.Stats.Count == 0 {
		return nil
	}
	n := float64(r.Stats.Count)
	return &Stats{Count: r.Stats.Count, Mean: r.Stats.Mean, M2: r.Stats.Std * r.Stats.Std * n, Min: r.Stats.Min, Max: r.Stats.Max, Hist: r.hist}
}

// outputAwareFit refines the single parameter set base of a site in the output metric of lc on the
// token sample ts (see the top of the file); scale is the spread of the site's values (for the
// finite-difference steps) and hist its histogram (for the regulariser). ok is false when no step
// beats base in cross-validation; cv holds the cross-validated objectives.
func outputAwareFit(base onnxops.Params, ts *tokenSample, lc *linearConsumer, hist *Histogram, target Target, scale float64) (p onnxops.Params, cv map[string]float64, ok bool) {
	if !ts.usable() {
		return base, nil, false
	}
	p = base
	improved := false
	for range outputAwareIterations(base) {
		v0, err := freeParams(p)
		if err != nil {
			break
		}
		h := paramSteps(v0, scale)
		perFold, err := outputNormalEquations(p, v0, h, ts, lc, target)
		if err != nil {
			break
		}
		gram, err := pointwiseGramian(p, hist, h)
		if err != nil {
			break
		}
		delta, stepCV, solved := crossValidatedStep(perFold, gram)
		if !solved {
			break
		}
		v := append([]float64{}, v0...)
		for a := range v {
			v[a] += delta[a]
		}
		q, err := withFreeParams(p, v)
		if err != nil {
			break
		}
		p, cv, improved = q, stepCV, true
	}
	return p, cv, improved
}

// outputNormalEquations accumulates, per cross-validation fold, the Gauss–Newton system of the
// output error ‖(f(X) − Y)W‖² at p over the token sample, with forward differences of steps h in
// the free parameters v0 (exact for PWLU: its output is linear in them). The tokens are split
// over the cores.
func outputNormalEquations(p onnxops.Params, v0, h []float64, ts *tokenSample, lc *linearConsumer, target Target) ([]*normalEquations, error) {
	k := len(v0)
	moved := make([]func(float64) float64, k)
	for i := range v0 {
		v := append([]float64{}, v0...)
		v[i] += h[i]
		q, err := withFreeParams(p, v)
		if err != nil {
			return nil, err
		}
		moved[i] = evaluator(q)
	}
	f := evaluator(p)
	tokens := len(ts.rows)
	parts := max(1, min(goruntime.GOMAXPROCS(0), tokens/16))
	results := make([][]*normalEquations, parts)
	var wg sync.WaitGroup
	for part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			perFold := make([]*normalEquations, folds)
			for i := range perFold {
				perFold[i] = newNormalEquations(k)
			}
			c, d := lc.c, lc.d
			r := make([]float64, d)
			jac := make([]float64, k*d)
			g := make([]float64, k)
			for t := part * tokens / parts; t < (part+1)*tokens/parts; t++ {
				clear(r)
				clear(jac)
				for ch := range c {
					x := float64(ts.xs[t*c+ch])
					if math.IsNaN(x) || math.IsInf(x, 0) {
						continue
					}
					var y float64
					if ts.ys != nil {
						y = float64(ts.ys[t*c+ch])
					} else {
						y = target.Eval(x)
					}
					f0 := f(x)
					wc := lc.w[ch*d : (ch+1)*d]
					if e := f0 - y; e != 0 {
						axpy(e, wc, r)
					}
					for a := range k {
						g[a] = (moved[a](x) - f0) / h[a]
						if g[a] != 0 {
							axpy(g[a], wc, jac[a*d:(a+1)*d])
						}
					}
				}
				ne := perFold[ts.rows[t]%folds]
				ne.rr += dot(r, r)
				for a := range k {
					ja := jac[a*d : (a+1)*d]
					ne.jtr[a] += dot(ja, r)
					for b := a; b < k; b++ {
						v := dot(ja, jac[b*d:(b+1)*d])
						ne.jtj[a*k+b] += v
						if b != a {
							ne.jtj[b*k+a] += v
						}
					}
				}
			}
			results[part] = perFold
		}()
	}
	wg.Wait()
	out := results[0]
	for _, more := range results[1:] {
		for i := range out {
			out[i].plus(more[i])
		}
	}
	for _, ne := range out {
		if math.IsNaN(ne.rr) || math.IsInf(ne.rr, 0) {
			return nil, fmt.Errorf("the output error is not finite")
		}
	}
	return out, nil
}

func axpy(a float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

func dot(x, y []float64) float64 {
	y = y[:len(x)]
	var s float64
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// outputAwareReports are the reports with each single-set site refined in the output metric of
// its linear consumer (sites without one, or per-channel sites, keep their fits); ok is false
// when no site changed.
func outputAwareReports(reports []SiteReport, consumers []*linearConsumer, samples []*tokenSample, fo FitOptions) ([]SiteReport, bool) {
	out := make([]SiteReport, len(reports))
	changed := false
	for i, r := range reports {
		out[i] = r
		if consumers[i] == nil || len(r.Parameters) != 1 || r.hist == nil {
			continue
		}
		p, ok := outputAwareSite(r.Parameters[0], statsOf(r), samples[i], consumers[i], r.target, fo)
		if !ok {
			continue
		}
		out[i].Parameters = []onnxops.Params{p}
		out[i].Fit = pointwiseError(out[i].Parameters, r.hist, r.target)
		changed = true
	}
	return out, changed
}

// outputAwareSetup finds each site's linear consumer and makes its token sample (nil for a site
// that has none, or whose target is ReLU: PWLU and CRReLU reproduce ReLU exactly already).
func outputAwareSetup(m *onnx.ModelProto, sites []rewrite.Site, opts Options) ([]*linearConsumer, []*tokenSample) {
	consumers := make([]*linearConsumer, len(sites))
	samples := make([]*tokenSample, len(sites))
	if opts.Fit.withDefaults().Objective != ObjectiveMatch {
		return consumers, samples // the papers' initialisations are not approximations to refine
	}
	for i, s := range sites {
		// findLinearConsumer reads the main graph; a site in a body or function has its consumer
		// there, one per execution.
		if TargetOf(s) == TargetReLU || s.Scope != "" {
			continue
		}
		if lc, ok := findLinearConsumer(m, s); ok {
			consumers[i], samples[i] = lc, newTokenSample(lc)
		}
	}
	return consumers, samples
}

// outputObjective is ‖(f(X) − Y)W‖² over every step-th token of the sample: what a candidate costs
// in the output metric, at a third of the work of a Gauss–Newton pass per token.
func outputObjective(f func(float64) float64, ts *tokenSample, lc *linearConsumer, target Target, step int) float64 {
	tokens := len(ts.rows)
	parts := max(1, min(goruntime.GOMAXPROCS(0), tokens/(16*step)))
	sums := make([]float64, parts)
	var wg sync.WaitGroup
	for part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, d := lc.c, lc.d
			r := make([]float64, d)
			lo := (part * tokens / parts) / step * step
			for t := lo; t < (part+1)*tokens/parts; t += step {
				clear(r)
				for ch := range c {
					x := float64(ts.xs[t*c+ch])
					if math.IsNaN(x) || math.IsInf(x, 0) {
						continue
					}
					y := 0.0
					if ts.ys != nil {
						y = float64(ts.ys[t*c+ch])
					} else {
						y = target.Eval(x)
					}
					if e := f(x) - y; e != 0 {
						axpy(e, lc.w[ch*d:(ch+1)*d], r)
					}
				}
				sums[part] += dot(r, r)
			}
		}()
	}
	wg.Wait()
	var total float64
	for _, s := range sums {
		total += s
	}
	return total
}

// searchTokens is how many tokens the bounds search scores each candidate on (every step-th of
// the sample); the chosen bounds are then refined on the whole sample.
const searchTokens = 512

// outputAwareBounds chooses PWLU bounds μ − c_L·σ, μ + c_R·σ by the output objective, each
// candidate's heights and slopes fitted by least squares on the site's distribution d: the
// pointwise bound choice (wRMSE + 0.1·max) lets the outer linear pieces miss the target by a
// one-signed error on every channel, which W sums coherently, while the errors inside the bounds
// alternate in sign and largely cancel. The search varies each width alone from base's, combines
// the best of each, and refines each width by ±0.25σ.
func outputAwareBounds(base onnxops.PWLUParams, d *distribution, ts *tokenSample, lc *linearConsumer, target Target, n int) onnxops.PWLUParams {
	step := max(1, len(ts.rows)/searchTokens)
	sigma := d.scale()
	type scored struct {
		p     onnxops.PWLUParams
		score float64
	}
	tried := map[[2]float64]scored{}
	try := func(cl, cr float64) (scored, bool) {
		key := [2]float64{math.Round(cl*1e3) / 1e3, math.Round(cr*1e3) / 1e3}
		if s, ok := tried[key]; ok {
			return s, true
		}
		if cl <= 0 || cr <= 0 {
			return scored{}, false
		}
		p, err := pwluLeastSquares(target, d.fit, d.mu-cl*sigma, d.mu+cr*sigma, n)
		if err != nil || p.Validate() != nil {
			return scored{}, false
		}
		s := scored{p, outputObjective(evaluator(p), ts, lc, target, step)}
		tried[key] = s
		return s, true
	}
	widths := func(p onnxops.PWLUParams) (float64, float64) { return (d.mu - p.BL) / sigma, (p.BR - d.mu) / sigma }
	best := scored{base, outputObjective(evaluator(base), ts, lc, target, step)}
	consider := func(cl, cr float64) scored {
		s, ok := try(cl, cr)
		if ok && s.score < best.score {
			best = s
		}
		return s
	}
	cl0, cr0 := widths(base)
	bestL, bestR := cl0, cr0
	scoreL, scoreR := best.score, best.score
	for _, c := range boundWidths {
		if s := consider(c, cr0); s.p.Heights != nil && s.score < scoreL {
			bestL, scoreL = c, s.score
		}
		if s := consider(cl0, c); s.p.Heights != nil && s.score < scoreR {
			bestR, scoreR = c, s.score
		}
	}
	consider(bestL, bestR)
	for _, h := range []float64{2 * boundRefine, boundRefine, boundRefine / 2} {
		cl, cr := widths(best.p)
		consider(cl-h, cr)
		consider(cl+h, cr)
		consider(cl, cr-h)
		consider(cl, cr+h)
	}
	return best.p
}
