// Package calibrate fits the parameters of the ai.actswap activations (PWLU, CRReLU, Zorro) to the
// activations they replace, on the pre-activation values a model actually sees: it streams sample
// data through the original model, keeps constant-memory statistics per activation site, fits each
// family to the original function on that distribution (activations.md §4), and hands the fits to
// the rewriter. It also compares a rewritten model with its original end to end.
package calibrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	goruntime "runtime"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/internal/workers"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// ErrNoSites is returned by Calibrate when no activation site is selected for replacement.
var ErrNoSites = errors.New("no activation site to calibrate (nothing matched, or every site is blocked)")

// Auto is the Options.To value that picks the family per site by fit error.
const Auto onnxops.Family = "auto"

// Options configure Calibrate.
type Options struct {
	// To is the replacement family, or Auto for the best fit per site (ties go to the cheaper
	// kernel: CRReLU, then PWLU, then Zorro).
	To onnxops.Family
	// Match, Nodes, Exclude, Version and KeepBias are passed to the rewriter (see rewrite.Options).
	Match          []rewrite.Kind
	Nodes, Exclude *regexp.Regexp
	Version        string
	KeepBias       bool

	Fit        FitOptions
	PerChannel bool // one parameter set per channel, along the axis channelAxis finds
	// Sequential fits sites greedily in graph order against the model's outputs: each site, with
	// the earlier sites already replaced, gets the candidate fit (pointwise on the inputs the partly
	// rewritten model delivers, independent, or refined end to end) that brings the model's outputs
	// closest to the original's on the calibration data (sequential.go).
	Sequential bool
	Bins       int // histogram bins per site (default DefaultBins)
	Threads    int // runtime threads (default all)
	// OnBatch, when set, is called after each batch with the number of rows it held (progress).
	OnBatch func(rows int)
	// HeldOut are rows the fits never see (HoldOut.Split's held-out side, or separate data): the
	// candidate results are compared on them end to end, and the best is kept. Nil compares them
	// on the calibration rows, and the report says so. HeldOutFrom describes them for reports.
	HeldOut     Reader
	HeldOutFrom string
	// Original is the model a rewritten model came from, for Refit's end-to-end comparisons (the
	// refitted and the given parameters, on held-out rows). Without it Refit keeps the new fits
	// unvalidated and Result.Validation is nil. Calibrate has the original already and ignores it.
	Original *onnx.ModelProto
}

// SiteReport is what calibration learned and chose for one site.
type SiteReport struct {
	// Scope is the graph the site is in ("" for the main graph; rewrite.Site.Scope) and Node its
	// scoped name, which starts with the scope.
	Scope      string           `json:"scope,omitempty"`
	Node       string           `json:"node"`
	Kind       string           `json:"kind"`
	Input      string           `json:"input"`
	Family     onnxops.Family   `json:"family"`
	Parameters []onnxops.Params `json:"parameters"` // one set, or one per channel
	Stats      StatsSummary     `json:"input_stats"`
	Fit        FitError         `json:"fit_error"`            // worst channel when per channel
	ReLU       FitError         `json:"relu_error"`           // what plain ReLU would make
	Candidates []Candidate      `json:"candidates,omitempty"` // --to auto: every family's error
	// Sequential is what end-to-end refinement chose (Options.Sequential; sequential.go).
	Sequential *SequentialChoice `json:"sequential,omitempty"`
	// Warning says when the family cannot follow the site's activation (it removes less than half
	// of plain ReLU's error) and names the family that would.
	Warning string `json:"warning,omitempty"`
	// ChannelAxis is the axis of the input along which Parameters hold one set per channel
	// (channelAxis; negative counts from the end; 0 for one set). PerChannelNote says why a site was fitted per tensor although
	// per-channel sets were asked for.
	ChannelAxis    int    `json:"channel_axis,omitempty"`
	PerChannelNote string `json:"per_channel_note,omitempty"`
	// Sensitivity is the end-to-end error with only this site swapped (MeasureSensitivity; nil
	// until measured).
	Sensitivity *SiteSensitivity `json:"sensitivity,omitempty"`

	hist   *Histogram
	target Target
	// perTensor is the one-set fit of a per-channel site and unshrunk its channels fitted on their
	// own data alone: the alternatives the held-out rows choose from.
	perTensor, unshrunk alternative
}

