package rewrite

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// SiteParams are the parameters of one replaced site.
type SiteParams struct {
	// Sets holds one parameter set for the whole tensor, or C > 1 sets, one per channel along Axis.
	Sets []onnxops.Params
	// Axis is the channel axis when len(Sets) > 1: 1 for NCHW convolutions, -1 for transformer
	// features [.., C]. Axis 0 (the batch) is rejected. Ignored for a single set.
	Axis int
}

// ParamsFunc supplies the parameters of one site for the family it is rewritten to. It is the seam
// through which calibration feeds fitted parameters; DefaultParams is used when it is nil.
type ParamsFunc func(site Site, fam onnxops.Family) (SiteParams, error)

// Options select what Apply rewrites and to what.
type Options struct {
	To    onnxops.Family // the replacement operator
	Match []Kind         // kinds to replace; nil replaces every kind
	// Nodes, when set, keeps only sites with at least one node whose name it matches;
	// Exclude drops sites with a node whose name it matches.
	Nodes, Exclude *regexp.Regexp
	Params         ParamsFunc // nil: DefaultParams
	// Version is recorded as metadata "actswap.version" (the CLI passes its build version).
	Version string
	// KeepBias leaves a constant bias added in front of a site (an Add, or FastGelu/BiasGelu's
	// bias input) in the graph; by default the new node absorbs it into its parameters (bias.go).
	KeepBias bool
}

// Report says what Apply found and did.
type Report struct {
	To       onnxops.Family `json:"to"`
	Found    []Site         `json:"found"`
	Replaced []Replacement  `json:"replaced"`
	Skipped  []Skip         `json:"skipped"`
	// RemovedNodes counts every node the rewrite removed: matched nodes and constants only they used.
	RemovedNodes int `json:"removed_nodes"`
}

// Replacement is one site that became an ai.actswap node.
type Replacement struct {
	Site   Site     `json:"site"`
	Node   string   `json:"node"`   // the new node's name
	Params []string `json:"params"` // its parameter initializers, in input order
	// AbsorbedBias names the bias the new node absorbed (nil: none); BiasKept says why a constant
	// bias in front of the site stays in the graph ("" when there is none or it was absorbed).
	AbsorbedBias *AbsorbedBias `json:"absorbed_bias,omitempty"`
	BiasKept     string        `json:"bias_kept,omitempty"`
	biasValues   []float32     // the absorbed bias, for the metadata
}

// Skip is a site left as it was, and why.
type Skip struct {
	Site   Site   `json:"site"`
	Reason string `json:"reason"`
}

// FoundByPattern counts the sites found per pattern name.
func (r Report) FoundByPattern() map[string]int {
	counts := map[string]int{}
	for _, s := range r.Found {
		counts[s.Pattern]++
	}
	return counts
}

const (
	metaVersionKey = "actswap.version"
	metaRewriteKey = "actswap.rewrite"
)

