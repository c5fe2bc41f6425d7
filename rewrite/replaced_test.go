package rewrite

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
)

// Two runs (one site to CRReLU, then the other to PWLU) are both read back, each ai.actswap node naming the node
// it replaced.
func TestReplacedReadsEveryRun(t *testing.T) {
	t.Parallel()
	m, err := onnx.LoadFile(filepath.Join("..", "models", "digits_mlp_gelu", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Replaced(m); err != nil || len(got) != 0 {
		t.Fatalf("model never rewritten: %v, %v", got, err)
	}
	first, rep1, err := Apply(m, Options{To: onnxops.FamilyCRReLU, Nodes: regexp.MustCompile(`^/g/Mul_1$`)})
	if err != nil {
		t.Fatal(err)
	}
	second, rep2, err := Apply(first, Options{To: onnxops.FamilyPWLU})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Replaced(second)
	if err != nil {
		t.Fatal(err)
	}
	all := append(rep1.Replaced, rep2.Replaced...)
	if len(rep1.Replaced) != 1 || len(rep2.Replaced) != 1 || len(got) != 2 {
		t.Fatalf("read %d replaced nodes, the runs replaced %d", len(got), len(all))
	}
	for _, r := range all {
		if g := got[r.Node]; g.Node != r.Site.Node || g.Kind != r.Site.Kind || g.Pattern != r.Site.Pattern {
			t.Errorf("%s: read %+v, replaced %+v", r.Node, g, r.Site)
		}
	}
	setMetadata(second, metaRewriteKey, "{not json")
	if _, err := Replaced(second); err == nil {
		t.Error("a record that is not the rewriter's was accepted")
	}
}