// alternative is another parameter choice for a site, with its pointwise fit error.
type alternative struct {
	sets []onnxops.Params
	fit  FitError
}

// channelPrior is how many values of the layer's distribution each channel's fit sees besides its
// own (a pseudo-count): 50 per free parameter (PWLU with 16 intervals: 950; Zorro: 300), so a
// channel's fit departs from the per-tensor fit only as far as its own data support.
// digits_mlp_gelu's channels have 192 values each, and PWLU over-fit them without it (held-out
// rel-L2 2.4e-3 against 8.2e-4 per tensor).
func channelPrior(p onnxops.Params) int64 {
	v, err := freeParams(p)
	if err != nil {
		return 0
	}
	free := len(v)
	if _, ok := p.(onnxops.ZorroParams); ok {
		free = 6 // the gated fit frees m, c and both humps' a and b; the output affine stays fixed
	}
	return int64(valuesPerParameter * free)
}

const valuesPerParameter = 50

// shrinkTowards returns a channel's statistics blended with prior values distributed like the
// layer's, the layer's histogram scaled to that mass.
func shrinkTowards(ch, layer *Stats, prior int64) *Stats {
	if layer.Count == 0 || layer.Hist == nil {
		return ch
	}
	scaled := *layer
	k := float64(prior) / float64(layer.Count)
	scaled.Count, scaled.M2, scaled.NonFinite = prior, layer.M2*k, 0
	h := *layer.Hist
	h.Counts = make([]float64, len(layer.Hist.Counts))
	total := layer.Hist.Total()
	for i, c := range layer.Hist.Counts {
		h.Counts[i] = c * float64(prior) / total
	}
	if layer.Hist.SumY != nil {
		h.SumY = make([]float64, len(layer.Hist.SumY))
		for i, y := range layer.Hist.SumY {
			h.SumY[i] = y * float64(prior) / total
		}
	}
	scaled.Hist = &h
	out := NewStats(len(layer.Hist.Counts))
	out.Merge(ch)
	out.Merge(&scaled)
	return out
}

// Candidate is one family's fit error at a site, for automatic choice.
type Candidate struct {
	Family onnxops.Family `json:"family"`
	FitError
}

// StatsSummary is the JSON form of a site's input statistics.
type StatsSummary struct {
	Count     int64   `json:"count"`
	Mean      float64 `json:"mean"`
	Std       float64 `json:"std"`
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	NonFinite int64   `json:"non_finite,omitempty"`
	Channels  int     `json:"channels,omitempty"`
}

func summarize(ss *SiteStats) StatsSummary {
	s := ss.Layer
	return StatsSummary{Count: s.Count, Mean: s.Mean, Std: s.Std(), Min: s.Min, Max: s.Max, NonFinite: s.NonFinite, Channels: len(ss.Channels)}
}

// Result is a calibrated model and what was done to it.
type Result struct {
	Model   *onnx.ModelProto
	Sites   []SiteReport
	Rewrite []rewrite.Report // one per family applied
	// Sequential compares the greedy end-to-end choices with independent fitting (Options.Sequential).
	Sequential *SequentialSummary
	// Validation compares the candidate results end to end on held-out rows and says which was
	// kept, with the kept model's in-sample and held-out errors (validate.go).
	Validation *Validation
}

// TargetOf is the function a rewriter site computes.
func TargetOf(s rewrite.Site) Target {
	return Target{Kind: string(s.Kind), Alpha: s.Alpha}
}

