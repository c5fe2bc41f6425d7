package runtime

import (
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
)

// TestOptimizedModelsAgree runs each shared model optimized and unoptimized on its stored input:
// the outputs must agree within 1e-4, and each pass must fire as often as the model's structure
// says (vit_tiny: 12 GELU chains whose MLP MatMul+Add they fold into).
func TestOptimizedModelsAgree(t *testing.T) {
	cases := []struct {
		model string
		want  map[string]int
		some  []string // passes that must fire, how often depends on what folding leaves
	}{
		{"digits_cnn", map[string]int{"identity_removal": 0, "batchnorm_folding": 0, "gelu_fusion": 0,
			"matmul_bias_fusion": 0, "activation_fusion": 3}, nil},
		{"digits_vit", map[string]int{"gelu_fusion": 2, "activation_fusion": 2, "matmul_bias_fusion": 6, "layernorm_kernel": 5}, []string{"shape_caching"}},
		{"digits_vit_tanh", map[string]int{"gelu_fusion": 2, "activation_fusion": 2}, []string{"shape_caching"}},
		{"digits_mlp_gelu", map[string]int{"gelu_fusion": 2, "activation_fusion": 2}, nil},
		// resnet18 was exported with BatchNorm already folded and its Identity nodes only pass
		// initializers (folded as constants): 9 Conv→Relu, 8 residual Add→Relu.
		{"resnet18", map[string]int{"identity_removal": 0, "batchnorm_folding": 0, "gelu_fusion": 0,
			"activation_fusion": 9, "add_activation_fusion": 8}, nil},
		// 12 blocks × (qkv, proj, fc1, fc2) Linear layers; the fc1 GELU goes into its epilogue.
		{"vit_tiny", map[string]int{"gelu_fusion": 12, "activation_fusion": 12, "matmul_bias_fusion": 48, "layernorm_kernel": 25}, []string{"shape_caching"}},
	}
	root := filepath.Join(testutil.RepoRoot(t), "..", "shared", "models")
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			dir := filepath.Join(root, c.model)
			if !fileExists(filepath.Join(dir, "model.onnx")) {
				testutil.SkipMissing(t, dir+" is absent")
			}
			if (testing.Short() || testutil.RaceEnabled) && heavyModels[c.model] {
				t.Skip("large model; skipped in -short mode and under -race")
			}
			m, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			opt, err := NewSession(m)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := NewSession(m, WithoutOptimizations())
			if err != nil {
				t.Fatal(err)
			}
			got := opt.Optimizations()
			t.Logf("optimizations: %v", got)
			for name, n := range c.want {
				if got[name] != n {
					t.Errorf("pass %s fired %d times, want %d", name, got[name], n)
				}
			}
			for _, name := range c.some {
				if got[name] == 0 {
					t.Errorf("pass %s never fired", name)
				}
			}
			if len(plain.Optimizations()) != 0 {
				t.Errorf("WithoutOptimizations session reports %v", plain.Optimizations())
			}
			inputs, err := opt.ReadDataSetInputs(filepath.Join(dir, "test_data_set_0"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := opt.Run(inputs)
			if err != nil {
				t.Fatal(err)
			}
			b, err := plain.Run(inputs)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range opt.Outputs() {
				if msg := compareValues(a[o.Name], b[o.Name], 1e-4, 1e-4); msg != "" {
					t.Errorf("output %q: optimized vs unoptimized: %s", o.Name, msg)
				}
			}
		})
	}
}
