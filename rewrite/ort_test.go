package rewrite

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
)

// TestRewrittenModelsInOnnxruntime runs rewritten models in onnxruntime, which knows nothing of
// ai.actswap and runs the attached function bodies, and in actswap's runtime, which runs its fused
// kernels: both must agree within 1e-4 relative.
func TestRewrittenModelsInOnnxruntime(t *testing.T) {
	t.Parallel()
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, why)
	}
	cases := []struct {
		model string
		fams  []onnxops.Family
	}{
		{"digits_cnn", onnxops.Families},
		{"digits_mlp_gelu_op20", onnxops.Families},
		{"digits_vit", onnxops.Families},
		{"digits_vit_tanh", onnxops.Families},
		{"resnet18", []onnxops.Family{onnxops.FamilyPWLU}},
		{"vit_tiny", []onnxops.Family{onnxops.FamilyZorro}},
	}
	if testing.Short() {
		cases = cases[:2]
	}
	dir := t.TempDir()
	for _, tc := range cases {
		m := loadShared(t, tc.model)
		feeds := loadInputs(t, tc.model, m)
		for _, fam := range tc.fams {
			out, _, err := Apply(m, Options{To: fam})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.model+"_"+string(fam)+".onnx")
			if err := onnx.SaveFile(out, path); err != nil {
				t.Fatal(err)
			}
			want, err := ortref.Run(path, feeds)
			if err != nil {
				t.Fatalf("%s → %s in onnxruntime: %v", tc.model, fam, err)
			}
			got := runModel(t, out, feeds)
			for name, w := range want {
				g, ok := got[name]
				if !ok || len(g.F32()) != len(w.F32()) {
					t.Fatalf("%s → %s: output %q missing or resized", tc.model, fam, name)
				}
				worst := 0.0
				for i, wv := range w.F32() {
					worst = math.Max(worst, math.Abs(float64(g.F32()[i]-wv))/math.Max(1, math.Abs(float64(wv))))
				}
				if worst > 1e-4 {
					t.Errorf("%s → %s: output %q: actswap and onnxruntime differ by %.3g", tc.model, fam, name, worst)
				}
				t.Logf("%s → %s: output %q max relative difference %.3g", tc.model, fam, name, worst)
			}
		}
	}
}
