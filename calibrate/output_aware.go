package calibrate

import (
	"fmt"
	"math"
	goruntime "runtime"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/workers"
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
	w    []float32 // c×d row-major: row k holds channel k's outgoing weights
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
	// lc is assembled in float64 (transposed, scaled by α) and handed back in float32, the
	// precision the model's Gemm computes in.
	lc := &struct {
		node string
		c, d int
		w    []float64
	}{node: n.GetName(), c: rows, d: cols, w: vals}
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
	w32 := make([]float32, len(lc.w))
	for i, v := range lc.w {
		w32[i] = float32(v)
	}
	return &linearConsumer{node: lc.node, c: lc.c, d: lc.d, w: w32}, true
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

// outputAwareWork caps the work of one pass over a site's token sample: the sample keeps at most
// outputAwareWork / (3·C·D) tokens, and at least minTokens. vit_tiny's MLP (C = 768, D = 192)
// keeps 606 tokens of its 24 calibration rows' 4728 (465,000 values for 19 parameters; 1.8 MiB),
// the digits models all of theirs.
const (
	outputAwareWork = 1 << 28
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
	threads  int       // goroutines the fits on the sample may use
}

func newTokenSample(lc *linearConsumer, threads int) *tokenSample {
	if threads <= 0 {
		threads = goruntime.GOMAXPROCS(0)
	}
	return &tokenSample{c: lc.c, max: max(minTokens, outputAwareWork/(3*lc.c*lc.d)), stride: 1, threads: threads}
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
	ts.withTargets(target)
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
		// The step minimises the linearised objective; a nonlinear family (Zorro) can still land
		// higher on the real one, and then the iteration stops where it was.
		current := 0.0
		for _, ne := range perFold {
			current += ne.rr
		}
		if outputObjective(evaluator(q), ts, lc, target, 1) >= current {
			break
		}
		p, cv, improved = q, stepCV, true
	}
	return p, cv, improved
}

// outputNormalEquations accumulates, per cross-validation fold, the Gauss–Newton system of the
// output error ‖(f(X) − Y)W‖² at p over the token sample, with forward differences of steps h in
// the free parameters v0 (exact for PWLU: its output is linear in them). Each chunk of tokens is
// one SGEMM: the rows [f(x_t) − y_t; ∂f/∂θ_1(x_t); …; ∂f/∂θ_k(x_t)] of every token times W give
// r_t and the k rows of J_t (mostly zeros for PWLU, but a dense GEMM is far faster than a sparse
// loop), and the products of those rows are summed in float64.
func outputNormalEquations(p onnxops.Params, v0, h []float64, ts *tokenSample, lc *linearConsumer, target Target) ([]*normalEquations, error) {
	threads := ts.threads
	k := len(v0)
	grad, err := gradientOf(p, v0, h)
	if err != nil {
		return nil, err
	}
	f := evaluator(p)
	perFold := make([]*normalEquations, folds)
	for i := range perFold {
		perFold[i] = newNormalEquations(k)
	}
	c, d, stride := lc.c, lc.d, k+1
	tokens := len(ts.rows)
	chunk := max(1, min(tokens, outputChunkValues/(stride*c)))
	a := make([]float32, chunk*stride*c)
	out := make([]float32, chunk*stride*d)
	for lo := 0; lo < tokens; lo += chunk {
		n := min(chunk, tokens-lo)
		clear(a[:n*stride*c])
		parallelRange(n, threads, func(t0, t1 int) {
			for t := t0; t < t1; t++ {
				rows := a[t*stride*c : (t+1)*stride*c]
				for ch := range c {
					x := float64(ts.xs[(lo+t)*c+ch])
					if math.IsNaN(x) || math.IsInf(x, 0) {
						continue
					}
					f0 := f(x)
					rows[ch] = float32(f0 - ts.target(lo+t, ch, x, target))
					grad(x, f0, func(q int, g float64) { rows[(q+1)*c+ch] = float32(g) })
				}
			}
		})
		if err := gemm.Sgemm(false, false, n*stride, d, c, 1, a, c, lc.w, d, 0, out, d, threads); err != nil {
			return nil, err
		}
		for t := range n {
			rows := out[t*stride*d : (t+1)*stride*d]
			r := rows[:d]
			ne := perFold[ts.rows[lo+t]%folds]
			ne.rr += dot32(r, r)
			for q := range k {
				jq := rows[(q+1)*d : (q+2)*d]
				ne.jtr[q] += dot32(jq, r)
				for b := q; b < k; b++ {
					v := dot32(jq, rows[(b+1)*d:(b+2)*d])
					ne.jtj[q*k+b] += v
					if b != q {
						ne.jtj[b*k+q] += v
					}
				}
			}
		}
	}
	for _, ne := range perFold {
		if math.IsNaN(ne.rr) || math.IsInf(ne.rr, 0) {
			return nil, fmt.Errorf("the output error is not finite")
		}
	}
	return perFold, nil
}