// Calibrate rewrites m's activation sites to opts.To with parameters fitted on data. data is read
// once (with Sequential, a few times per site: sequential.go) and reset before each pass. m is not
// modified.
func Calibrate(m *onnx.ModelProto, data Reader, opts Options) (*Result, error) {
	if opts.To != Auto {
		if _, err := onnxops.ParseFamily(string(opts.To)); err != nil {
			return nil, err
		}
	}
	m = nameAnonymousNodes(m)
	sites, err := selectSites(m, opts)
	if err != nil {
		return nil, err
	}
	if len(sites) == 0 {
		return nil, ErrNoSites
	}
	var cands []resultCandidate
	var summary *SequentialSummary
	if !opts.Sequential {
		consumers, samples := outputAwareSetup(m, sites, opts)
		stats, err := collect(m, data, sites, opts, samples)
		if err != nil {
			return nil, err
		}
		reports := make([]SiteReport, len(sites))
		for i, s := range sites {
			if reports[i], err = fitSite(s, stats[i], opts); err != nil {
				return nil, err
			}
		}
		name := CandidateCalibrated
		if opts.PerChannel {
			name = CandidateShrunk
		}
		cands = independentCandidates(name, reports, consumers, samples, opts)
	} else {
		for _, s := range sites {
			// The end-to-end search cuts the main graph below a site's output; a value inside a
			// body or function has no such cut.
			if s.Scope != "" {
				return nil, fmt.Errorf("Options.Sequential refines sites of the main graph only, and site %q is inside %s: calibrate without Options.Sequential, or leave it out with Options.Exclude", s.Node, s.Scope)
			}
		}
		seq, ind, sum, err := calibrateSequential(m, data, sites, opts)
		if err != nil {
			return nil, err
		}
		summary = sum
		cands = append([]resultCandidate{{name: CandidateSequential, sites: seq}}, ind...)
	}
	defaults, err := defaultReports(sites, cands[0].sites)
	if err != nil {
		return nil, err
	}
	cands = append(cands, resultCandidate{name: CandidateDefaults, sites: defaults})
	for i := range cands {
		if cands[i].model, cands[i].rewrite, err = applyFits(m, sites, fitsOf(cands[i].sites), familiesOf(cands[i].sites), opts); err != nil {
			return nil, err
		}
	}
	kept, val, err := keepBest(m, cands, data, opts)
	if err != nil {
		return nil, err
	}
	return &Result{Model: kept.model, Sites: kept.sites, Rewrite: kept.rewrite, Sequential: summary, Validation: val}, nil
}

// independentCandidates are the results of fitting every site on its own: the fits (named name),
// with --per-channel also each channel on its own data alone and the per-tensor fits, and the
// output-aware refinement of the per-tensor fits (output_aware.go) where it changes any site.
func independentCandidates(name string, reports []SiteReport, consumers []*linearConsumer, samples []*tokenSample, opts Options) []resultCandidate {
	cands := []resultCandidate{{name: name, sites: reports}}
	if alt, ok := alternativeReports(reports, func(r SiteReport) alternative { return r.unshrunk }); ok {
		cands = append(cands, resultCandidate{name: CandidateUnshrunk, sites: alt})
	}
	perTensor, ok := alternativeReports(reports, func(r SiteReport) alternative { return r.perTensor })
	if ok {
		cands = append(cands, resultCandidate{name: CandidatePerTensor, sites: perTensor})
	} else {
		perTensor = reports
	}
	if alt, ok := outputAwareReports(perTensor, consumers, samples, opts.Fit); ok {
		cands = append(cands, resultCandidate{name: CandidateOutputAware, sites: alt})
	}
	return cands
}

// nameAnonymousNodes returns m, or a clone of m in which every unnamed node, in every scope (the
// main graph, bodies, functions), has a name unique in its scope: sites are told apart and
// selected by their node's scoped name.
func nameAnonymousNodes(m *onnx.ModelProto) *onnx.ModelProto {
	anonymous := false
	eachScopeNodes(m, func(nodes []*onnx.NodeProto) {
		for _, n := range nodes {
			anonymous = anonymous || n.GetName() == ""
		}
	})
	if !anonymous {
		return m
	}
	m = proto.Clone(m).(*onnx.ModelProto)
	eachScopeNodes(m, func(nodes []*onnx.NodeProto) {
		taken := map[string]bool{}
		for _, n := range nodes {
			taken[n.GetName()] = true
		}
		next := 0
		for _, n := range nodes {
			if n.GetName() != "" {
				continue
			}
			name := ""
			for name == "" || taken[name] {
				name = fmt.Sprintf("%s_%d", n.GetOpType(), next)
				next++
			}
			taken[name] = true
			n.Name = proto.String(name)
		}
	})
	return m
}

