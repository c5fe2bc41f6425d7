package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// twoModels writes an original model y = x and a "rewritten" one y = sqrt(x) + (x - sqrt(x)),
// which is x wherever x ≥ 0 and NaN where x < 0, both x: float32[batch, 4] → y: float32[batch, 4].
func twoModels(t *testing.T) (orig, broken string) {
	t.Helper()
	b := graphtest.New("identity", 17)
	x := b.Input("x", tensor.Float32, "batch", 4)
	b.Node("", "Identity", []string{x}, 0)
	b.Model().Graph.Node[0].Output = []string{"y"}
	b.Output("y", tensor.Float32, "batch", 4)
	orig = graphtest.Save(t, b.Model(), "orig")
	b = graphtest.New("sqrt", 17)
	x = b.Input("x", tensor.Float32, "batch", 4)
	r := b.Op("Sqrt", []string{x})
	b.Node("", "Add", []string{r, b.Op("Sub", []string{x, r})}, 0)
	g := b.Model().Graph
	g.Node[len(g.Node)-1].Output = []string{"y"}
	b.Output("y", tensor.Float32, "batch", 4)
	return orig, graphtest.Save(t, b.Model(), "broken")
}

func writeNpy(t *testing.T, name string, x *tensor.Tensor) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := tensor.WriteNpy(path, x); err != nil {
		t.Fatal(err)
	}
	return path
}

type compareJSON struct {
	Outputs []struct {
		Name      string
		MaxAbs    any `json:"max_abs_err"`
		RelL2     any `json:"rel_l2_err"`
		NonFinite struct {
			OriginalNaN  int `json:"original_nan"`
			RewrittenNaN int `json:"rewritten_nan"`
			Introduced   int `json:"introduced"`
		} `json:"non_finite"`
	}
	Top1Agreement float64 `json:"top1_agreement"`
}

// NaN and Inf in compare are counted and reported, never a pass: a rewritten model that gives NaN
// where the original is finite fails with exit 4, all-NaN data is not a perfect match, and --json
// encodes the non-finite errors instead of failing.
func TestCompareNonFinite(t *testing.T) {
	orig, broken := twoModels(t)
	// One negative column: the broken model gives NaN there, the original does not.
	x := tensor.Zeros(tensor.Float32, []int{3, 4})
	for i, v := range x.F32() {
		x.F32()[i] = float32(i%4) + 0.5
		if i%4 == 2 {
			x.F32()[i] = -v - 1
		}
	}
	column := writeNpy(t, "column.npy", x)
	allNaN := tensor.Zeros(tensor.Float32, []int{3, 4})
	for i := range allNaN.F32() {
		allNaN.F32()[i] = float32(math.NaN())
	}
	nanData := writeNpy(t, "nan.npy", allNaN)

	text, code := runBinary(t, "compare", orig, broken, "--data", column)
	if code != exitQualityFailed || !strings.Contains(text, "+Inf") || !strings.Contains(text, "3 where the original is finite") ||
		!strings.Contains(text, "NaN or Inf in 3 element(s)") {
		t.Errorf("compare with a NaN column: exit %d, want %d, the errors +Inf and 3 introduced:\n%s", code, exitQualityFailed, text)
	}
	text, code = runBinary(t, "compare", orig, broken, "--data", column, "--json")
	var got compareJSON
	if err := json.Unmarshal([]byte(text[:strings.LastIndex(text, "}")+1]), &got); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, text)
	}
	if code != exitQualityFailed || got.Outputs[0].RelL2 != "Infinity" || got.Outputs[0].NonFinite.Introduced != 3 || got.Outputs[0].NonFinite.RewrittenNaN != 3 {
		t.Errorf("compare --json with a NaN column: exit %d, %+v", code, got)
	}

	// All-NaN data: both models give NaN everywhere; nothing was compared, which is no match.
	text, code = runBinary(t, "compare", orig, orig, "--data", nanData, "--json")
	got = compareJSON{}
	if err := json.Unmarshal([]byte(text[:strings.LastIndex(text, "}")+1]), &got); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, text)
	}
	if code != exitQualityFailed || got.Outputs[0].RelL2 != "NaN" || got.Outputs[0].MaxAbs != "NaN" || got.Top1Agreement != 0 ||
		got.Outputs[0].NonFinite.OriginalNaN != 12 || !strings.Contains(text, "nothing was compared") {
		t.Errorf("compare on all-NaN data: exit %d, %+v\n%s", code, got, text)
	}

	// Finite data where both agree: exit 0, zero error.
	text, code = runBinary(t, "compare", orig, orig, "--data", column)
	if code != exitOK || !strings.Contains(text, "top-1 agreement  100.00%") {
		t.Errorf("compare of a model with itself: exit %d\n%s", code, text)
	}
}

// Labels that are negative or name no class are refused with the file and the first bad row.
func TestCompareRefusesBadLabels(t *testing.T) {
	orig, _ := twoModels(t)
	x := tensor.Zeros(tensor.Float32, []int{3, 4})
	data := writeNpy(t, "x.npy", x)
	for _, c := range []struct {
		labels []int64
		want   string
	}{
		{[]int64{0, -1, -2}, "row 1: label -1 is negative"},
		{[]int64{3, 2, 4}, "row 2: label 4 is out of range: the model's first output has 4 classes"},
	} {
		labels := writeNpy(t, "labels.npy", tensor.New([]int{3}, c.labels))
		text, code := runBinary(t, "compare", orig, orig, "--data", data, "--labels", labels)
		if code != exitFailure || !strings.Contains(text, labels+": "+c.want) {
			t.Errorf("labels %v: exit %d, want %d and %q:\n%s", c.labels, code, exitFailure, c.want, text)
		}
	}
	good := writeNpy(t, "good.npy", tensor.New([]int{3}, []int64{0, 3, 1}))
	if text, code := runBinary(t, "compare", orig, orig, "--data", data, "--labels", good); code != exitOK || !strings.Contains(text, "accuracy") {
		t.Errorf("good labels: exit %d\n%s", code, text)
	}
}
