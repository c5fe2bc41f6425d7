package torchexport

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// torchPython finds a Python that imports torch: $ACTSWAP_TORCH_PYTHON, else Debian's
// /usr/bin/python3 (python3-torch), else python3 on PATH. It skips the test, saying why, when
// none does.
func torchPython(t *testing.T) string {
	t.Helper()
	var candidates []string
	if p := os.Getenv("ACTSWAP_TORCH_PYTHON"); p != "" {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3", "python3")
	for _, p := range candidates {
		if out, err := exec.Command(p, "-c", "import torch, numpy; print(torch.__version__)").Output(); err == nil {
			t.Logf("PyTorch %s (%s)", strings.TrimSpace(string(out)), p)
			return p
		}
	}
	t.Skip("no Python with torch and numpy (apt-get install python3-torch, or set ACTSWAP_TORCH_PYTHON); the PyTorch round trip is not checked")
	return ""
}

func runPython(t *testing.T, python string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(python, append([]string{filepath.Join("testdata", "torch_roundtrip.py")}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONWARNINGS=ignore", "OMP_NUM_THREADS=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", python, args, err, stderr.String())
	}
	return out
}

type roundTrip struct {
	Sites      int             `json:"sites"`
	Modules    []string        `json:"modules"`
	MaxErr     float64         `json:"max_err"`
	NaN        bool            `json:"nan"`
	Gradcheck  map[string]bool `json:"gradcheck"`
	LossBefore float64         `json:"loss_before"`
	LossAfter  float64         `json:"loss_after"`
}

// TestTorchRoundTrip builds small models in PyTorch (MLP and ViT with GELU, CNN with ReLU),
// exports them with that PyTorch's ONNX exporter, rewrites and calibrates them here, exports the
// sites back, swaps them into the PyTorch models and checks: outputs equal actswap's within
// 1e-5·max(1,|y|) (OPS.md's bound), every swapped module's gradients match finite differences,
// and a few fine-tuning steps lower a distillation loss against the original model.
func TestTorchRoundTrip(t *testing.T) {
	python := torchPython(t)
	dir := t.TempDir()
	runPython(t, python, "build", dir)
	cases := []struct {
		model      string
		to         onnxops.Family
		perChannel bool
		finetune   bool // calibrated PWLU already matches within ~1e-7: no loss left to lower
	}{
		{"mlp_gelu", onnxops.FamilyPWLU, true, false},
		{"mlp_gelu", onnxops.FamilyCRReLU, false, true},
		{"vit_gelu", onnxops.FamilyZorro, false, true},
		{"vit_gelu", onnxops.FamilyPWLU, false, false},
		{"cnn_relu", onnxops.FamilyPWLU, true, false},
		{"cnn_relu", onnxops.FamilyZorro, false, false},
	}
	for _, c := range cases {
		name := c.model + "_" + strings.ToLower(string(c.to))
		if c.perChannel {
			name += "_per_channel"
		}
		t.Run(name, func(t *testing.T) {
			modelDir := filepath.Join(dir, c.model)
			calibrated := calibrateModel(t, modelDir, c.to, c.perChannel)
			actswapOut := filepath.Join(dir, name+".npy")
			runModel(t, calibrated, filepath.Join(modelDir, "test.npy"), actswapOut)
			exportDir := filepath.Join(dir, name)
			sites, err := Write(exportDir, calibrated, "test", false)
			if err != nil {
				t.Fatal(err)
			}
			var got roundTrip
			out := runPython(t, python, "check", modelDir, exportDir, c.model, actswapOut)
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("check printed %q: %v", out, err)
			}
			t.Logf("%+v", got)
			if got.Sites != len(sites) {
				t.Errorf("swapped %d sites, the export has %d", got.Sites, len(sites))
			}
			if len(got.Modules) != 1 || got.Modules[0] != string(c.to) {
				t.Errorf("swapped modules %v, want %s", got.Modules, c.to)
			}
			if got.NaN || !(got.MaxErr <= 1e-5) {
				t.Errorf("PyTorch outputs differ from actswap's by %.3g·max(1,|y|) (nan: %v), want ≤ 1e-5", got.MaxErr, got.NaN)
			}
			if len(got.Gradcheck) != len(sites) {
				t.Errorf("gradients checked for %d modules, want %d", len(got.Gradcheck), len(sites))
			}
			for path, ok := range got.Gradcheck {
				if !ok {
					t.Errorf("%s: gradients differ from finite differences", path)
				}
			}
			if c.finetune && !(got.LossAfter < got.LossBefore) {
				t.Errorf("fine-tuning took the distillation loss from %.3g to %.3g, want it lower", got.LossBefore, got.LossAfter)
			}
		})
	}
	t.Run("refuses_unresolved_sites", func(t *testing.T) {
		modelDir := filepath.Join(dir, "functional")
		calibrated := calibrateModel(t, modelDir, onnxops.FamilyPWLU, false)
		exportDir := filepath.Join(dir, "functional_export")
		if _, err := Write(exportDir, calibrated, "test", false); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Refused   bool   `json:"refused"`
			Message   string `json:"message"`
			Unchanged bool   `json:"unchanged"`
		}
		if err := json.Unmarshal(runPython(t, python, "refuse", modelDir, exportDir), &got); err != nil {
			t.Fatal(err)
		}
		t.Logf("swap refused:\n%s", got.Message)
		if !got.Refused || !got.Unchanged {
			t.Fatalf("swap into a model with functional activations: refused %v, model unchanged %v; want both", got.Refused, got.Unchanged)
		}
		for _, want := range []string{
			"cannot swap 3 of 4 sites",
			`'/block/Mul_1/actswap_pwlu'`, "'block' is a LinearGelu with parameters or submodules",
			`'/relu_1/Relu/actswap_pwlu'`, "does not resolve", "call 2 of module 'relu'",
			`'/Relu/actswap_pwlu'`, "no module scope",
		} {
			if !strings.Contains(got.Message, want) {
				t.Errorf("refusal does not say %q", want)
			}
		}
	})
}

// calibrateModel rewrites dir/model.onnx to fam with parameters fitted on dir/calib.npy.
func calibrateModel(t *testing.T, dir string, fam onnxops.Family, perChannel bool) *onnx.ModelProto {
	t.Helper()
	m, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	data, err := calibrate.OpenData(filepath.Join(dir, "calib.npy"), calibrate.SpecsFromSession(s), calibrate.ReaderOptions{Batch: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	res, err := calibrate.Calibrate(m, data, calibrate.Options{To: fam, PerChannel: perChannel})
	if err != nil {
		t.Fatal(err)
	}
	return res.Model
}

// runModel runs m with actswap's runtime on the rows of in and writes its output y to out.
func runModel(t *testing.T, m *onnx.ModelProto, in, out string) {
	t.Helper()
	s, err := runtime.NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.ReadNpy(in)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if err := tensor.WriteNpy(out, res["y"]); err != nil {
		t.Fatal(err)
	}
}