// Apply rewrites a clone of m: each selected, safe site becomes one ai.actswap node of family
// opts.To that reads x and its parameters and writes the site's original output value, so
// everything downstream is untouched. Sites are replaced in every scope: the main graph, If/Loop/
// Scan bodies at any depth, and model-local function bodies. A node's parameters live in its own
// scope: initializers of the (sub)graph it is in, Constant nodes in a function body (which has no
// initializers). m itself is not modified.
func Apply(m *onnx.ModelProto, opts Options) (*onnx.ModelProto, Report, error) {
	rep := Report{To: opts.To}
	if m.GetGraph() == nil {
		return nil, rep, errors.New("model has no graph")
	}
	if _, err := onnxops.ParseFamily(string(opts.To)); err != nil {
		return nil, rep, err
	}
	params := opts.Params
	if params == nil {
		params = DefaultParams
	}
	out := proto.Clone(m).(*onnx.ModelProto)
	scs := scopes(out)
	views := scopeViews(scs)
	befores := make([]snapshot, len(scs))
	names := nameSet{}
	for i, sc := range scs {
		befores[i] = takeSnapshot(sc.g)
		names.addGraph(sc.g)
		rep.Found = append(rep.Found, findScopeSites(views[i], sc.scope, i)...)
	}
	if err := checkOpsetForFunctions(m, rep.Found, opts); err != nil {
		return nil, rep, err
	}

	edits := make([]scopeEdit, len(scs))
	type scopedNode struct{ scope, node int }
	inSite := map[scopedNode]bool{}
	for _, s := range rep.Found {
		for _, i := range s.nodeIdx {
			inSite[scopedNode{s.scopeIdx, i}] = true
		}
	}
	for _, s := range rep.Found {
		if why := opts.skipReason(s); why != "" {
			rep.Skipped = append(rep.Skipped, Skip{Site: s, Reason: why})
			continue
		}
		sp, err := params(s, opts.To)
		if err != nil {
			return nil, rep, fmt.Errorf("parameters for node %q (%s): %w", s.Node, s.Pattern, err)
		}
		g, e := views[s.scopeIdx], &edits[s.scopeIdx]
		if e.replaceAt == nil {
			e.replaceAt, e.removed = map[int][]*onnx.NodeProto{}, map[int]bool{}
		}
		r := Replacement{Site: s}
		x, addBias := s.Input, s.Bias
		if !opts.KeepBias {
			b, why := g.findBias(s)
			if b.values != nil && b.node >= 0 && inSite[scopedNode{s.scopeIdx, b.node}] {
				b.values, why = nil, fmt.Sprintf("the bias Add %q belongs to another site", b.name)
			}
			if b.values != nil {
				var shifted SiteParams
				if shifted, why = absorb(sp, b, s.Input, g); why == "" {
					sp, x, addBias = shifted, b.input, ""
					if b.node >= 0 {
						e.removed[b.node] = true
					}
					r.AbsorbedBias, r.biasValues = b.report(), b.float32s()
				}
			}
			r.BiasKept = why
		}
		nodes, tensors, err := replacementNodes(g, s, x, addBias, opts.To, sp, names)
		if err != nil {
			return nil, rep, fmt.Errorf("node %q (%s): %w", s.Node, s.Pattern, err)
		}
		r.Node = onnx.ScopedName(s.Scope, nodes[len(nodes)-1].GetName())
		for _, t := range tensors {
			r.Params = append(r.Params, t.GetName())
		}
		if scs[s.scopeIdx].fn != nil {
			var consts []*onnx.NodeProto
			for _, t := range tensors {
				consts = append(consts, constantNode(t, names.unique(t.GetName()+"/Constant")))
			}
			nodes, tensors = append(consts, nodes...), nil
		}
		e.replaceAt[s.anchorIdx] = nodes
		for _, i := range s.nodeIdx {
			e.removed[i] = true
		}
		e.inits = append(e.inits, tensors...)
		rep.Replaced = append(rep.Replaced, r)
	}
	if len(rep.Replaced) == 0 {
		return out, rep, nil
	}

	var gone []*onnx.NodeProto
	for i, sc := range scs {
		gone = append(gone, edits[i].apply(sc.g)...)
	}
	// Inner scopes first: a chain removed from a body may leave an enclosing graph's constant unused.
	for i := len(scs) - 1; i >= 0; i-- {
		pruned := pruneNewlyDead(scs[i].g, befores[i])
		gone = append(gone, pruned...)
		dropStaleValueInfo(scs[i].g, append(edits[i].gone, pruned...))
		if scs[i].fn != nil {
			scs[i].storeFunctionBody(edits[i].replaceAt != nil)
		}
	}
	rep.RemovedNodes = len(gone)

	if err := addOperatorSet(out, opts.To); err != nil {
		return nil, rep, err
	}
	if err := recordMetadata(out, opts, rep); err != nil {
		return nil, rep, err
	}
	return out, rep, nil
}

// scopeEdit is what Apply changes in the graph of one scope.
type scopeEdit struct {
	replaceAt map[int][]*onnx.NodeProto // anchor index → nodes that take its place
	removed   map[int]bool              // indexes of matched nodes
	inits     []*onnx.TensorProto       // new parameter initializers
	gone      []*onnx.NodeProto         // the matched nodes, once removed
}

// apply puts the replacement nodes at their anchors' places (the order stays topological), drops
// the matched nodes and adds the new initializers; it returns the nodes removed.
func (e *scopeEdit) apply(g *onnx.GraphProto) []*onnx.NodeProto {
	if e.replaceAt == nil {
		return nil
	}
	var kept []*onnx.NodeProto
	for i, n := range g.Node {
		if repl, ok := e.replaceAt[i]; ok {
			kept = append(kept, repl...)
		}
		if e.removed[i] {
			e.gone = append(e.gone, n)
			continue
		}
		kept = append(kept, n)
	}
	g.Node = kept
	g.Initializer = append(g.Initializer, e.inits...)
	return e.gone
}

