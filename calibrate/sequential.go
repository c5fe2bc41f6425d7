package calibrate

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	goruntime "runtime"

	"gonum.org/v1/gonum/mat"

	"github.com/actswap/actswap/internal/actkernel"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// Sequential calibration (Options.Sequential) is greedy site-by-site refinement against the
// model's outputs. Sites are visited in graph order; at each, the earlier sites already carry
// their chosen parameters and the later ones are still the original activations. The site gets
// several candidate parameter sets:
//
//   - "independent": the pointwise fit on the original model's pre-activations;
//   - "pointwise": the pointwise fit on the pre-activations the partly rewritten model delivers,
//     regressing the original activation's output (paired histograms);
//   - "end_to_end(mu=…)": one regularised Gauss–Newton step from the pointwise fit on the
//     end-to-end objective below, for a few regularisation strengths μ (single parameter sets).
//
// and keeps the one with the smallest end-to-end objective: the mean squared difference between
// the partly rewritten model's graph outputs and the original model's, over every output element of
// the calibration rows. Plain MSE on the outputs is what `actswap compare` reports as relative L2
// error, and for logits it also bounds the change of the softmax, so no argmax- or KL-specific
// objective is used. The step's strength μ is chosen by 4-fold cross-validation over the
// calibration rows (on the linearised objective, which the normal equations of each fold give for
// free), which keeps the μ that generalises rather than the one that fits the rows best; the step
// with that μ is then solved on every row, and the candidates are compared exactly on every row.
// Finally the whole sequential model is compared with the all-independent one on every row and the
// independent fits are kept if they do better, so sequential is never worse on the calibration data.

// SequentialChoice is what end-to-end refinement did at one site.
type SequentialChoice struct {
	// Objective names the end-to-end objective: "output_mse".
	Objective string `json:"objective"`
	// Before is the objective with the earlier sites replaced and this one still original; After
	// with this one replaced by the chosen candidate too (all calibration rows).
	Before     float64               `json:"before"`
	After      float64               `json:"after"`
	Chosen     string                `json:"chosen"`
	Candidates []SequentialCandidate `json:"candidates"`
	Note       string                `json:"note,omitempty"`
}

// SequentialCandidate is one candidate's end-to-end objective on the calibration rows.
type SequentialCandidate struct {
	Name      string         `json:"name"`
	Family    onnxops.Family `json:"family"`
	Objective float64        `json:"objective"`
	// MaxAbs is the largest output difference on the calibration rows (reported, not optimised:
	// on a few hundred rows it says little about other data).
	MaxAbs float64 `json:"max_abs"`
	// CrossValidated is, for the end-to-end step, the cross-validated linearised objective of
	// each μ tried ("none": no step), from which μ was chosen.
	CrossValidated map[string]float64 `json:"cross_validated,omitempty"`
	// HeldOut is the objective on the held-out rows, for the candidates chosen between there
	// (per-channel sets against the best single set).
	HeldOut *float64 `json:"held_out,omitempty"`
}

// SequentialSummary compares the sequential result with independent fitting end to end.
type SequentialSummary struct {
	Objective       string  `json:"objective"`
	Independent     float64 `json:"independent"` // every site fitted independently
	Sequential      float64 `json:"sequential"`  // the greedy choices
	KeptIndependent bool    `json:"kept_independent,omitempty"`
}

const objectiveOutputMSE = "output_mse"

// folds is the number of cross-validation folds; row r of the calibration data is in fold r mod folds.
const folds = 4

// stepStrengths are the μ tried for the Gauss–Newton step: the pointwise Gramian is scaled to μ
// times the end-to-end Gramian's trace.
var stepStrengths = []float64{1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3, 10, 100}

// referenceOutputs gives the original model's outputs per batch, cached while they fit
// referenceBudget.
type referenceOutputs struct {
	sess  *runtime.Session
	names []string
	cache heldBatches[map[string]*tensor.Tensor]
}

// referenceBudget caps the cached reference outputs (elements; 16 MiB of float32). Past it the
// original model is run again on every pass, so memory stays bounded whatever the data's size.
const referenceBudget = 1 << 22

func (r *referenceOutputs) get(batchNo int, batch map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	if out, ok := r.cache.get(batchNo); ok {
		return out, nil
	}
	out, err := r.sess.Run(batch, r.names...)
	if err != nil {
		return nil, fmt.Errorf("original model, batch %d: %w", batchNo, err)
	}
	r.cache.add(batchNo, out, elementsOf(out))
	return out, nil
}

// errorSums accumulates squared output differences.
type errorSums struct{ sse, n, maxAbs float64 }

func (e errorSums) mean() float64 {
	if e.n == 0 {
		return 0
	}
	return e.sse / e.n
}

// rowSplit places a batch's rows in the cross-validation folds.
type rowSplit struct {
	first, rows int // global index of the batch's first row; rows in the batch
}

func (s rowSplit) fold(row int) int { return (s.first + row) % folds }

// rowOf maps element i of an output to its row, when the output's first axis is the batch.
func (s rowSplit) rowOf(t *tensor.Tensor, i int) int {
	if t.Rank() == 0 || t.Shape[0] != s.rows || s.rows == 0 {
		return 0
	}
	return i / (t.Len() / s.rows)
}