// eachScopeNodes calls fn with the nodes of each graph and function body of m, the ai.actswap
// operators' own bodies left out.
func eachScopeNodes(m *onnx.ModelProto, fn func([]*onnx.NodeProto)) {
	onnx.WalkScopes(m, func(_ string, g *onnx.GraphProto, f *onnx.FunctionProto) {
		switch {
		case g != nil:
			fn(g.GetNode())
		case f.GetDomain() != onnxops.Domain:
			fn(f.GetNode())
		}
	})
}

// selectSites asks the rewriter which sites it would replace under opts.
func selectSites(m *onnx.ModelProto, opts Options) ([]rewrite.Site, error) {
	to := opts.To
	if to == Auto {
		to = onnxops.FamilyCRReLU
	}
	_, rep, err := rewrite.Apply(m, rewrite.Options{To: to, Match: opts.Match, Nodes: opts.Nodes, Exclude: opts.Exclude})
	if err != nil {
		return nil, err
	}
	sites := make([]rewrite.Site, len(rep.Replaced))
	for i, r := range rep.Replaced {
		sites[i] = r.Site
	}
	return sites, nil
}

// applyFits rewrites the given sites of m with their fitted parameters, one rewriter pass per family.
func applyFits(m *onnx.ModelProto, sites []rewrite.Site, fits map[string]rewrite.SiteParams, families map[string]onnxops.Family, opts Options) (*onnx.ModelProto, []rewrite.Report, error) {
	byFamily := map[onnxops.Family][]string{}
	for _, s := range sites {
		byFamily[families[s.Node]] = append(byFamily[families[s.Node]], regexp.QuoteMeta(s.Node))
	}
	out := m
	var reps []rewrite.Report
	for _, fam := range []onnxops.Family{onnxops.FamilyCRReLU, onnxops.FamilyPWLU, onnxops.FamilyZorro} {
		names := byFamily[fam]
		if len(names) == 0 {
			continue
		}
		only := regexp.MustCompile("^(?:" + strings.Join(names, "|") + ")$")
		next, rep, err := rewrite.Apply(out, rewrite.Options{
			To: fam, Match: opts.Match, Nodes: only, Exclude: opts.Exclude, Version: opts.Version, KeepBias: opts.KeepBias,
			Params: func(s rewrite.Site, f onnxops.Family) (rewrite.SiteParams, error) {
				sp, ok := fits[s.Node]
				if !ok {
					return rewrite.SiteParams{}, fmt.Errorf("no calibrated parameters for site %q", s.Node)
				}
				return sp, nil
			},
		})
		if err != nil {
			return nil, nil, err
		}
		if len(rep.Replaced) != len(names) {
			return nil, nil, fmt.Errorf("rewriting to %s replaced %d sites, expected %d", fam, len(rep.Replaced), len(names))
		}
		out = next
		reps = append(reps, rep)
	}
	return out, reps, nil
}

func siteParams(r SiteReport) rewrite.SiteParams {
	return rewrite.SiteParams{Sets: r.Parameters, Axis: r.axis()}
}

// axis is the channel axis of the report's parameters (1, OPS.md's default, for one set).
func (r SiteReport) axis() int {
	if len(r.Parameters) > 1 && r.ChannelAxis != 0 {
		return r.ChannelAxis
	}
	return 1
}

// siteStatsFor prepares the statistics of site s of m: with Options.PerChannel, per channel along
// the axis channelAxis finds, or per tensor only (and a note) where it finds none.
func siteStatsFor(m *onnx.ModelProto, s rewrite.Site, opts Options) *SiteStats {
	if !opts.PerChannel {
		return NewSiteStats(opts.Bins, false)
	}
	axis, note := channelAxis(m, s)
	if note != "" {
		st := NewSiteStats(opts.Bins, false)
		st.note = note
		return st
	}
	return newChannelStats(opts.Bins, axis)
}

