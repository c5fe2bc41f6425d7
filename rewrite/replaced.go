package rewrite

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/actswap/actswap/onnxops"

	"github.com/actswap/actswap/onnx"
)

// ReplacedNode is what the rewriter recorded about one ai.actswap node it wrote: the node whose
// output it now computes (the site's anchor), the kind of activation and the rule that matched.
type ReplacedNode struct {
	Node    string
	Kind    Kind
	Pattern string
	// Bias is the constant bias the node absorbed (nil: none) and BiasValues its values: the node
	// reads m and computes the activation of x = m + bias.
	Bias       *AbsorbedBias
	BiasValues []float32
}

// Unshift turns the parameter sets of a node that absorbed a bias (per channel along axis when
// there are several) into those of the activation itself, applied to x = m + bias: what a tool
// that sees x needs (export-torch, re-calibration). Sets that become equal collapse into one.
// Without an absorbed bias it returns the sets as they are.
func (r ReplacedNode) Unshift(sets []onnxops.Params, axis int) ([]onnxops.Params, int, error) {
	sp, err := r.shift(SiteParams{Sets: sets, Axis: axis}, -1)
	if err != nil {
		return nil, 0, fmt.Errorf("node %q: undoing the absorbed bias: %w", r.Node, err)
	}
	if allEqual(sp.Sets) {
		return sp.Sets[:1], axis, nil
	}
	return sp.Sets, sp.Axis, nil
}

// Absorb is Unshift's inverse: the node's parameter sets from sets fitted to the activation's own
// input x = m + bias (per channel along axis when there are several). Per-channel sets and a
// per-channel bias must share the axis; a caller that cannot tell gets an error.
func (r ReplacedNode) Absorb(sets []onnxops.Params, axis int) ([]onnxops.Params, int, error) {
	if r.Bias != nil && len(sets) > 1 && len(r.BiasValues) > 1 && axis != r.Bias.Axis {
		return nil, 0, fmt.Errorf("node %q absorbed a bias along axis %d, and the parameters are per channel along axis %d", r.Node, r.Bias.Axis, axis)
	}
	sp, err := r.shift(SiteParams{Sets: sets, Axis: axis}, 1)
	if err != nil {
		return nil, 0, fmt.Errorf("node %q: absorbing its bias: %w", r.Node, err)
	}
	return sp.Sets, sp.Axis, nil
}

func (r ReplacedNode) shift(sp SiteParams, sign float64) (SiteParams, error) {
	if r.Bias == nil {
		return sp, nil
	}
	values := make([]float64, len(r.BiasValues))
	for i, v := range r.BiasValues {
		values[i] = float64(v)
	}
	return shiftSets(sp, values, r.Bias.Axis, sign)
}

// allEqual reports whether every set equals the first within float32 rounding of its values.
func allEqual(sets []onnxops.Params) bool {
	for _, p := range sets[1:] {
		if !sameParams(p, sets[0]) {
			return false
		}
	}
	return true
}

func sameParams(p, q onnxops.Params) bool {
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*max(1, math.Abs(a), math.Abs(b)) }
	switch a := p.(type) {
	case onnxops.PWLUParams:
		b := q.(onnxops.PWLUParams)
		if !near(a.BL, b.BL) || !near(a.BR, b.BR) || !near(a.KL, b.KL) || !near(a.KR, b.KR) || len(a.Heights) != len(b.Heights) {
			return false
		}
		for i := range a.Heights {
			if !near(a.Heights[i], b.Heights[i]) {
				return false
			}
		}
		return true
	case onnxops.ZorroParams:
		b := q.(onnxops.ZorroParams)
		va, vb := a.Vector(), b.Vector()
		for i := range va {
			if !near(va[i], vb[i]) {
				return false
			}
		}
		return a.Gate == b.Gate
	}
	return false
}

// Replaced reads the record that Apply keeps in metadata "actswap.rewrite" (every run, oldest
// first) and maps each ai.actswap node's name to what it replaced. A model never rewritten gives
// an empty map; a record that is not the rewriter's is an error.
func Replaced(m *onnx.ModelProto) (map[string]ReplacedNode, error) {
	out := map[string]ReplacedNode{}
	raw := metadata(m, metaRewriteKey)
	if raw == "" {
		return out, nil
	}
	var runs []rewriteRecord
	if err := json.Unmarshal([]byte(raw), &runs); err != nil {
		return nil, fmt.Errorf("metadata %q is not the rewriter's record: %w", metaRewriteKey, err)
	}
	for _, r := range runs {
		for _, rep := range r.Replaced {
			rn := ReplacedNode{Node: rep.Node, Kind: rep.Kind, Pattern: rep.Pattern}
			if rep.Bias != nil {
				b := rep.Bias.AbsorbedBias
				rn.Bias, rn.BiasValues = &b, rep.Bias.Values
			}
			out[rep.With] = rn
		}
	}
	return out, nil
}
