package calibrate

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/tensor"
)

// rewriteMetadataKey is where the rewriter records which activation each ai.actswap node replaced
// (rewrite.Replaced reads it); named in messages.
const rewriteMetadataKey = "actswap.rewrite"

// Refit re-calibrates a model that was already rewritten: every ai.actswap node keeps its family
// and gets parameters fitted on data, to the activation it replaced (read from the rewriter's
// metadata). Statistics come from m itself in one pass, so each node is fitted on the inputs it sees
// with the current parameters of the nodes before it; with opts.Sequential, one pass per node on the
// model whose earlier nodes already carry their new parameters. opts.To, Match, Nodes and Exclude do
// not apply. m is not modified.
func Refit(m *onnx.ModelProto, data Reader, opts Options) (*Result, error) {
	if m.GetGraph() == nil {
		return nil, errors.New("model has no graph")
	}
	replaced, err := rewrite.Replaced(m)
	if err != nil {
		return nil, err
	}
	var sites []rewrite.Site
	var fams []onnxops.Family
	var recs []rewrite.ReplacedNode
	for _, sn := range actswapNodes(m) {
		n := sn.node
		name := onnx.ScopedName(sn.scope, n.GetName())
		fam, err := onnxops.ParseFamily(n.GetOpType())
		if err != nil {
			return nil, fmt.Errorf("node %q: %w", name, err)
		}
		rec, ok := replaced[name]
		if !ok {
			return nil, fmt.Errorf("node %q (%s): the activation it replaced is unknown (no %q metadata names it)", name, fam, rewriteMetadataKey)
		}
		if len(n.GetInput()) == 0 {
			return nil, fmt.Errorf("node %q (%s) has no input", name, fam)
		}
		site := rewrite.Site{Scope: sn.scope, Node: name, Kind: rec.Kind, Input: n.GetInput()[0], Output: n.GetOutput()[0]}
		if site.Kind == rewrite.KindQuickGELU {
			site.Alpha = onnxops.QuickGELUAlpha // the rewriter records no α; QuickGelu's default
		}
		sites = append(sites, site)
		fams = append(fams, fam)
		recs = append(recs, rec)
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("no %s nodes to calibrate; rewrite the model first", onnxops.Domain)
	}
	out := proto.Clone(m).(*onnx.ModelProto)
	nodes, inits := indexModel(out)
	res := &Result{Model: out}
	var stats []*SiteStats
	if !opts.Sequential {
		probe, probeSites, err := unabsorbed(m, sites, recs)
		if err != nil {
			return nil, err
		}
		if stats, err = collect(probe, data, probeSites, opts, nil); err != nil {
			return nil, err
		}
	}
	for i, s := range sites {
		st := stats
		if opts.Sequential {
			// out already carries the new parameters of every node before this one.
			probe, probeSites, err := unabsorbed(out, sites[i:i+1], recs[i:i+1])
			if err != nil {
				return nil, err
			}
			if st, err = collect(probe, data, probeSites, opts, nil); err != nil {
				return nil, err
			}
		} else {
			st = stats[i : i+1]
		}
		o := opts
		o.To = fams[i]
		rep, err := fitSite(s, st[0], o)
		if err != nil {
			return nil, err
		}
		sets, axis, err := recs[i].Absorb(rep.Parameters, rep.axis())
		if err != nil {
			return nil, fmt.Errorf("%w; re-calibrate from the original model (Calibrate) or rewrite it with Options.KeepBias", err)
		}
		if err := setNodeParams(nodes[s.Node], inits, sets, axis); err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", s.Node, fams[i], err)
		}
		res.Sites = append(res.Sites, rep)
	}
	if opts.Original == nil {
		return res, nil
	}
	// Never hand back parameters worse end to end than those the model came with.
	given := make([]SiteReport, len(res.Sites))
	origNodes, origInits := indexModel(m)
	for i, rep := range res.Sites {
		if rep.Parameters, err = nodeParams(origNodes[rep.Node], origInits); err != nil {
			return nil, fmt.Errorf("node %q: %w", rep.Node, err)
		}
		// The report describes the activation of the site's own input, without an absorbed bias.
		if rep.Parameters, _, err = recs[i].Unshift(rep.Parameters, nodeAxis(origNodes[rep.Node].node)); err != nil {
			return nil, err
		}
		rep.Fit, rep.Sequential, rep.Warning = pointwiseError(rep.Parameters, rep.hist, rep.target), nil, ""
		given[i] = rep
	}
	cands := []resultCandidate{{name: CandidateRefitted, sites: res.Sites, model: out}, {name: CandidateAsGiven, sites: given, model: m}}
	kept, val, err := keepBest(opts.Original, cands, data, opts)
	if err != nil {
		return nil, err
	}
	res.Model, res.Sites, res.Validation = kept.model, kept.sites, val
	return res, nil
}

// scopedNode is a node and the scope it is in (onnx scope names).
type scopedNode struct {
	node  *onnx.NodeProto
	scope string
}

// actswapNodes lists m's ai.actswap nodes in every scope (the main graph, If/Loop/Scan bodies,
// model-local functions), each scope in graph order.
func actswapNodes(m *onnx.ModelProto) []scopedNode {
	var out []scopedNode
	nodes, _ := indexModelOrdered(m)
	for _, sn := range nodes {
		if sn.node.GetDomain() == onnxops.Domain {
			out = append(out, sn)
		}
	}
	return out
}