// checkOpsetForFunctions refuses, before any work, a model whose default-domain opset is below
// the lowest the ai.actswap function bodies support, when a site would be replaced; the message
// names the upgrade path (ONNX's version converter), since the bodies cannot be written in the
// old opset's ops.
func checkOpsetForFunctions(m *onnx.ModelProto, sites []Site, opts Options) error {
	replacing := false
	for _, s := range sites {
		if opts.skipReason(s) == "" {
			replacing = true
			break
		}
	}
	if !replacing {
		return nil
	}
	for _, o := range m.GetOpsetImport() {
		if onnx.IsDefaultDomain(o.GetDomain()) && o.GetVersion() < onnxops.MinFunctionOpset {
			return fmt.Errorf("the model imports ai.onnx opset %d; the %s function body that lets other runtimes run the rewritten model needs opset %d or later (Where-9, IsNaN-9). "+
				"Upgrade the model first with ONNX's version converter, e.g. "+
				`python -c "import onnx, onnx.version_converter as vc; onnx.save(vc.convert_version(onnx.load('IN.onnx'), 17), 'OUT.onnx')"`+
				", then rewrite OUT.onnx", o.GetVersion(), opts.To, onnxops.MinFunctionOpset)
		}
	}
	return nil
}

// skipReason says why a site is left alone ("" to replace it).
func (o Options) skipReason(s Site) string {
	if s.Blocked != "" {
		return s.Blocked
	}
	if o.Match != nil && !slices.Contains(o.Match, s.Kind) {
		return fmt.Sprintf("kind %s not selected", s.Kind)
	}
	if o.Nodes != nil && !slices.ContainsFunc(s.Nodes, o.Nodes.MatchString) {
		return fmt.Sprintf("no node name matches Options.Nodes %q", o.Nodes)
	}
	if o.Exclude != nil {
		if i := slices.IndexFunc(s.Nodes, o.Exclude.MatchString); i >= 0 {
			return fmt.Sprintf("node %q matches Options.Exclude %q", s.Nodes[i], o.Exclude)
		}
	}
	return ""
}

// replacementNodes builds the ai.actswap node for a site, reading x (preceded by an Add of
// biasValue when that is set), and its parameter initializers.
func replacementNodes(g *graphView, s Site, x, biasValue string, fam onnxops.Family, sp SiteParams, names nameSet) ([]*onnx.NodeProto, []*onnx.TensorProto, error) {
	if len(sp.Sets) == 0 {
		return nil, nil, errors.New("no parameter sets")
	}
	if len(sp.Sets) > 1 && sp.Axis == 0 {
		return nil, nil, fmt.Errorf("%d per-channel parameter sets along axis 0 (the batch axis)", len(sp.Sets))
	}
	if err := g.checkChannels(s.Input, sp); err != nil {
		return nil, nil, err
	}
	dt := g.inferElemType(s.Input, 0)
	if dt != tensor.Float16 && dt != tensor.Float64 {
		dt = tensor.Float32 // also for unknown and bfloat16 inputs: float32 parameters
	}
	ts, err := onnxops.ParamTensorsAs(dt, fam, sp.Sets)
	if err != nil {
		return nil, nil, err
	}
	base := s.localNode()
	if base == "" {
		base = s.Output
	}
	var nodes []*onnx.NodeProto
	if biasValue != "" {
		biased := names.unique(s.Output + "/actswap_biased")
		nodes = append(nodes, &onnx.NodeProto{
			Name:   proto.String(names.unique(base + "/actswap_bias")),
			OpType: proto.String("Add"),
			Input:  []string{x, biasValue},
			Output: []string{biased},
		})
		x = biased
	}
	name := names.unique(base + "/actswap_" + strings.ToLower(string(fam)))
	var inits []*onnx.TensorProto
	var paramNames []string
	for i, pname := range onnxops.ParamInputNames(fam) {
		tp := tensor.ToProto(ts[i], names.unique(name+"/"+pname))
		inits = append(inits, tp)
		paramNames = append(paramNames, tp.GetName())
	}
	axis := 1 // the op's default; only per-channel parameters use it
	if len(sp.Sets) > 1 {
		axis = sp.Axis
	}
	z, gate := sp.Sets[0].(onnxops.ZorroParams)
	node, err := onnxops.NewNodeProto(fam, name, x, s.Output, paramNames, axis, gate && z.Gate)
	if err != nil {
		return nil, nil, err
	}
	return append(nodes, node), inits, nil
}

