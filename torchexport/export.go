// Package torchexport writes the ai.actswap sites of a rewritten model back out for PyTorch: a
// self-contained Python module with torch.nn.Modules for Zorro, PWLU and CRReLU (the math of
// OPS.md, trainable), the calibrated parameters as safetensors keyed by site, and a mapping from
// each site to the PyTorch module that produced it, with a function that swaps those modules of a
// user's model in place. The point is a short fine-tune after a post-training swap.
//
// The module path comes from the node's name: PyTorch's TorchScript ONNX exporter names nodes by
// the scopes of the modules whose forward produced them ("/enc/layers.0/activation/Mul_1"), each
// scope being the module's name in its parent with trailing numeric atoms kept ("layers.0"). The
// Python side re-resolves the scopes against the real model, so a guess that does not name a
// module is not the last word; a site that resolves to no activation module is refused by swap
// with a message, never silently left alone.
package torchexport

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/tensor"
)

// Site is one ai.actswap node of a rewritten model, as the Python side sees it.
type Site struct {
	Name     string         `json:"site"`     // the ai.actswap node's name; parameter keys start with it
	Replaced string         `json:"replaced"` // the exporter's node whose output the site now computes
	Kind     string         `json:"kind,omitempty"`
	Family   onnxops.Family `json:"family"`
	// Scope is the replaced node's module scopes ("/enc/layers.0/activation/Mul_1" → [enc,
	// layers.0, activation]); Module is the module path they most likely name.
	Scope    []string `json:"scope"`
	Module   string   `json:"module"`
	Channels int      `json:"channels"` // 1: one parameter set for the whole tensor
	Axis     int      `json:"axis"`     // the channel axis when Channels > 1
	Gate     bool     `json:"gate,omitempty"`
	// Params maps each parameter input (epsilon; bounds, heights, slopes; params) to its key in
	// the safetensors file.
	Params map[string]string `json:"params"`
}

// Sites lists m's ai.actswap nodes in graph order with their parameters as float32 tensors,
// validated against OPS.md (onnxops.ParamsFromTensors). A parameter that is not an initializer,
// or a model with no ai.actswap node, is an error naming the node.
func Sites(m *onnx.ModelProto) ([]Site, []namedTensor, error) {
	g := m.GetGraph()
	if g == nil {
		return nil, nil, errors.New("model has no graph")
	}
	replaced, err := rewrite.Replaced(m)
	if err != nil {
		return nil, nil, err
	}
	inits := map[string]*onnx.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	var sites []Site
	var tensors []namedTensor
	for _, n := range g.GetNode() {
		if n.GetDomain() != onnxops.Domain {
			continue
		}
		site, ts, err := siteOf(n, inits, replaced)
		if err != nil {
			return nil, nil, fmt.Errorf("node %q (%s): %w", n.GetName(), n.GetOpType(), err)
		}
		sites = append(sites, site)
		tensors = append(tensors, ts...)
	}
	if nested := nestedActswapNode(m); nested != "" {
		// A body runs per iteration and a function per call, with no one PyTorch module to
		// swap; leaving the site out would hand back a model that is not the rewritten one.
		return nil, nil, fmt.Errorf("node %q is inside a subgraph or model-local function; export-torch places sites of the main graph only (rewrite with rewrite.Options.Exclude matching '^(If|Loop|Scan|function) ' to keep them out)", nested)
	}
	if len(sites) == 0 {
		return nil, nil, fmt.Errorf("no %s nodes: rewrite the model first (actswap rewrite)", onnxops.Domain)
	}
	return sites, tensors, nil
}

// nestedActswapNode returns the scoped name of an ai.actswap node outside the main graph, or "".
func nestedActswapNode(m *onnx.ModelProto) string {
	found := ""
	onnx.WalkScopes(m, func(scope string, g *onnx.GraphProto, f *onnx.FunctionProto) {
		if scope == "" || found != "" || f.GetDomain() == onnxops.Domain {
			return
		}
		nodes := f.GetNode()
		if g != nil {
			nodes = g.GetNode()
		}
		for _, n := range nodes {
			if n.GetDomain() == onnxops.Domain {
				found = onnx.ScopedName(scope, n.GetName())
				return
			}
		}
	})
	return found
}

