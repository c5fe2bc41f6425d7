package calibrate

import (
	"fmt"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// frontier holds one model's values at one site for every batch of the calibration data: the
// site's input (its bias added), its output, and the values the model's tail below that output
// reads (graphCut). --sequential needs them in every pass over the data at a site, for the
// partly rewritten model (the candidates' tail runs) and for the original (the paired targets).
//
// A site below the previous one takes its values from the previous site's frontier: the tail
// below the previous site's output, fed the values kept there and that site's new output, runs
// just the layers between the two sites. Only the first site, a site on a branch the previous
// one does not feed, and data past the memory budget run the whole model from its inputs. Never
// recomputing the layers above the previous site makes the upstream work of a whole --sequential
// run that of one pass over the model instead of one per site (vit_tiny: 12 blocks, not 78).
type frontier struct {
	model *onnx.ModelProto
	site  rewrite.Site
	opts  Options
	// names are the values kept per batch: the site's input, bias and output, the tail's feeds.
	names []string
	// cut is the tail below the site's output and tail its session, built on the first batch
	// (the feeds' element types are known then); cutErr says why there is none.
	cut    *graphCut
	tail   *runtime.Session
	cutErr error
	// prev is the previous site's frontier in the same model, when every name here is a value
	// of its tail, one of its feeds or an input; prevOutput gives that site's output on a
	// batch from the values kept there (ok false: not available, run the whole model).
	prev       *frontier
	prevOutput func(x *tensor.Tensor, vals map[string]*tensor.Tensor) (out *tensor.Tensor, ok bool)
	whole      *runtime.Session // the whole model, compiled when first needed

	// kept holds per batch the site's input (bias added) and the values of names, while they fit
	// keptBudget; past it every batch is computed again when asked for.
	kept heldBatches[frontierBatch]
	// fromPrev counts the batches computed from prev rather than by the whole model.
	fromPrev int
}

// frontierBatch is what a frontier keeps of one batch.
type frontierBatch struct {
	x    *tensor.Tensor            // the site's input, bias added
	vals map[string]*tensor.Tensor // the frontier's names
}

// A frontier keeps at most keptBudget elements. --sequential holds at most four frontiers at once
// (this site's and the previous one's, for the partly rewritten and the original model): 256 MiB
// at most.

// newFrontier prepares the values of model at site s; prev (nil: none) is the previous site's
// frontier in the same model and prevOutput the value of its output.
func newFrontier(model *onnx.ModelProto, s rewrite.Site, opts Options, prev *frontier, prevOutput func(*tensor.Tensor, map[string]*tensor.Tensor) (*tensor.Tensor, bool)) *frontier {
	f := &frontier{model: model, site: s, opts: opts, kept: heldBatches[frontierBatch]{budget: keptBudget}}
	names := []string{s.Input, s.Output, s.Bias}
	// The tail's inputs are known before their types: cut once to name them.
	probe, err := cutBelow(model, s.Output, func(string) (tensor.DType, bool) { return tensor.Float32, true })
	if err != nil {
		f.cutErr = err
	} else {
		names = append(names, probe.feeds...)
	}
	f.names = uniqueNames(names)
	if prev != nil && prev.cut != nil && prev.below(f.names) {
		f.prev, f.prevOutput = prev, prevOutput
	}
	return f
}

// below says whether every name is computed by the tail below this frontier's site, fed to it,
// or a graph input.
func (f *frontier) below(names []string) bool {
	known := map[string]bool{}
	for _, n := range f.cut.feeds {
		known[n] = true
	}
	for _, n := range f.cut.tail.GetGraph().GetNode() {
		for _, out := range n.GetOutput() {
			known[out] = true
		}
	}
	for _, in := range f.model.GetGraph().GetInput() {
		known[in.GetName()] = true
	}
	for _, n := range names {
		if !known[n] {
			return false
		}
	}
	return true
}

// at returns the site's input and the kept values on batch batchNo (batch: its inputs). The
// values belong to the frontier: callers copy the map before adding to it.
func (f *frontier) at(batchNo int, batch map[string]*tensor.Tensor) (*tensor.Tensor, map[string]*tensor.Tensor, error) {
	if b, ok := f.kept.get(batchNo); ok {
		return b.x, b.vals, nil
	}
	vals, err := f.compute(batchNo, batch)
	if err != nil {
		return nil, nil, err
	}
	x, err := siteInput(f.site, vals)
	if err != nil {
		return nil, nil, err
	}
	if f.tail == nil && f.cutErr == nil {
		f.cut, f.cutErr = cutBelow(f.model, f.site.Output, func(name string) (tensor.DType, bool) {
			t, ok := vals[name]
			if !ok {
				return 0, false
			}
			return t.DType, true
		})
		if f.cutErr == nil {
			if f.tail, err = runtime.NewSession(f.cut.tail, runtimeOptions(f.opts)...); err != nil {
				return nil, nil, fmt.Errorf("compiling the model below site %q: %w", f.site.Node, err)
			}
		}
	}
	f.keep(batchNo, x, vals)
	return x, vals, nil
}

// compute runs what the site's values need on one batch: the previous site's tail where it can,
// the whole model otherwise.
func (f *frontier) compute(batchNo int, batch map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	if pb, ok := f.prevBatch(batchNo); ok {
		p, pv := f.prev, pb.vals
		if out, ok := f.prevOutput(pb.x, pv); ok {
			in := make(map[string]*tensor.Tensor, len(p.cut.feeds))
			for _, n := range p.cut.feeds {
				in[n] = pv[n]
			}
			in[p.site.Output] = out
			vals := make(map[string]*tensor.Tensor, len(f.names))
			var ask []string
			for _, n := range f.names {
				if t, ok := in[n]; ok {
					vals[n] = t
				} else if t, ok := batch[n]; ok {
					vals[n] = t
				} else {
					ask = append(ask, n)
				}
			}
			if len(ask) > 0 {
				got, err := p.tail.Run(in, ask...)
				if err != nil {
					return nil, fmt.Errorf("batch %d, the model between sites %q and %q: %w", batchNo, p.site.Node, f.site.Node, err)
				}
				for n, t := range got {
					vals[n] = t
				}
			}
			f.fromPrev++
			return vals, nil
		}
	}
	if f.whole == nil {
		var err error
		if f.whole, err = runtime.NewSession(f.model, runtimeOptions(f.opts)...); err != nil {
			return nil, fmt.Errorf("compiling the model for site %q: %w", f.site.Node, err)
		}
	}
	vals, err := f.whole.Run(batch, f.names...)
	if err != nil {
		return nil, fmt.Errorf("batch %d, the model above site %q: %w", batchNo, f.site.Node, err)
	}
	return vals, nil
}

// prevBatch is what the previous site's frontier holds of batch batchNo, if anything.
func (f *frontier) prevBatch(batchNo int) (frontierBatch, bool) {
	if f.prev == nil {
		return frontierBatch{}, false
	}
	return f.prev.kept.get(batchNo)
}

// keep stores a batch's values while the frontier holds every batch so far and fits the budget.
func (f *frontier) keep(batchNo int, x *tensor.Tensor, vals map[string]*tensor.Tensor) {
	n := elementsOf(vals)
	if x != vals[f.site.Input] {
		n += x.Len()
	}
	f.kept.add(batchNo, frontierBatch{x, vals}, n)
}

// release drops the previous site's frontier once it is no longer needed.
func (f *frontier) release() { f.prev, f.prevOutput = nil, nil }

// pairedStats are site s of m's statistics for the pointwise fit in --sequential: the inputs the partly
// rewritten model delivers (cur) paired with the original activation of the original model's
// inputs (orig), and sample (nil: none) gets the same pairs for the output metric.
func pairedStats(m *onnx.ModelProto, s rewrite.Site, cur, orig *frontier, data Reader, sample *tokenSample, opts Options) (*SiteStats, error) {
	st := siteStatsFor(m, s, opts)
	target := TargetOf(s)
	err := eachBatch(data, func(batchNo, first int, batch map[string]*tensor.Tensor) error {
		x, _, err := cur.at(batchNo, batch)
		if err != nil {
			return fmt.Errorf("running batch %d: %w", batchNo, err)
		}
		xo, _, err := orig.at(batchNo, batch)
		if err != nil {
			return fmt.Errorf("running batch %d through the original model: %w", batchNo, err)
		}
		y := applyTarget(target, xo)
		if err := st.AddPairs(x, y); err != nil {
			return fmt.Errorf("site %q input %q: %w", s.Node, s.Input, err)
		}
		if sample != nil {
			sample.add(x, y, first)
		}
		if opts.OnBatch != nil {
			opts.OnBatch(rowsOf(batch))
		}
		return nil
	})
	return st, err
}
