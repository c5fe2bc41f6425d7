package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// TreeEnsemble (ai.onnx.ml opset 5): every tree walks from its root, each interior node comparing
// one feature with its split (nodes_modes: ≤, <, ≥, >, =, ≠, or membership in a set) and going to
// a node or a leaf; each leaf adds its weight to one target. Trees combine by sum, average, min or
// max, then the post transform applies.

type treeEnsemble struct {
	roots               []int
	featureIDs          []int
	modes               []uint8
	splits              []float64
	trueIDs, falseIDs   []int
	trueLeaf, falseLeaf []bool
	missingTrue         []bool
	members             [][]float64 // per node, for mode 6
	leafTargets         []int
	leafWeights         []float64
	targets, aggregate  int
	postTransform       int
}

const (
	treeLEQ = iota
	treeLT
	treeGTE
	treeGT
	treeEQ
	treeNEQ
	treeMember
)

func newTreeEnsemble(n *Node) (Kernel, error) {
	te := &treeEnsemble{targets: int(n.AttrInt("n_targets", 0)), aggregate: int(n.AttrInt("aggregate_function", 1)),
		postTransform: int(n.AttrInt("post_transform", 0))}
	ints := func(name string) []int {
		v := n.AttrInts(name, nil)
		out := make([]int, len(v))
		for i, x := range v {
			out[i] = int(x)
		}
		return out
	}
	floats := func(name string) ([]float64, error) {
		if !n.HasAttr(name) {
			return nil, nil
		}
		t, err := n.AttrTensor(name)
		if err != nil {
			return nil, fmt.Errorf("TreeEnsemble: %s: %w", name, err)
		}
		return toFloat64s(t), nil
	}
	te.roots = ints("tree_roots")
	te.featureIDs = ints("nodes_featureids")
	te.trueIDs, te.falseIDs = ints("nodes_truenodeids"), ints("nodes_falsenodeids")
	te.leafTargets = ints("leaf_targetids")
	var err error
	if te.splits, err = floats("nodes_splits"); err != nil {
		return nil, err
	}
	if te.leafWeights, err = floats("leaf_weights"); err != nil {
		return nil, err
	}
	modes, err := floats("nodes_modes")
	if err != nil {
		return nil, err
	}
	nodes := len(te.featureIDs)
	te.modes = make([]uint8, nodes)
	for i := range te.modes {
		if i < len(modes) {
			te.modes[i] = uint8(modes[i])
		}
	}
	flags := func(name string) []bool {
		v := n.AttrInts(name, nil)
		out := make([]bool, nodes)
		for i := range out {
			out[i] = i < len(v) && v[i] != 0
		}
		return out
	}
	te.trueLeaf, te.falseLeaf, te.missingTrue = flags("nodes_trueleafs"), flags("nodes_falseleafs"), flags("nodes_missing_value_tracks_true")
	if len(te.splits) != nodes || len(te.trueIDs) != nodes || len(te.falseIDs) != nodes {
		return nil, fmt.Errorf("TreeEnsemble: node attributes disagree on the node count (%d features, %d splits, %d true ids, %d false ids)",
			nodes, len(te.splits), len(te.trueIDs), len(te.falseIDs))
	}
	if len(te.leafTargets) != len(te.leafWeights) {
		return nil, fmt.Errorf("TreeEnsemble: %d leaf targets but %d leaf weights", len(te.leafTargets), len(te.leafWeights))
	}
	// Membership sets, in the order of the member nodes, separated by NaN.
	membership, err := floats("membership_values")
	if err != nil {
		return nil, err
	}
	te.members = make([][]float64, nodes)
	for i, m := range te.modes {
		if m != treeMember {
			continue
		}
		var set []float64
		for len(membership) > 0 && !math.IsNaN(membership[0]) {
			set, membership = append(set, membership[0]), membership[1:]
		}
		if len(membership) > 0 {
			membership = membership[1:]
		}
		te.members[i] = set
	}
	for i := 0; i < nodes; i++ {
		if te.modes[i] > treeMember {
			return nil, fmt.Errorf("TreeEnsemble: node %d has mode %d", i, te.modes[i])
		}
		for _, next := range []struct {
			id   int
			leaf bool
		}{{te.trueIDs[i], te.trueLeaf[i]}, {te.falseIDs[i], te.falseLeaf[i]}} {
			if limit := map[bool]int{true: len(te.leafWeights), false: nodes}[next.leaf]; next.id < 0 || next.id >= limit {
				return nil, fmt.Errorf("TreeEnsemble: node %d points to %d, outside its %d %s", i, next.id, limit, map[bool]string{true: "leaves", false: "nodes"}[next.leaf])
			}
		}
	}
	for _, r := range te.roots {
		if r < 0 || r >= nodes {
			return nil, fmt.Errorf("TreeEnsemble: tree root %d outside the %d nodes", r, nodes)
		}
	}
	for _, t := range te.leafTargets {
		if t < 0 || t >= te.targets {
			return nil, fmt.Errorf("TreeEnsemble: leaf target %d outside n_targets %d", t, te.targets)
		}
	}
	if te.postTransform != 0 {
		return nil, fmt.Errorf("TreeEnsemble: post_transform %d is not supported (only NONE)", te.postTransform)
	}
	return te, nil
}