func siteOf(n *onnx.NodeProto, inits map[string]*onnx.TensorProto, replaced map[string]rewrite.ReplacedNode) (Site, []namedTensor, error) {
	fam, err := onnxops.ParseFamily(n.GetOpType())
	if err != nil {
		return Site{}, nil, err
	}
	if n.GetName() == "" {
		return Site{}, nil, errors.New("the node has no name, so its site cannot be keyed")
	}
	names := onnxops.ParamInputNames(fam)
	if len(n.GetInput()) != 1+len(names) {
		return Site{}, nil, fmt.Errorf("%d inputs, %s takes X and %v", len(n.GetInput()), fam, names)
	}
	ts := make([]*tensor.Tensor, len(names))
	for k, in := range n.GetInput()[1:] {
		tp, ok := inits[in]
		if !ok {
			return Site{}, nil, fmt.Errorf("parameter %q (%s) is not an initializer", in, names[k])
		}
		if ts[k], err = tensor.FromProto(tp); err != nil {
			return Site{}, nil, fmt.Errorf("parameter %q: %w", in, err)
		}
	}
	sets, err := onnxops.ParamsFromTensors(fam, ts)
	if err != nil {
		return Site{}, nil, err
	}
	site := Site{Name: n.GetName(), Family: fam, Channels: len(sets), Axis: 1, Params: map[string]string{}}
	for _, a := range n.GetAttribute() {
		switch a.GetName() {
		case "axis":
			site.Axis = int(a.GetI())
		case "gate":
			site.Gate = a.GetI() != 0
		}
	}
	if rec, ok := replaced[n.GetName()]; ok {
		site.Replaced, site.Kind = rec.Node, string(rec.Kind)
		// A node that absorbed the bias in front of it reads the pre-bias value; the PyTorch
		// module sits after the layer that adds the bias, so it gets the activation's own sets.
		if sets, site.Axis, err = rec.Unshift(sets, site.Axis); err != nil {
			return Site{}, nil, err
		}
		site.Channels = len(sets)
	} else {
		// The rewriter names its node "<replaced node>/actswap_<family>".
		site.Replaced = strings.TrimSuffix(n.GetName(), "/actswap_"+strings.ToLower(string(fam)))
	}
	site.Scope = ScopeOf(site.Replaced)
	site.Module = ModulePath(site.Scope)
	// The parameter tensors are rebuilt from the validated sets, so the file holds per-tensor
	// shapes for one set and [C, …] for C sets whatever the initializers' leading 1s or dtype.
	canon, err := onnxops.ParamTensorsAs(tensor.Float32, fam, sets)
	if err != nil {
		return Site{}, nil, err
	}
	out := make([]namedTensor, len(names))
	for k, name := range names {
		key := site.Name + "." + name
		site.Params[name] = key
		out[k] = namedTensor{Key: key, Shape: canon[k].Shape, Data: canon[k].Data.([]float32)}
	}
	return site, out, nil
}

// ScopeOf splits an exporter node name into its module scopes: "/enc/layers.0/activation/Mul_1"
// → [enc layers.0 activation]. A name without a leading "/" (an unscoped node) has none.
func ScopeOf(node string) []string {
	if !strings.HasPrefix(node, "/") {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(node, "/"), "/")
	scope := parts[:len(parts)-1] // the last part is the op's own name
	return slices.DeleteFunc(slices.Clone(scope), func(s string) bool { return s == "" })
}

// ModulePath joins scopes into a module path. A scope repeats the atoms of its caller when the
// module sits at a numeric index of a called container (Sequential "layer1" calls "layer1.0"), so
// the longest overlap between the path so far and the scope's head is joined once:
// [layer1 layer1.0 relu] → layer1.0.relu, [enc layers.0 activation] → enc.layers.0.activation.
func ModulePath(scope []string) string {
	var path []string
	for _, s := range scope {
		atoms := strings.Split(s, ".")
		overlap := 0
		for k := min(len(path), len(atoms)-1); k > 0; k-- {
			if slices.Equal(path[len(path)-k:], atoms[:k]) {
				overlap = k
				break
			}
		}
		path = append(path, atoms[overlap:]...)
	}
	return strings.Join(path, ".")
}
