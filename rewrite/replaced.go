package rewrite

import (
	"encoding/json"
	"fmt"

	"github.com/actswap/actswap/onnx"
)

// ReplacedNode is what the rewriter recorded about one ai.actswap node it wrote: the node whose
// output it now computes (the site's anchor), the kind of activation and the rule that matched.
type ReplacedNode struct {
	Node    string
	Kind    Kind
	Pattern string
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
			out[rep.With] = ReplacedNode{Node: rep.Node, Kind: rep.Kind, Pattern: rep.Pattern}
		}
	}
	return out, nil
}