// addErrors adds the squared differences of got against ref over the named outputs.
func (e *errorSums) add(names []string, got, ref map[string]*tensor.Tensor) error {
	for _, n := range names {
		a, err := float64Values(got[n])
		if err != nil {
			return fmt.Errorf("output %q: %w", n, err)
		}
		b, err := float64Values(ref[n])
		if err != nil {
			return fmt.Errorf("output %q: %w", n, err)
		}
		if len(a) != len(b) {
			return fmt.Errorf("output %q has %d elements, the original's %d", n, len(a), len(b))
		}
		for i := range a {
			d := a[i] - b[i]
			if math.IsNaN(d) || math.IsInf(d, 0) {
				d = math.MaxFloat32 // a candidate that overflows loses
			}
			e.sse += d * d
			e.n++
			e.maxAbs = math.Max(e.maxAbs, math.Abs(d))
		}
	}
	return nil
}

// calibrateSequential fits sites greedily in graph order (see the comment at the top of the file).
// It returns the sequential choices and the independent fits.
func calibrateSequential(m *onnx.ModelProto, data Reader, sites []rewrite.Site, opts Options) (seq []SiteReport, ind []resultCandidate, summary *SequentialSummary, err error) {
	data = newReplayReader(data)
	consumers, samples := outputAwareSetup(m, sites, opts)
	stats, err := collect(m, data, sites, opts, samples)
	if err != nil {
		return nil, nil, nil, err
	}
	independent := make([]SiteReport, len(sites))
	indFits := map[string]rewrite.SiteParams{}
	indFamilies := map[string]onnxops.Family{}
	for i, s := range sites {
		if independent[i], err = fitSite(s, stats[i], opts); err != nil {
			return nil, nil, nil, err
		}
		indFits[s.Node] = siteParams(independent[i])
		indFamilies[s.Node] = independent[i].Family
	}
	ind = independentCandidates(CandidateIndependent, independent, consumers, samples, opts)
	refSess, err := runtime.NewSession(m, runtimeOptions(opts)...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("compiling the original model: %w", err)
	}
	ref := &referenceOutputs{sess: refSess, cache: heldBatches[map[string]*tensor.Tensor]{budget: referenceBudget}}
	for _, o := range refSess.Outputs() {
		ref.names = append(ref.names, o.Name)
	}

	reports := make([]SiteReport, len(sites))
	fits := map[string]rewrite.SiteParams{}
	families := map[string]onnxops.Family{}
	current := m
	// heldOutWith(i, axis) scores sets for site i, the earlier sites carrying their choices, on the
	// held-out rows (nil without them).
	heldRef := &referenceOutputs{sess: refSess, names: ref.names, cache: heldBatches[map[string]*tensor.Tensor]{budget: referenceBudget}}
	heldOutWith := func(i, axis int) func([]onnxops.Params) (float64, error) {
		if opts.HeldOut == nil {
			return nil
		}
		return func(sets []onnxops.Params) (float64, error) {
			f, fams := maps.Clone(fits), maps.Clone(families)
			f[sites[i].Node], fams[sites[i].Node] = rewrite.SiteParams{Sets: sets, Axis: axis}, sets[0].Family()
			model, _, err := applyFits(m, sites[:i+1], f, fams, opts)
			if err != nil {
				return 0, err
			}
			return modelObjective(model, heldRef, opts.HeldOut, opts)
		}
	}
	// The values at each site, of the partly rewritten model and of the original: at the first
	// site the two are the same model.
	var cur, orig *frontier
	for i, s := range sites {
		if i == 0 {
			cur = newFrontier(m, s, opts, nil, nil)
			orig = cur
		} else {
			prevCur, prevOrig, chosen, prevAxis, prevTarget := cur, orig, reports[i-1].Parameters, reports[i-1].axis(), TargetOf(sites[i-1])
			scored := reports[i-1].Sequential != nil && len(reports[i-1].Sequential.Candidates) > 0
			cur = newFrontier(current, s, opts, prevCur, func(x *tensor.Tensor, _ map[string]*tensor.Tensor) (*tensor.Tensor, bool) {
				// The chosen activation, as the candidates' tail runs applied it (a site that
				// was not scored end to end may not be float32: run the whole model then).
				if !scored || x.DType != tensor.Float32 {
					return nil, false
				}
				return activate(x, chosen, prevAxis, prevTarget), true
			})
			orig = newFrontier(m, s, opts, prevOrig, func(_ *tensor.Tensor, vals map[string]*tensor.Tensor) (*tensor.Tensor, bool) {
				return vals[prevOrig.site.Output], true
			})
		}
		pointwise, layer, sample := independent[i], stats[i].Layer, samples[i]
		if i > 0 {
			// The inputs the partly rewritten model delivers, paired with the original outputs.
			if consumers[i] != nil {
				sample = newTokenSample(consumers[i], opts.Threads)
			}
			st, err := pairedStats(m, s, cur, orig, data, sample, opts)
			if err != nil {
				return nil, nil, nil, err
			}
			if pointwise, err = fitSite(s, st, opts); err != nil {
				return nil, nil, nil, err
			}
			layer = st.Layer
			cur.release()
			orig.release()
		}
		samples[i] = nil // only this site's pass needs it: free it
		// Per-channel fits are candidates beside the per-tensor search, which starts from the
		// per-tensor fit.
		var perChannel []*candidate
		axis := 1
		if len(pointwise.Parameters) > 1 {
			axis = pointwise.ChannelAxis
			shrunk, unshrunk := pointwise.Fit, pointwise.unshrunk.fit
			perChannel = append(perChannel, &candidate{name: "pointwise, per channel", family: pointwise.Family, sets: pointwise.Parameters, fit: &shrunk})
			if len(pointwise.unshrunk.sets) > 1 {
				perChannel = append(perChannel, &candidate{name: "pointwise, per channel, no prior", family: pointwise.Family, sets: pointwise.unshrunk.sets, fit: &unshrunk})
			}
			pointwise.Parameters, pointwise.Fit = pointwise.perTensor.sets, pointwise.perTensor.fit
		}
		var outputAware []onnxops.Params
		var refineOutput func(onnxops.Params) onnxops.Params
		if len(pointwise.Parameters) == 1 && sample.usable() {
			if p, ok := outputAwareSite(pointwise.Parameters[0], layer, sample, consumers[i], TargetOf(s), opts.Fit); ok {
				outputAware = []onnxops.Params{p}
			}
			refineOutput = func(p onnxops.Params) onnxops.Params {
				q, _, _ := outputAwareFit(p, sample, consumers[i], layer.Hist, TargetOf(s), math.Max(layer.Std(), 1e-3))
				return q
			}
		}
		// The objective before this site is the one after the previous (the same model); before
		// the first, the original's against itself.
		before := 0.0
		if i > 0 && reports[i-1].Sequential != nil {
			before = reports[i-1].Sequential.After
		}
		if reports[i], err = chooseEndToEnd(cur, s, independent[i], pointwise, outputAware, refineOutput, perChannel, axis, heldOutWith(i, axis), before, layer, ref, data, opts); err != nil {
			return nil, nil, nil, fmt.Errorf("site %q: %w", s.Node, err)
		}
		fits[s.Node] = siteParams(reports[i])
		families[s.Node] = reports[i].Family
		if i+1 < len(sites) {
			if current, _, err = applyFits(m, sites[:i+1], fits, families, opts); err != nil {
				return nil, nil, nil, err
			}
		}
	}

	// Greedy choices are each no worse than the independent fit given the earlier choices, but the
	// all-independent model is not among the paths tried: compare with it once, on every row.
	summary = &SequentialSummary{Objective: objectiveOutputMSE}
	seqModel, _, err := applyFits(m, sites, fits, families, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	indModel, _, err := applyFits(m, sites, indFits, indFamilies, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	if summary.Sequential, err = modelObjective(seqModel, ref, data, opts); err != nil {
		return nil, nil, nil, err
	}
	if summary.Independent, err = modelObjective(indModel, ref, data, opts); err != nil {
		return nil, nil, nil, err
	}
	if summary.Independent < summary.Sequential {
		summary.KeptIndependent = true
		for i := range reports {
			choice := reports[i].Sequential
			reports[i] = independent[i]
			reports[i].Sequential = choice
		}
	}
	return reports, ind, summary, nil
}

func runtimeOptions(opts Options) []runtime.Option {
	if opts.Threads > 0 {
		return []runtime.Option{runtime.WithThreads(opts.Threads)}
	}
	return nil
}

// modelObjective is the end-to-end objective of a whole model on every calibration row.
func modelObjective(model *onnx.ModelProto, ref *referenceOutputs, data Reader, opts Options) (float64, error) {
	sess, err := runtime.NewSession(model, runtimeOptions(opts)...)
	if err != nil {
		return 0, fmt.Errorf("compiling the calibrated model: %w", err)
	}
	var sums errorSums
	err = eachBatch(data, func(batchNo, first int, batch map[string]*tensor.Tensor) error {
		want, err := ref.get(batchNo, batch)
		if err != nil {
			return err
		}
		got, err := sess.Run(batch, ref.names...)
		if err != nil {
			return fmt.Errorf("calibrated model, batch %d: %w", batchNo, err)
		}
		return sums.add(ref.names, got, want)
	})
	return sums.mean(), err
}

// eachBatch streams data once from the start, with each batch's number and first row.
func eachBatch(data Reader, f func(batchNo, first int, batch map[string]*tensor.Tensor) error) error {
	if err := data.Reset(); err != nil {
		return err
	}
	first := 0
	for batchNo := 0; ; batchNo++ {
		batch, err := data.Next()
		if err == io.EOF {
			if batchNo == 0 {
				return errors.New("the calibration data hold no batch")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(batchNo, first, batch); err != nil {
			return err
		}
		first += rowsOf(batch)
	}
}

// upstreamFunc computes, for one batch, the site's input and the feeds of the model cut below it.
type upstreamFunc = func(batchNo int, batch map[string]*tensor.Tensor) (x *tensor.Tensor, feeds map[string]*tensor.Tensor, err error)

// eachCutBatch is eachBatch with each batch's reference outputs and its upstream values.
func eachCutBatch(data Reader, ref *referenceOutputs, upstream upstreamFunc, f func(batchNo, first int, batch, want map[string]*tensor.Tensor, x *tensor.Tensor, feeds map[string]*tensor.Tensor) error) error {
	return eachBatch(data, func(batchNo, first int, batch map[string]*tensor.Tensor) error {
		want, err := ref.get(batchNo, batch)
		if err != nil {
			return err
		}
		x, feeds, err := upstream(batchNo, batch)
		if err != nil {
			return err
		}
		return f(batchNo, first, batch, want, x, feeds)
	})
}

// candidate is one parameter choice for a site.
type candidate struct {
	name   string
	family onnxops.Family
	sets   []onnxops.Params // nil: the original activation
	sums   errorSums
	cv     map[string]float64
	fit    *FitError // the pointwise fit error, where known (per-channel sets: the worst channel's)
	// heldOut is the end-to-end objective on the held-out rows, where the choice was made there.
	heldOut *float64
}

// chooseEndToEnd refines one site of the partly rewritten model (earlier sites replaced, this one
// original), whose values at the site fr holds, against the original model's outputs, and returns
// the report of the chosen candidate.
//
// With per-channel sets (Options.PerChannel), pointwise is the per-tensor fit, which the search
// refines, and perChannel (sets along axis) are further candidates scored after it. Channels
// fitted on their own data can win on the calibration rows and lose elsewhere (digits_mlp_gelu's
// 192 values per channel: in sample the best, held out 3× the per-tensor error), so where heldOut
// is given (the end-to-end objective of the partly rewritten model with this site's sets, on the
// held-out rows) the best single set and the per-channel results are compared on it instead.
func chooseEndToEnd(fr *frontier, s rewrite.Site, independent, pointwise SiteReport, outputAware []onnxops.Params, refineOutput func(onnxops.Params) onnxops.Params, perChannel []*candidate, axis int, heldOut func([]onnxops.Params) (float64, error), before float64, layer *Stats, ref *referenceOutputs, data Reader, opts Options) (SiteReport, error) {
	fallback := func(note string) (SiteReport, error) {
		rep := pointwise
		rep.Sequential = &SequentialChoice{Objective: objectiveOutputMSE, Chosen: "pointwise", Note: note}
		return rep, nil
	}
	if opts.Fit.withDefaults().Objective == ObjectiveInit {
		// The papers' initialisations are a start for training, not an approximation to improve.
		return fallback("the init objective is not refined end to end")
	}
	if fr.cutErr != nil {
		return fallback("end-to-end choice unavailable: " + fr.cutErr.Error())
	}
	// upstream gives, for a batch, the site's input and the feeds of the model's tail below the
	// site (the frontier keeps them across the passes while they fit its budget).
	upstream := func(batchNo int, batch map[string]*tensor.Tensor) (*tensor.Tensor, map[string]*tensor.Tensor, error) {
		x, vals, err := fr.at(batchNo, batch)
		if err != nil {
			return nil, nil, err
		}
		if fr.cutErr != nil {
			return nil, nil, fr.cutErr
		}
		if x.DType != tensor.Float32 || vals[s.Output].DType != tensor.Float32 {
			return nil, nil, errNotFloat32
		}
		feeds := make(map[string]*tensor.Tensor, len(fr.cut.feeds)) // callers set the site's output in it
		for _, name := range fr.cut.feeds {
			feeds[name] = vals[name]
		}
		return x, feeds, nil
	}
	runTail := func(feeds map[string]*tensor.Tensor, x *tensor.Tensor, sets []onnxops.Params, target Target) (map[string]*tensor.Tensor, error) {
		feeds[s.Output] = activate(x, sets, axis, target)
		return fr.tail.Run(feeds, fr.cut.outputs...)
	}
	target := TargetOf(s)

	candidates := []*candidate{{name: "independent", family: independent.Family, sets: independent.Parameters}}
	if !reflect.DeepEqual(independent.Parameters, pointwise.Parameters) {
		candidates = append(candidates, &candidate{name: "pointwise", family: pointwise.Family, sets: pointwise.Parameters})
	}
	if outputAware != nil {
		candidates = append(candidates, &candidate{name: "output_aware", family: pointwise.Family, sets: outputAware})
	}

	// score runs the data once and scores the candidates not scored yet, on every row.
	scored := 0
	score := func() error {
		fresh := candidates[scored:]
		scored = len(candidates)
		if len(fresh) == 0 {
			return nil
		}
		return eachCutBatch(data, ref, upstream, func(batchNo, _ int, _, want map[string]*tensor.Tensor, x *tensor.Tensor, feeds map[string]*tensor.Tensor) error {
			for _, c := range fresh {
				got, err := runTail(feeds, x, c.sets, target)
				if err != nil {
					return fmt.Errorf("batch %d, candidate %s: %w", batchNo, c.name, err)
				}
				if err := c.sums.add(fr.cut.outputs, got, want); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// bestSoFar is the scored candidate with the smallest objective; the independent fit is
	// always a candidate, and wins ties.
	bestSoFar := func() *candidate {
		best := candidates[0]
		for _, c := range candidates[1:scored] {
			if c.sums.mean() < best.sums.mean() {
				best = c
			}
		}
		return best
	}
	var err error
	pwlu := len(pointwise.Parameters) == 1 && pointwise.Family == onnxops.FamilyPWLU
	d, derr := newDistribution(layer, target, opts.Fit.withDefaults().TailMass)
	pwlu = pwlu && derr == nil
	if pwlu {
		refine := func(p onnxops.PWLUParams) onnxops.Params {
			if refineOutput == nil {
				return p
			}
			return refineOutput(p)
		}
		err = searchBounds(d, target, opts, refine, &candidates, score, bestSoFar)
	} else {
		err = score()
	}
	// The Gauss–Newton step from the best candidate so far, for single parameter sets that the
	// output metric has not refined already: it costs a tail run per free parameter (19 for PWLU
	// 16), and after the output-aware fit it moved the objective by 1–3% (digits_vit).
	if err == nil && refineOutput == nil {
		if base := bestSoFar(); len(base.sets) == 1 {
			var steps []*candidate
			steps, err = gaussNewtonCandidates(base, math.Max(pointwise.Stats.Std, 1e-3), layer.Hist, upstream, runTail, ref, data, target)
			candidates = append(candidates, steps...)
			if err == nil {
				err = score()
			}
		}
	}
	// The per-channel candidates are scored once the per-tensor search is done: it refines the
	// best single set.
	if err == nil {
		for _, c := range perChannel {
			if !reflect.DeepEqual(c.sets, independent.Parameters) {
				candidates = append(candidates, c)
			}
		}
		err = score()
	}
	if errors.Is(err, errNotFloat32) {
		return fallback("end-to-end choice needs float32 activations")
	}
	if err != nil {
		return SiteReport{}, err
	}
	best := bestSoFar()
	if heldOut != nil && len(perChannel) > 0 {
		var single *candidate
		for _, c := range candidates {
			if len(c.sets) == 1 && (single == nil || c.sums.mean() < single.sums.mean()) {
				single = c
			}
		}
		best = nil
		for _, c := range append([]*candidate{single}, candidates...) {
			if c == nil || (len(c.sets) == 1 && c != single) || c.heldOut != nil {
				continue
			}
			v, err := heldOut(c.sets)
			if err != nil {
				return SiteReport{}, fmt.Errorf("candidate %s on the held-out rows: %w", c.name, err)
			}
			c.heldOut = &v
			if best == nil || v < *best.heldOut {
				best = c
			}
		}
	}
	rep := pointwise
	if best == candidates[0] {
		rep = independent
	}
	rep.Family, rep.Parameters = best.family, best.sets
	rep.ChannelAxis = 0
	if len(best.sets) > 1 {
		rep.ChannelAxis = axis
	}
	switch {
	case best.fit != nil:
		rep.Fit = *best.fit
	case best.name != "independent" && best.name != "pointwise":
		// The report's fit error is the pointwise error of what is actually used.
		rep.Fit = pointwiseError(best.sets, rep.hist, rep.target)
	}
	choice := &SequentialChoice{Objective: objectiveOutputMSE, Before: before, After: best.sums.mean(), Chosen: best.name}
	for _, c := range candidates {
		choice.Candidates = append(choice.Candidates, SequentialCandidate{Name: c.name, Family: c.family, Objective: c.sums.mean(), MaxAbs: c.sums.maxAbs, CrossValidated: c.cv, HeldOut: c.heldOut})
	}
	rep.Sequential = choice
	return rep, nil
}

var errNotFloat32 = errors.New("not float32")

func uniqueNames(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// activate applies parameter sets (one, or one per channel along axis) to x with the float32
// kernels the runtime runs the ai.actswap operators with (internal/actkernel), so that the
// candidates are scored on the values the rewritten model will compute, at the kernels' speed (the
// float64 reference cost a third of vit_tiny's --sequential time); with no sets, the original
// activation in float64 rounded to float32. The work is split over the cores: it runs for every
// candidate on every batch.
func activate(x *tensor.Tensor, sets []onnxops.Params, axis int, target Target) *tensor.Tensor {
	xs := x.Data.([]float32)
	ys := make([]float32, len(xs))
	threads := goruntime.GOMAXPROCS(0)
	par := func(n, grain int, body func(lo, hi int)) { parallelRange(n, min(threads, max(1, n/grain)), body) }
	outer, inner, err := actkernel.Plan(x.Shape, axis, len(sets))
	if len(sets) > 1 && err != nil {
		sets = sets[:1] // not laid out per channel: the first set, as the reports describe
		outer, inner = 1, len(xs)
	}
	if len(sets) > 0 {
		if k, err := kernelOf(sets); err == nil {
			k.Apply(ys, xs, outer, inner, par)
			return tensor.New(x.Shape, ys)
		}
	}
	// The original activation, or sets no kernel takes (never for validated fits).
	var fs []func(float64) float64
	switch {
	case len(sets) == 0:
		fs, inner = []func(float64) float64{target.Eval}, len(xs)+1
	case len(sets) == 1:
		fs, inner = []func(float64) float64{evaluator(sets[0])}, len(xs)+1
	default:
		for _, p := range sets {
			fs = append(fs, evaluator(p))
		}
	}
	par(len(xs), 16384, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] = float32(fs[(i/inner)%len(fs)](float64(xs[i])))
		}
	})
	return tensor.New(x.Shape, ys)
}

// kernelOf builds the runtime's kernel for parameter sets of one family.
func kernelOf(sets []onnxops.Params) (*actkernel.Kernel, error) {
	fam := sets[0].Family()
	ts, err := onnxops.ParamTensors(fam, sets)
	if err != nil {
		return nil, err
	}
	z, _ := sets[0].(onnxops.ZorroParams)
	return actkernel.New(fam, z.Gate, ts)
}

// evaluator is p.Eval, with PWLU's interval arithmetic hoisted out of the per-element work (the
// same formulas, so the same values up to rounding of the precomputed slopes).
func evaluator(p onnxops.Params) func(float64) float64 {
	q, ok := p.(onnxops.PWLUParams)
	if !ok || q.N() < 1 {
		return p.Eval
	}
	n := q.N()
	d := (q.BR - q.BL) / float64(n)
	scale := float64(n) / (q.BR - q.BL)
	knots := make([]float64, n+1)
	slopes := make([]float64, n)
	for i := range knots {
		knots[i] = q.Knot(i)
	}
	for i := range slopes {
		slopes[i] = (q.Heights[i+1] - q.Heights[i]) / d
	}
	return func(x float64) float64 {
		if !(x >= q.BL && x < q.BR) {
			return q.Eval(x) // outside the bounds, or NaN
		}
		i := int((x - q.BL) * scale)
		i = max(0, min(i, n-1))
		return q.Heights[i] + (x-knots[i])*slopes[i]
	}
}

// pointwiseError is the fit error of sets (the first, for per-channel sets) on a site's histogram.
func pointwiseError(sets []onnxops.Params, h *Histogram, target Target) FitError {
	if len(sets) == 0 || h == nil {
		return FitError{}
	}
	st := &Stats{Hist: h, Count: 1}
	d, err := newDistribution(st, target, 0)
	if err != nil {
		return FitError{}
	}
	return measure(sets[0].Eval, d.data)
}

// normalEquations are Σ JᵀJ, Σ Jᵀr and Σ rᵀr of the linearised end-to-end objective over some rows.
type normalEquations struct {
	jtj, jtr []float64 // k×k row-major, k
	rr       float64
}

func newNormalEquations(k int) *normalEquations {
	return &normalEquations{jtj: make([]float64, k*k), jtr: make([]float64, k)}
}

// minus is a − b.
func (a *normalEquations) minus(b *normalEquations) *normalEquations {
	out := newNormalEquations(len(a.jtr))
	for i := range a.jtj {
		out.jtj[i] = a.jtj[i] - b.jtj[i]
	}
	for i := range a.jtr {
		out.jtr[i] = a.jtr[i] - b.jtr[i]
	}
	out.rr = a.rr - b.rr
	return out
}

// plus adds b into a.
func (a *normalEquations) plus(b *normalEquations) {
	for i := range a.jtj {
		a.jtj[i] += b.jtj[i]
	}
	for i := range a.jtr {
		a.jtr[i] += b.jtr[i]
	}
	a.rr += b.rr
}

// value is the linearised objective ‖r + JΔ‖² = rᵀr + 2Δᵀ(Jᵀr) + Δᵀ(JᵀJ)Δ.
func (a *normalEquations) value(delta []float64) float64 {
	k := len(delta)
	v := a.rr
	for i := range k {
		v += 2 * delta[i] * a.jtr[i]
		for j := range k {
			v += delta[i] * a.jtj[i*k+j] * delta[j]
		}
	}
	return v
}

// step solves (JᵀJ + λ(P + εI)) Δ = −Jᵀr with λ = μ·tr(JᵀJ)/tr(P); ok is false when the system
// cannot be solved.
func (a *normalEquations) step(gram [][]float64, mu float64) (delta []float64, ok bool) {
	k := len(a.jtr)
	var trA, trP float64
	for i := range k {
		trA += a.jtj[i*k+i]
		trP += gram[i][i]
	}
	if trA <= 0 || trP <= 0 || math.IsNaN(trA) || math.IsInf(trA, 0) {
		return nil, false
	}
	lambda := mu * trA / trP
	ridge := 1e-6 * trP / float64(k)
	sys := mat.NewSymDense(k, nil)
	for i := range k {
		for j := i; j < k; j++ {
			v := a.jtj[i*k+j] + lambda*gram[i][j]
			if i == j {
				v += lambda * ridge
			}
			sys.SetSym(i, j, v)
		}
	}
	rhs := mat.NewVecDense(k, nil)
	for i := range k {
		rhs.SetVec(i, -a.jtr[i])
	}
	var chol mat.Cholesky
	if !chol.Factorize(sys) {
		return nil, false
	}
	var d mat.VecDense
	if err := chol.SolveVecTo(&d, rhs); err != nil {
		return nil, false
	}
	delta = make([]float64, k)
	for i := range delta {
		delta[i] = d.AtVec(i)
	}
	return delta, true
}

// gaussNewtonCandidates linearises the tail's outputs in the free parameters of the pointwise fit
// (forward differences, one tail run per parameter and batch) and returns the regularised
// Gauss–Newton step (see normalEquations.step) with the μ of stepStrengths that does best in
// cross-validation, or no candidate when no step beats staying at the pointwise fit there. The
// normal equations are accumulated per fold in one pass, so that every fold's fit and its
// held-out value come from sums, without further runs.
func gaussNewtonCandidates(base *candidate, scale float64, hist *Histogram, upstream upstreamFunc,
	runTail func(map[string]*tensor.Tensor, *tensor.Tensor, []onnxops.Params, Target) (map[string]*tensor.Tensor, error),
	ref *referenceOutputs, data Reader, target Target) ([]*candidate, error) {
	p0 := base.sets[0]
	v0, err := freeParams(p0)
	if err != nil {
		return nil, nil // a family without free parameters gets no step
	}
	h := paramSteps(v0, scale)
	k := len(v0)
	moved := make([][]onnxops.Params, k)
	for i := range v0 {
		v := append([]float64{}, v0...)
		v[i] += h[i]
		q, err := withFreeParams(p0, v)
		if err != nil {
			return nil, nil // a step that leaves the valid set: no refinement
		}
		moved[i] = []onnxops.Params{q}
	}
	perFold := make([]*normalEquations, folds)
	for f := range perFold {
		perFold[f] = newNormalEquations(k)
	}
	cols := make([][]float64, k)
	j := make([]float64, k)
	err = eachCutBatch(data, ref, upstream, func(batchNo, first int, batch, want map[string]*tensor.Tensor, x *tensor.Tensor, feeds map[string]*tensor.Tensor) error {
		at, err := runTail(feeds, x, base.sets, target)
		if err != nil {
			return fmt.Errorf("batch %d: %w", batchNo, err)
		}
		split := rowSplit{first: first, rows: rowsOf(batch)}
		outs := make([]map[string]*tensor.Tensor, k)
		for i := range moved {
			if outs[i], err = runTail(feeds, x, moved[i], target); err != nil {
				return fmt.Errorf("batch %d: %w", batchNo, err)
			}
		}
		for name, b := range at {
			bv, err := float64Values(b)
			if err != nil {
				return err
			}
			wv, err := float64Values(want[name])
			if err != nil {
				return err
			}
			for i := range outs {
				if cols[i], err = float64Values(outs[i][name]); err != nil {
					return err
				}
			}
			for e := range bv {
				ne := perFold[split.fold(split.rowOf(b, e))]
				r := bv[e] - wv[e]
				if math.IsNaN(r) || math.IsInf(r, 0) {
					return fmt.Errorf("batch %d: output %q is not finite with the pointwise fit", batchNo, name)
				}
				ne.rr += r * r
				for a := range k {
					j[a] = (cols[a][e] - bv[e]) / h[a]
				}
				for a := range k {
					if j[a] == 0 {
						continue
					}
					ne.jtr[a] += j[a] * r
					row := ne.jtj[a*k : (a+1)*k]
					for c := range k {
						row[c] += j[a] * j[c]
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	gram, err := pointwiseGramian(p0, hist, h)
	if err != nil {
		return nil, nil // no regulariser, no step
	}
	delta, cv, ok := crossValidatedStep(perFold, gram)
	if !ok {
		return nil, nil // no step generalises
	}
	bestMu := cv[chosenStrength]
	delete(cv, chosenStrength)
	v := append([]float64{}, v0...)
	for a := range v {
		v[a] += delta[a]
	}
	q, err := withFreeParams(p0, v)
	if err != nil {
		return nil, nil // a step that leaves the valid set is not a candidate
	}
	return []*candidate{{name: fmt.Sprintf("end_to_end(%s, mu=%g)", base.name, bestMu), family: base.family, sets: []onnxops.Params{q}, cv: cv}}, nil
}

// chosenStrength is the key under which crossValidatedStep returns the μ it chose.
const chosenStrength = "chosen"

// crossValidatedStep chooses the step strength μ of stepStrengths by cross-validation over the
// folds (fit on all folds but one, measure on that one, on the linearised objective) and solves
// the step with it on every fold. cv holds each μ's cross-validated objective ("none": no step)
// and, under chosenStrength, the μ chosen; ok is false when no step beats staying put.
func crossValidatedStep(perFold []*normalEquations, gram [][]float64) (delta []float64, cv map[string]float64, ok bool) {
	all := newNormalEquations(len(perFold[0].jtr))
	for _, ne := range perFold {
		all.plus(ne)
	}
	cv = map[string]float64{}
	noStep := all.rr
	cv["none"] = noStep
	bestMu, bestCV := math.NaN(), noStep
	for _, mu := range stepStrengths {
		total, solvedAll := 0.0, true
		for f := range perFold {
			d, solved := all.minus(perFold[f]).step(gram, mu)
			if !solved {
				solvedAll = false
				break
			}
			total += perFold[f].value(d)
		}
		if !solvedAll {
			continue
		}
		cv[fmt.Sprintf("%g", mu)] = total
		if total < bestCV {
			bestMu, bestCV = mu, total
		}
	}
	if math.IsNaN(bestMu) {
		return nil, cv, false
	}
	if delta, ok = all.step(gram, bestMu); !ok {
		return nil, cv, false
	}
	cv[chosenStrength] = bestMu
	return delta, cv, true
}

// searchBounds scores the candidates so far end to end, then refines the PWLU bounds μ − c_L·σ,
// μ + c_R·σ of the best one by a parabolic line search in each width: the objective at w ± 0.5σ
// beside its value at w, then at the vertex of the parabola through the three (when it is
// convex; at most 1σ away), the best kept before the other width is searched. Each candidate's
// heights and slopes are fitted on the site's (paired) distribution d and refined in the output
// metric (refine; output_aware.go). The output-aware fit usually starts the search near the
// end-to-end optimum, but not always (the first site of digits_vit_tanh: the next layer's metric
// prefers −3.3σ, the model's outputs −2.5σ). 6 tail runs, where a full grid over 1–5σ each side
// took 25 and a compass search with steps of 0.5, 0.25 and 0.125σ 12.
func searchBounds(d *distribution, target Target, opts Options, refine func(onnxops.PWLUParams) onnxops.Params, candidates *[]*candidate, score func() error, best func() *candidate) error {
	if err := score(); err != nil {
		return err
	}
	fo := opts.Fit.withDefaults()
	if fo.Objective != ObjectiveMatch || target == TargetReLU {
		return nil // the initialisation and ReLU's exact construction are not searched
	}
	sigma := d.scale()
	widths := func(p onnxops.Params) (float64, float64, bool) {
		q, ok := p.(onnxops.PWLUParams)
		return (d.mu - q.BL) / sigma, (q.BR - d.mu) / sigma, ok
	}
	key := func(cl, cr float64) [2]float64 { return [2]float64{math.Round(cl*1e3) / 1e3, math.Round(cr*1e3) / 1e3} }
	tried := map[[2]float64]bool{}
	for _, c := range *candidates {
		if len(c.sets) == 1 {
			if cl, cr, ok := widths(c.sets[0]); ok {
				tried[key(cl, cr)] = true
			}
		}
	}
	add := func(cl, cr float64) *candidate {
		if cl <= 0 || cr <= 0 || tried[key(cl, cr)] {
			return nil
		}
		tried[key(cl, cr)] = true
		p, err := pwluLeastSquares(target, d.fit, d.mu-cl*sigma, d.mu+cr*sigma, fo.PWLUPoints)
		if err != nil || p.Validate() != nil {
			return nil
		}
		c := &candidate{name: fmt.Sprintf("bounds(-%.3gσ,+%.3gσ)", cl, cr), family: onnxops.FamilyPWLU, sets: []onnxops.Params{refine(p)}}
		*candidates = append(*candidates, c)
		return c
	}
	const h = 2 * boundRefine
	for side := range 2 {
		b := best()
		if len(b.sets) != 1 {
			return nil
		}
		cl, cr, ok := widths(b.sets[0])
		if !ok {
			return nil // a non-PWLU independent fit (--to auto) won
		}
		w, at := cl, func(v float64) *candidate { return add(v, cr) }
		if side == 1 {
			w, at = cr, func(v float64) *candidate { return add(cl, v) }
		}
		lo, hi := at(w-h), at(w+h)
		if err := score(); err != nil {
			return err
		}
		if lo == nil || hi == nil {
			continue
		}
		f0, fl, fh := b.sums.mean(), lo.sums.mean(), hi.sums.mean()
		if curv := fl + fh - 2*f0; curv > 0 {
			at(max(w-2*h, min(w+2*h, w+h*(fl-fh)/(2*curv))))
			if err := score(); err != nil {
				return err
			}
		}
	}
	return nil
}

// boundWidths are the widths in σ each side of the mean the output-aware bounds search starts
// from; boundRefine is the step of the end-to-end search around the best.
var boundWidths = []float64{1, 1.5, 2, 2.5, 3, 3.5, 4, 5}

const boundRefine = 0.25

// keptBudget caps each store of values --sequential keeps in memory between its passes (elements;
// 64 MiB of float32): the calibration data (replayReader; vit_tiny's 24 calibration rows are
// 3.6M) and each frontier's values (8.3M at a vit_tiny GELU site). Past it a store drops what it
// kept and every pass reads or computes again, so memory stays bounded whatever the data's size.
const keptBudget = 1 << 24

// heldBatches keeps one value per batch, in batch order from the first, while their elements fit
// budget; the first batch past it drops them all and nothing more is kept, so memory stays
// bounded whatever the data's size, and callers compute again what get does not hold.
type heldBatches[T any] struct {
	budget   int // elements
	held     []T
	elements int
	overflow bool
}

// add keeps v, batch batchNo's value of n elements, when every batch before it is held and it
// fits the budget.
func (h *heldBatches[T]) add(batchNo int, v T, n int) {
	if h.overflow || batchNo != len(h.held) {
		return
	}
	if h.elements+n > h.budget {
		h.overflow, h.held, h.elements = true, nil, 0
		return
	}
	h.elements += n
	h.held = append(h.held, v)
}

// get is batch batchNo's value, when held.
func (h *heldBatches[T]) get(batchNo int) (v T, ok bool) {
	if batchNo < len(h.held) {
		return h.held[batchNo], true
	}
	return v, false
}

// restart drops what is held, to be kept again from batch 0 (an overflow stays).
func (h *heldBatches[T]) restart() { h.held, h.elements = nil, 0 }

// elementsOf counts the elements of a batch's tensors.
func elementsOf(vals map[string]*tensor.Tensor) int {
	n := 0
	for _, t := range vals {
		n += t.Len()
	}
	return n
}

// replayReader serves the batches of a complete pass over src from memory on later passes, while
// they fit keptBudget: --sequential reads the data about a dozen times per site, and reading
// and converting a .npy each time cost 4.8 of 94 s on vit_tiny.
type replayReader struct {
	src       Reader
	batches   heldBatches[map[string]*tensor.Tensor] // budget keptBudget
	complete  bool                                   // batches hold a whole pass
	replaying bool
	next      int
}

func newReplayReader(src Reader) *replayReader {
	return &replayReader{src: src, batches: heldBatches[map[string]*tensor.Tensor]{budget: keptBudget}}
}

func (r *replayReader) Reset() error {
	if r.complete {
		r.replaying, r.next = true, 0
		return nil
	}
	r.batches.restart() // an unfinished pass is cached again from the start
	return r.src.Reset()
}

func (r *replayReader) Next() (map[string]*tensor.Tensor, error) {
	if r.replaying {
		b, ok := r.batches.get(r.next)
		if !ok {
			return nil, io.EOF
		}
		r.next++
		return maps.Clone(b), nil // callers may add to the map
	}
	b, err := r.src.Next()
	if err == io.EOF {
		r.complete = !r.batches.overflow
		return nil, err
	}
	if err != nil {
		return b, err
	}
	if !r.batches.overflow {
		r.batches.add(len(r.batches.held), maps.Clone(b), elementsOf(b)) // the next batch while none was dropped
	}
	return b, nil
}

// Close leaves src to its owner.
func (r *replayReader) Close() error { return nil }