// channelAxis is the axis along which site s of m gets one parameter set per channel: the axis that
// the linear map after the activation mixes, whose size that map's weights fix. Where a MatMul or
// Gemm with constant weights reads the site, that is the last axis: a transformer's features,
// not its tokens (axis 1 of [N, T, C]), whose count varies with the sequence and where a per-token
// set would fit the class token on one value per row and feature (digits_vit: held-out rel-L2
// 1.21e-3 per token, as good as per tensor; 7.5e-4 per feature). Otherwise it is axis 1 (NCHW
// channels), provided that no input of the model has a dimension of unfixed size after the batch
// axis, which could change the size of axis 1 between runs; else note says why the site is fitted
// per tensor.
func channelAxis(m *onnx.ModelProto, s rewrite.Site) (axis int, note string) {
	if s.Scope == "" {
		if _, ok := findLinearConsumer(m, s); ok {
			return -1, ""
		}
	}
	g := m.GetGraph()
	isInit := map[string]bool{}
	for _, t := range g.GetInitializer() {
		isInit[t.GetName()] = true
	}
	for _, in := range g.GetInput() {
		if isInit[in.GetName()] {
			continue
		}
		dims := in.GetType().GetTensorType().GetShape().GetDim()
		for k := 1; k < len(dims); k++ {
			if dims[k].GetDimValue() <= 0 {
				size := dims[k].GetDimParam()
				if size == "" {
					size = "unknown"
				}
				return 0, fmt.Sprintf("site %q is fitted per tensor, not per channel: no MatMul or Gemm with constant weights reads it (which would fix its channels, the last axis), and axis 1 may change size between runs (input %q has dimension %d of size %s)", s.Node, in.GetName(), k, size)
			}
		}
	}
	return 1, ""
}

// collect streams data through m and returns statistics of each site's pre-activation value.
// samples, when not nil, has a token sample (or nil) per site to fill for output-aware fitting
// (output_aware.go). (--sequential pairs a partly rewritten model's values with the original's in
// pairedStats.)
func collect(m *onnx.ModelProto, data Reader, sites []rewrite.Site, opts Options, samples []*tokenSample) ([]*SiteStats, error) {
	var ropts []runtime.Option
	if opts.Threads > 0 {
		ropts = append(ropts, runtime.WithThreads(opts.Threads))
	}
	sess, err := runtime.NewSession(m, ropts...)
	if err != nil {
		return nil, fmt.Errorf("compiling the model for calibration: %w", err)
	}
	stats := make([]*SiteStats, len(sites))
	for i, s := range sites {
		stats[i] = siteStatsFor(m, s, opts)
	}
	if err := data.Reset(); err != nil {
		return nil, err
	}
	batches, first := 0, 0
	seen := make([]int, len(sites)) // tensors per site
	for {
		batch, err := data.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		vals, err := siteValues(sess, batch, sites)
		if err != nil {
			return nil, fmt.Errorf("running batch %d: %w", batches, err)
		}
		for i, s := range sites {
			seen[i] += len(vals[i])
			for _, x := range vals[i] {
				if err := stats[i].AddTensor(x); err != nil {
					return nil, fmt.Errorf("site %q input %q: %w", s.Node, s.Input, err)
				}
				// Only main-graph sites have samples (outputAwareSetup): one tensor per batch.
				if samples != nil && samples[i] != nil {
					samples[i].add(x, nil, first)
				}
			}
		}
		batches++
		first += rowsOf(batch)
		if opts.OnBatch != nil {
			opts.OnBatch(rowsOf(batch))
		}
	}
	if batches == 0 {
		return nil, errors.New("the calibration data hold no batch")
	}
	for i, s := range sites {
		if seen[i] == 0 {
			return nil, fmt.Errorf("site %q saw no values in the calibration data: no run entered %s (a Loop that ran zero times, an If branch not taken, a function never called)", s.Node, s.Scope)
		}
	}
	return stats, nil
}