// addOperatorSet imports ai.actswap and attaches the family's model-local function body; the
// IR-version policy (onnxops.RequiredIRVersion) is applied there.
func addOperatorSet(m *onnx.ModelProto, fam onnxops.Family) error {
	return onnxops.AttachFunctions(m, fam)
}

// rewriteRecord is one run of Apply as recorded in metadata "actswap.rewrite".
type rewriteRecord struct {
	To       onnxops.Family   `json:"to"`
	Replaced []replacedRecord `json:"replaced"`
	Skipped  []skippedRecord  `json:"skipped,omitempty"`
}

type replacedRecord struct {
	Node    string      `json:"node"`
	Kind    Kind        `json:"kind"`
	Pattern string      `json:"pattern"`
	With    string      `json:"with"`
	Bias    *biasRecord `json:"absorbed_bias,omitempty"`
}

// biasRecord keeps an absorbed bias's values in the metadata, so that a tool that needs the
// activation's own input (re-calibration, export-torch) can undo the shift (ReplacedNode.Unshift).
type biasRecord struct {
	AbsorbedBias
	Values []float32 `json:"values"`
}

type skippedRecord struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// recordMetadata sets "actswap.version" and appends this run to the JSON list in "actswap.rewrite",
// so a model rewritten twice (ReLU, then GELU) keeps both records.
func recordMetadata(m *onnx.ModelProto, opts Options, rep Report) error {
	rec := rewriteRecord{To: opts.To}
	for _, r := range rep.Replaced {
		rr := replacedRecord{Node: r.Site.Node, Kind: r.Site.Kind, Pattern: r.Site.Pattern, With: r.Node}
		if r.AbsorbedBias != nil {
			rr.Bias = &biasRecord{AbsorbedBias: *r.AbsorbedBias, Values: r.biasValues}
		}
		rec.Replaced = append(rec.Replaced, rr)
	}
	for _, s := range rep.Skipped {
		rec.Skipped = append(rec.Skipped, skippedRecord{Node: s.Site.Node, Reason: s.Reason})
	}
	var runs []rewriteRecord
	if old := metadata(m, metaRewriteKey); old != "" {
		_ = json.Unmarshal([]byte(old), &runs) // an unreadable old record is replaced, not fatal
	}
	runs = append(runs, rec)
	b, err := json.Marshal(runs)
	if err != nil {
		return fmt.Errorf("record rewrite metadata: %w", err)
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	setMetadata(m, metaVersionKey, version)
	setMetadata(m, metaRewriteKey, string(b))
	return nil
}

func metadata(m *onnx.ModelProto, key string) string {
	for _, e := range m.GetMetadataProps() {
		if e.GetKey() == key {
			return e.GetValue()
		}
	}
	return ""
}

func setMetadata(m *onnx.ModelProto, key, value string) {
	for _, e := range m.GetMetadataProps() {
		if e.GetKey() == key {
			e.Value = proto.String(value)
			return
		}
	}
	m.MetadataProps = append(m.MetadataProps, &onnx.StringStringEntryProto{Key: proto.String(key), Value: proto.String(value)})
}

// checkChannels rejects per-channel parameters whose count differs from x's declared size along
// the axis, when the graph declares it (a runtime would fail on the first batch otherwise).
func (g *graphView) checkChannels(x string, sp SiteParams) error {
	c := len(sp.Sets)
	dims, ok := g.shape[x]
	if c <= 1 || !ok {
		return nil
	}
	axis := sp.Axis
	if axis < 0 {
		axis += len(dims)
	}
	if axis < 0 || axis >= len(dims) {
		return fmt.Errorf("channel axis %d is outside %q's rank %d", sp.Axis, x, len(dims))
	}
	if dims[axis] >= 0 && dims[axis] != int64(c) {
		return fmt.Errorf("%d per-channel parameter sets, but %q has %d channels along axis %d", c, x, dims[axis], sp.Axis)
	}
	return nil
}