// indexModel maps the scoped names (onnx.ScopedName) of m's nodes to the nodes, and the scoped
// names of their parameters to the tensors holding them: initializers, and the value of Constant
// nodes (a function body's parameters).
func indexModel(m *onnx.ModelProto) (map[string]scopedNode, map[string]*onnx.TensorProto) {
	ordered, inits := indexModelOrdered(m)
	nodes := map[string]scopedNode{}
	for _, sn := range ordered {
		nodes[onnx.ScopedName(sn.scope, sn.node.GetName())] = sn
	}
	return nodes, inits
}

func indexModelOrdered(m *onnx.ModelProto) ([]scopedNode, map[string]*onnx.TensorProto) {
	var nodes []scopedNode
	inits := map[string]*onnx.TensorProto{}
	onnx.WalkScopes(m, func(scope string, g *onnx.GraphProto, f *onnx.FunctionProto) {
		if f.GetDomain() == onnxops.Domain {
			return // the operators' own bodies
		}
		list := f.GetNode()
		if g != nil {
			list = g.GetNode()
			for _, t := range g.GetInitializer() {
				inits[onnx.ScopedName(scope, t.GetName())] = t
			}
		}
		for _, n := range list {
			nodes = append(nodes, scopedNode{n, scope})
			if n.GetOpType() == "Constant" && len(n.GetOutput()) == 1 {
				for _, a := range n.GetAttribute() {
					if a.GetName() == "value" && a.GetT() != nil {
						inits[onnx.ScopedName(scope, n.GetOutput()[0])] = a.GetT()
					}
				}
			}
		}
	})
	return nodes, inits
}

// unabsorbed returns m and sites unchanged when no site's node absorbed a bias; otherwise a copy of
// m in which an Add before each such node recomputes the activation's own input x = m + bias (from
// the rewriter's record), with those sites reading it: what the fits must see. The rewriter absorbs
// biases in subgraphs and functions too; re-calibrating those is refused with the way around it.
func unabsorbed(m *onnx.ModelProto, sites []rewrite.Site, recs []rewrite.ReplacedNode) (*onnx.ModelProto, []rewrite.Site, error) {
	if !slices.ContainsFunc(recs, func(r rewrite.ReplacedNode) bool { return r.Bias != nil }) {
		return m, sites, nil
	}
	probe := proto.Clone(m).(*onnx.ModelProto)
	g := probe.GetGraph()
	out := slices.Clone(sites)
	adds := map[string]*onnx.NodeProto{} // ai.actswap node name → the Add to put before it
	for i, r := range recs {
		if r.Bias == nil {
			continue
		}
		s := &out[i]
		if s.Scope != "" {
			return nil, nil, fmt.Errorf("node %q absorbed the bias in front of it inside %q; re-calibrating it is not supported: re-calibrate from the original model (Calibrate) or rewrite it with Options.KeepBias", s.Node, s.Scope)
		}
		shape := []int{len(r.BiasValues)}
		for range -r.Bias.Axis - 1 {
			shape = append(shape, 1) // a bias along axis −k broadcasts over the k−1 axes after it
		}
		if len(r.BiasValues) == 1 {
			shape = []int{}
		}
		biasName, x := s.Node+"/actswap_refit_bias", s.Node+"/actswap_refit_input"
		g.Initializer = append(g.Initializer, tensor.ToProto(tensor.New(shape, slices.Clone(r.BiasValues)), biasName))
		adds[s.Node] = &onnx.NodeProto{Name: proto.String(s.Node + "/actswap_refit_add"), OpType: proto.String("Add"), Input: []string{s.Input, biasName}, Output: []string{x}}
		s.Input = x
	}
	var nodes []*onnx.NodeProto
	for _, n := range g.GetNode() {
		if a, ok := adds[n.GetName()]; ok {
			nodes = append(nodes, a)
		}
		nodes = append(nodes, n)
	}
	g.Node = nodes
	return probe, out, nil
}

// nodeAxis is a node's axis attribute (1, OPS.md's default, when absent).
func nodeAxis(n *onnx.NodeProto) int {
	for _, a := range n.GetAttribute() {
		if a.GetName() == "axis" {
			return int(a.GetI())
		}
	}
	return 1
}

// setNodeParams overwrites a node's parameter initializers (same names and element type) and its
// gate and axis attributes (axis: the channel axis of per-channel sets).
func setNodeParams(sn scopedNode, inits map[string]*onnx.TensorProto, sets []onnxops.Params, axis int) error {
	n := sn.node
	fam := sets[0].Family()
	names := onnxops.ParamInputNames(fam)
	if len(n.GetInput()) != 1+len(names) {
		return fmt.Errorf("has %d inputs, %s takes %d", len(n.GetInput()), fam, 1+len(names))
	}
	for k := range names {
		old, ok := inits[onnx.ScopedName(sn.scope, n.GetInput()[1+k])]
		if !ok {
			return fmt.Errorf("parameter %q is not an initializer", n.GetInput()[1+k])
		}
		dt := tensor.DType(old.GetDataType())
		if dt != tensor.Float16 && dt != tensor.Float64 {
			dt = tensor.Float32
		}
		ts, err := onnxops.ParamTensorsAs(dt, fam, sets)
		if err != nil {
			return err
		}
		fresh := tensor.ToProto(ts[k], old.GetName())
		proto.Reset(old)
		proto.Merge(old, fresh)
	}
	var attrs []*onnx.AttributeProto
	for _, a := range n.GetAttribute() {
		if a.GetName() != "gate" && a.GetName() != "axis" {
			attrs = append(attrs, a)
		}
	}
	if z, ok := sets[0].(onnxops.ZorroParams); ok && z.Gate {
		attrs = append(attrs, intAttr("gate", 1))
	}
	if len(sets) > 1 {
		attrs = append(attrs, intAttr("axis", int64(axis)))
	}
	n.Attribute = attrs
	return nil
}

func intAttr(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}