// siteValues runs one batch and returns, per site, the values its activation is applied to (with
// FastGelu's bias added): one tensor for a site of the main graph, one per execution for a site
// inside a Loop/Scan body or a function (every iteration, every call: the site's samples are all
// of them). Those are cloned out of the run, so a batch holds them all in memory at once.
func siteValues(sess *runtime.Session, batch map[string]*tensor.Tensor, sites []rewrite.Site) ([][]*tensor.Tensor, error) {
	out := make([][]*tensor.Tensor, len(sites))
	var names []string
	var watch []runtime.ScopedValue
	watchAt := make([]int, len(sites)) // index of the site's input in watch; its bias follows
	for i, s := range sites {
		if s.Scope == "" {
			names = append(names, s.Input)
			if s.Bias != "" {
				names = append(names, s.Bias)
			}
			continue
		}
		watchAt[i] = len(watch)
		watch = append(watch, runtime.ScopedValue{Scope: s.Scope, Name: s.Input})
		if s.Bias != "" {
			watch = append(watch, runtime.ScopedValue{Scope: s.Scope, Name: s.Bias})
		}
	}
	if len(names) > 0 {
		vals, err := sess.Run(batch, names...)
		if err != nil {
			return nil, err
		}
		for i, s := range sites {
			if s.Scope == "" {
				x, err := siteInput(s, vals)
				if err != nil {
					return nil, err
				}
				out[i] = []*tensor.Tensor{x}
			}
		}
	}
	if len(watch) == 0 {
		return out, nil
	}
	seen := make([][]*tensor.Tensor, len(watch))
	err := sess.RunWatching(context.Background(), batch, watch, func(i int, t *tensor.Tensor) {
		seen[i] = append(seen[i], t.Clone())
	})
	if err != nil {
		return nil, err
	}
	for i, s := range sites {
		if s.Scope == "" {
			continue
		}
		out[i] = seen[watchAt[i]]
		if s.Bias == "" {
			continue
		}
		// The bias is computed (or received) once per execution of the scope, before x.
		bs := seen[watchAt[i]+1]
		if len(bs) != len(out[i]) {
			return nil, fmt.Errorf("site %q: %d values of its input but %d of its bias %q", s.Node, len(out[i]), len(bs), s.Bias)
		}
		for k, x := range out[i] {
			if out[i][k], err = addBias(x, bs[k]); err != nil {
				return nil, fmt.Errorf("site %q: %w", s.Node, err)
			}
		}
	}
	return out, nil
}

// siteInput is the value a site's activation is applied to (with FastGelu's bias added).
func siteInput(s rewrite.Site, vals map[string]*tensor.Tensor) (*tensor.Tensor, error) {
	x := vals[s.Input]
	if s.Bias == "" {
		return x, nil
	}
	x, err := addBias(x, vals[s.Bias])
	if err != nil {
		return nil, fmt.Errorf("site %q: %w", s.Node, err)
	}
	return x, nil
}

// applyTarget evaluates the target activation elementwise, in float64, rounded to float32.
func applyTarget(target Target, x *tensor.Tensor) *tensor.Tensor {
	xs, _ := float32Values(x) // siteInput already checked the type
	ys := make([]float32, len(xs))
	for i, v := range xs {
		ys[i] = float32(target.Eval(float64(v)))
	}
	return tensor.New(x.Shape, ys)
}

// rowsOf is the batch size of a batch (the first axis of any input).
func rowsOf(batch map[string]*tensor.Tensor) int {
	for _, t := range batch {
		if t.Rank() > 0 {
			return t.Shape[0]
		}
	}
	return 1
}

// addBias returns x + bias with bias broadcast over x's trailing axes (FastGelu's bias is 1-D
// over the last axis).
func addBias(x, bias *tensor.Tensor) (*tensor.Tensor, error) {
	xs, err := float32Values(x)
	if err != nil {
		return nil, err
	}
	bs, err := float32Values(bias)
	if err != nil {
		return nil, err
	}
	if len(bs) == 0 || len(xs)%len(bs) != 0 {
		return nil, fmt.Errorf("bias of shape %v does not broadcast over %v", bias.Shape, x.Shape)
	}
	out := make([]float32, len(xs))
	for i, v := range xs {
		out[i] = v + bs[i%len(bs)]
	}
	return tensor.New(x.Shape, out), nil
}