func (te *treeEnsemble) goesTrue(node int, x float64) bool {
	if math.IsNaN(x) {
		return te.missingTrue[node]
	}
	s := te.splits[node]
	switch te.modes[node] {
	case treeLEQ:
		return x <= s
	case treeLT:
		return x < s
	case treeGTE:
		return x >= s
	case treeGT:
		return x > s
	case treeEQ:
		return x == s
	case treeNEQ:
		return x != s
	}
	for _, m := range te.members[node] {
		if x == m {
			return true
		}
	}
	return false
}

// leaf walks one tree from root for a row of features and returns the leaf reached.
func (te *treeEnsemble) leaf(root int, row []float64) (int, error) {
	node := root
	for steps := 0; steps <= len(te.modes); steps++ {
		f := te.featureIDs[node]
		if f < 0 || f >= len(row) {
			return 0, fmt.Errorf("TreeEnsemble: node %d reads feature %d of %d", node, f, len(row))
		}
		next, isLeaf := te.falseIDs[node], te.falseLeaf[node]
		if te.goesTrue(node, row[f]) {
			next, isLeaf = te.trueIDs[node], te.trueLeaf[node]
		}
		if isLeaf {
			return next, nil
		}
		node = next
	}
	return 0, fmt.Errorf("TreeEnsemble: the tree from root %d has a cycle", root)
}

func (te *treeEnsemble) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, fmt.Errorf("TreeEnsemble: %w", err)
	}
	x := in[0]
	if len(x.Shape) != 2 {
		return nil, fmt.Errorf("TreeEnsemble: X %v is not [N, features]", x.Shape)
	}
	rows, feats := x.Shape[0], x.Shape[1]
	xv := toFloat64s(x)
	y := make([]float64, rows*te.targets)
	for r := 0; r < rows; r++ {
		acc := y[r*te.targets : (r+1)*te.targets]
		seen := make([]bool, te.targets)
		for _, root := range te.roots {
			l, err := te.leaf(root, xv[r*feats:(r+1)*feats])
			if err != nil {
				return nil, err
			}
			t, w := te.leafTargets[l], te.leafWeights[l]
			switch {
			case te.aggregate == 2 && seen[t]: // MIN
				acc[t] = min(acc[t], w)
			case te.aggregate == 3 && seen[t]: // MAX
				acc[t] = max(acc[t], w)
			case te.aggregate == 2 || te.aggregate == 3:
				acc[t] = w
			default: // SUM, AVERAGE
				acc[t] += w
			}
			seen[t] = true
		}
		if te.aggregate == 0 && len(te.roots) > 0 {
			for t := range acc {
				acc[t] /= float64(len(te.roots))
			}
		}
	}
	out := ctx.Alloc(x.DType, []int{rows, te.targets})
	if err := storeFloats(y, out); err != nil {
		return nil, fmt.Errorf("TreeEnsemble: %w", err)
	}
	return ctx.Result(out), nil
}
