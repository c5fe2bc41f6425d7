package calibrate

import (
	"errors"
	"fmt"

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
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("no %s nodes to calibrate; rewrite the model first", onnxops.Domain)
	}
	out := proto.Clone(m).(*onnx.ModelProto)
	nodes, inits := indexModel(out)
	res := &Result{Model: out}
	var stats []*SiteStats
	if !opts.Sequential {
		if stats, err = collect(m, nil, data, sites, opts, nil); err != nil {
			return nil, err
		}
	}
	for i, s := range sites {
		st := stats
		if opts.Sequential {
			// out already carries the new parameters of every node before this one.
			if st, err = collect(out, nil, data, sites[i:i+1], opts, nil); err != nil {
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
		if err := setNodeParams(nodes[s.Node], inits, rep.Parameters); err != nil {
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

// setNodeParams overwrites a node's parameter initializers (same names and element type) and its
// gate and axis attributes.
func setNodeParams(sn scopedNode, inits map[string]*onnx.TensorProto, sets []onnxops.Params) error {
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
		attrs = append(attrs, intAttr("axis", 1))
	}
	n.Attribute = attrs
	return nil
}

func intAttr(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}