// fitSite fits the chosen family (or every family, for Auto) per layer or per channel.
func fitSite(s rewrite.Site, ss *SiteStats, opts Options) (SiteReport, error) {
	target := TargetOf(s)
	rep := SiteReport{Scope: s.Scope, Node: s.Node, Kind: string(s.Kind), Input: s.Input, Stats: summarize(ss), hist: ss.Layer.Hist, target: target}
	var err error
	if rep.ReLU, err = ReLUError(target, ss.Layer); err != nil {
		return rep, fmt.Errorf("site %q: %w", s.Node, err)
	}
	perChannel := opts.PerChannel && len(ss.Channels) > 1
	rep.PerChannelNote = ss.note
	if perChannel {
		rep.ChannelAxis = ss.channelAxis()
	}
	fam := opts.To
	if fam == Auto {
		// Choose on the layer's distribution, then fit that family per channel if asked.
		best, all, err := FitAuto(target, ss.Layer, opts.Fit)
		if err != nil {
			return rep, fmt.Errorf("site %q: %w", s.Node, err)
		}
		for _, f := range all {
			rep.Candidates = append(rep.Candidates, Candidate{Family: f.Family, FitError: f.FitError})
		}
		fam = best.Family
	}
	rep.Family = fam
	layer, err := FitStats(fam, target, ss.Layer, opts.Fit)
	if err != nil {
		return rep, fmt.Errorf("site %q: %w", s.Node, err)
	}
	rep.Parameters, rep.Fit = []onnxops.Params{layer.Params}, layer.FitError
	if perChannel {
		// Each channel is fitted on its data blended with channelPrior values of the layer's, so a
		// channel with little data stays near the per-tensor fit, and starts from it (Zorro).
		// Whether a channel's own data or the prior should win depends on the family and the model
		// (PWLU over-fits digits_mlp_gelu's 192 values per channel, Zorro does not): both are fitted,
		// and the held-out rows choose between them and the per-tensor fit (validate.go).
		rep.perTensor = alternative{rep.Parameters, rep.Fit}
		fo := opts.Fit
		fo.start = layer.Params
		for _, prior := range []int64{channelPrior(layer.Params), 0} {
			fits, err := fitChannels(ss, fam, target, prior, fo, opts.Threads)
			if err != nil {
				return rep, fmt.Errorf("site %q %w", s.Node, err)
			}
			var alt alternative
			for _, f := range fits {
				alt.sets = append(alt.sets, f.Params)
				alt.fit.WRMSE = max(alt.fit.WRMSE, f.WRMSE)
				alt.fit.MaxAbs = max(alt.fit.MaxAbs, f.MaxAbs)
			}
			if prior > 0 {
				rep.Parameters, rep.Fit = alt.sets, alt.fit
			} else {
				rep.unshrunk = alt
			}
		}
	}
	if err := followWarning(&rep, ss.Layer, opts); err != nil {
		return rep, fmt.Errorf("site %q: %w", s.Node, err)
	}
	return rep, nil
}

// fitChannels fits every channel of a site on its own statistics blended with prior values of the
// layer's, the channels shared out over threads goroutines (0: every core), claimed one at a
// time: they are independent problems of uneven cost, and with C of them (768 on vit_tiny) they
// were most of per-channel Zorro's time.
func fitChannels(ss *SiteStats, fam onnxops.Family, target Target, prior int64, fo FitOptions, threads int) ([]Fit, error) {
	if threads <= 0 {
		threads = goruntime.GOMAXPROCS(0)
	}
	fits := make([]Fit, len(ss.Channels))
	errs := make([]error, len(ss.Channels))
	workers.RunTaskOn(len(ss.Channels), len(ss.Channels), threads, workers.TaskFunc(func(lo, hi int) {
		for c := lo; c < hi; c++ {
			fits[c], errs[c] = FitStats(fam, target, shrinkTowards(ss.Channels[c], ss.Layer, prior), fo)
		}
	}))
	for c, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("channel %d: %w", c, err)
		}
	}
	return fits, nil
}
