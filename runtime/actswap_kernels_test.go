package runtime_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
)

// TestRuntimeRunsActswapKernels: a program that imports runtime (and rewrite, which links no
// kernel) runs rewritten models on the fused ai.actswap kernels, not on the model-local function
// bodies: the profile names the operators (alone, or in the epilogue of the product that feeds
// them: "MatMul+PWLU"), and none of the bodies' standard ops appears. Nothing else is imported
// for a side effect.
func TestRuntimeRunsActswapKernels(t *testing.T) {
	root := testutil.RepoRoot(t)
	for _, model := range []string{"digits_mlp_gelu", "digits_cnn"} {
		dir := filepath.Join(root, "models", model)
		orig, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range onnxops.Families {
			m, rep, err := rewrite.Apply(orig, rewrite.Options{To: fam})
			if err != nil {
				t.Fatalf("%s → %s: %v", model, fam, err)
			}
			if len(rep.Replaced) == 0 {
				t.Fatalf("%s → %s: nothing replaced", model, fam)
			}
			s, err := runtime.NewSession(m, runtime.WithThreads(1))
			if err != nil {
				t.Fatalf("%s → %s: %v", model, fam, err)
			}
			in, err := s.ReadDataSetInputs(filepath.Join(dir, "test_data_set_0"))
			if err != nil {
				t.Fatal(err)
			}
			var p runtime.Profile
			if _, err := s.RunContext(runtime.WithProfile(context.Background(), &p), in); err != nil {
				t.Fatalf("%s → %s: %v", model, fam, err)
			}
			calls := 0
			var seen []string
			for _, op := range p.ByOpType() {
				seen = append(seen, op.OpType)
				for _, part := range strings.Split(op.OpType, "+") {
					switch part {
					case string(fam):
						calls += op.Calls
					case "Erf", "Exp", "Sigmoid", "Floor", "Gather", "Where", "Less", "Clip":
						t.Errorf("%s → %s: a function body's %s ran (%s)", model, fam, part, op.OpType)
					}
				}
			}
			if calls != len(rep.Replaced) {
				t.Errorf("%s → %s: %d kernel calls for %d replaced sites; profiled ops %v", model, fam, calls, len(rep.Replaced), seen)
			}
		}
	}
}