// gradientOf returns a function that reports the nonzero derivatives ∂f/∂θ_q at x of p's free
// parameters v0 (freeParams' layout), given f0 = f(x): PWLU's exactly (the hat functions of the
// two heights around x, or the outer height and slope), other families' by forward differences of
// steps h.
func gradientOf(p onnxops.Params, v0, h []float64) (func(x, f0 float64, set func(q int, g float64)), error) {
	if q, ok := p.(onnxops.PWLUParams); ok && q.N() >= 1 && q.BR > q.BL {
		n := q.N()
		scale := float64(n) / (q.BR - q.BL)
		return func(x, _ float64, set func(int, float64)) {
			switch {
			case x < q.BL:
				set(0, 1)
				set(n+1, x-q.BL)
			case x >= q.BR:
				set(n, 1)
				set(n+2, x-q.BR)
			default:
				t := (x - q.BL) * scale
				i := max(0, min(int(t), n-1))
				u := t - float64(i)
				set(i, 1-u)
				set(i+1, u)
			}
		}, nil
	}
	moved := make([]func(float64) float64, len(v0))
	for i := range v0 {
		v := append([]float64{}, v0...)
		v[i] += h[i]
		q, err := withFreeParams(p, v)
		if err != nil {
			return nil, err
		}
		moved[i] = evaluator(q)
	}
	return func(x, f0 float64, set func(int, float64)) {
		for q := range moved {
			if g := (moved[q](x) - f0) / h[q]; g != 0 {
				set(q, g)
			}
		}
	}, nil
}

// outputChunkValues bounds the rows handed to one SGEMM (float32 values: 16 MiB).
const outputChunkValues = 1 << 22

// target is the value token t, channel ch should take: the paired original output, or the target
// function of x (evaluated once per sample by withTargets).
func (ts *tokenSample) target(t, ch int, x float64, target Target) float64 {
	if ts.ys != nil {
		return float64(ts.ys[t*ts.c+ch])
	}
	return target.Eval(x)
}

// withTargets fills ys with the target function of xs for a sample without paired outputs, so
// that the many passes of the bounds search and the fits do not evaluate erf again each time
// (4.6 of 94 s on vit_tiny --sequential). The sample is complete when the fits start.
func (ts *tokenSample) withTargets(target Target) {
	if ts.ys != nil || !ts.usable() {
		return
	}
	ys := make([]float32, len(ts.xs))
	parallelRange(len(ts.rows), ts.threads, func(lo, hi int) {
		for i := lo * ts.c; i < hi*ts.c; i++ {
			ys[i] = float32(target.Eval(float64(ts.xs[i])))
		}
	})
	ts.ys = ys
}

// parallelRange splits [0, n) into up to threads contiguous parts run in parallel.
func parallelRange(n, threads int, f func(lo, hi int)) {
	workers.Run(n, max(1, min(threads, n)), f)
}

func dot32(x, y []float32) float64 {
	y = y[:len(x)]
	var s float64
	for i, v := range x {
		s += float64(v) * float64(y[i])
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
			consumers[i], samples[i] = lc, newTokenSample(lc, opts.Threads)
		}
	}
	return consumers, samples
}

// outputObjective is ‖(f(X) − Y)W‖² over every step-th token of the sample (one SGEMM per chunk
// of tokens): what a candidate costs in the output metric.
func outputObjective(f func(float64) float64, ts *tokenSample, lc *linearConsumer, target Target, step int) float64 {
	threads := ts.threads
	c, d := lc.c, lc.d
	var picked []int
	for t := 0; t < len(ts.rows); t += step {
		picked = append(picked, t)
	}
	chunk := max(1, min(len(picked), outputChunkValues/c))
	a := make([]float32, chunk*c)
	out := make([]float32, chunk*d)
	var total float64
	for lo := 0; lo < len(picked); lo += chunk {
		n := min(chunk, len(picked)-lo)
		parallelRange(n, threads, func(t0, t1 int) {
			for i := t0; i < t1; i++ {
				t := picked[lo+i]
				for ch := range c {
					x := float64(ts.xs[t*c+ch])
					e := 0.0
					if !math.IsNaN(x) && !math.IsInf(x, 0) {
						e = f(x) - ts.target(t, ch, x, target)
					}
					a[i*c+ch] = float32(e)
				}
			}
		})
		if err := gemm.Sgemm(false, false, n, d, c, 1, a, c, lc.w, d, 0, out, d, threads); err != nil {
			return math.Inf(1)
		}
		total += dot32(out[:n*d], out[:n*d])
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
