package plugintest

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/internal/ortc"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// buildPlugin builds libactswap_ort.so once per test binary (or takes ACTSWAP_ORT_PLUGIN); the
// test's working directory is ortplugin/plugintest, two levels below the module root.
var buildPlugin = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("ACTSWAP_ORT_PLUGIN"); p != "" {
		return p, nil
	}
	dir, err := os.MkdirTemp("", "actswap-plugin")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "libactswap_ort.so")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", path, "./ortplugin")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the plugin: %v\n%s", err, out)
	}
	return path, nil
})

// setup loads onnxruntime and builds the plugin once per test binary, or skips.
func setup(t *testing.T) (*ortc.Lib, string) {
	t.Helper()
	libPath, err := ortc.LibPath()
	if err != nil {
		testutil.SkipMissing(t, "onnxruntime not available: "+err.Error())
	}
	lib, err := ortc.Open(libPath)
	if err != nil {
		testutil.SkipMissing(t, "onnxruntime not loadable through the C API: "+err.Error())
	}
	pluginPath, err := buildPlugin()
	if err != nil {
		t.Fatal(err)
	}
	return lib, pluginPath
}

func save(t *testing.T, m *onnx.ModelProto, name string) string {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// compare checks every output of got against want within tol·max(1,|want|); NaN only matches NaN.
func compare(t *testing.T, label string, got, want map[string]*tensor.Tensor, tol float64) {
	t.Helper()
	for name, w := range want {
		g := got[name]
		if g == nil {
			t.Errorf("%s: output %q missing", label, name)
			continue
		}
		gv, ok1 := tensor.Float64s(g)
		wv, ok2 := tensor.Float64s(w)
		if !ok1 || !ok2 || len(gv) != len(wv) {
			t.Errorf("%s: output %q: %v against %v", label, name, g, w)
			continue
		}
		bad, worst := 0, 0.0
		for i := range wv {
			d := math.Abs(gv[i]-wv[i]) / max(1, math.Abs(wv[i]))
			if math.IsNaN(gv[i]) != math.IsNaN(wv[i]) || d > tol {
				bad++
			}
			if !math.IsNaN(d) {
				worst = max(worst, d)
			}
		}
		if bad > 0 {
			t.Errorf("%s: output %q: %d of %d values differ by more than %g·max(1,|y|) (worst %.3g)", label, name, bad, len(wv), tol, worst)
		}
	}
}

type variant struct {
	name string
	make func(t *testing.T, m *onnx.ModelProto, dataDir string, fam onnxops.Family) (*onnx.ModelProto, int)
}

func uncalibrated(t *testing.T, m *onnx.ModelProto, _ string, fam onnxops.Family) (*onnx.ModelProto, int) {
	out, rep, err := rewrite.Apply(m, rewrite.Options{To: fam})
	if err != nil {
		t.Fatal(err)
	}
	return out, len(rep.Replaced)
}

// calibrated fits the model on its own test input: one parameter set per channel (along axis 1,
// so a bias along the last axis stays an Add), or one per site, which then absorbs the bias in
// front of it (per channel along that bias's axis).
func calibrated(perChannel bool) func(t *testing.T, m *onnx.ModelProto, dataDir string, fam onnxops.Family) (*onnx.ModelProto, int) {
	return func(t *testing.T, m *onnx.ModelProto, dataDir string, fam onnxops.Family) (*onnx.ModelProto, int) {
		s, err := runtime.NewSession(m)
		if err != nil {
			t.Fatal(err)
		}
		r, err := calibrate.OpenData(dataDir, calibrate.SpecsFromSession(s), calibrate.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := calibrate.Calibrate(m, r, calibrate.Options{To: fam, PerChannel: perChannel})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rep := range res.Rewrite {
			n += len(rep.Replaced)
		}
		return res.Model, n
	}
}

// TestPluginMatchesFunctionBodiesAndActswap runs every shared model and the generated BERT- and
// GPT-2-style models (transformers_test.go) rewritten to every family,
// with default parameters and with calibrated ones (per channel, and per site: those absorb the
// bias in front of a site and become per channel along the last axis), three ways: in
// onnxruntime with the plugin, in onnxruntime on the function bodies, and in actswap's runtime.
// The plugin's call counter must grow by one per replaced node per run: onnxruntime took the
// kernel, not the function body the model also carries.
func TestPluginMatchesFunctionBodiesAndActswap(t *testing.T) {
	lib, plugin := setup(t)
	calls, err := ortc.Int64Func(plugin, "ActswapKernelCalls")
	if err != nil {
		t.Fatal(err)
	}
	models := testutil.SharedPath(t, "models")
	entries, err := os.ReadDir(models)
	if err != nil {
		t.Fatal(err)
	}
	variants := []variant{{"defaults", uncalibrated}, {"calibrated per-channel", calibrated(true)}, {"calibrated per-site", calibrated(false)}}
	var dirs []string
	for _, e := range entries {
		dirs = append(dirs, filepath.Join(models, e.Name()))
	}
	generated := transformerModels(t)
	dirs = append(dirs, filepath.Join(generated, "bert_tiny"), filepath.Join(generated, "gpt2_tiny"))
	for _, dir := range dirs {
		name := filepath.Base(dir)
		dataDir := filepath.Join(dir, "test_data_set_0")
		if _, err := os.Stat(dataDir); err != nil {
			continue
		}
		orig, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range onnxops.Families {
			for _, v := range variants {
				if v.name != "defaults" && !strings.HasPrefix(name, "digits") &&
					(os.Getenv("ACTSWAP_PLUGIN_ALL") == "" || fam == onnxops.FamilyZorro) {
					// Calibrating the large models takes minutes (.ci/plugin.sh asks for PWLU and
					// CRReLU); Zorro's per-channel Levenberg–Marquardt fits on them take longer
					// than CI allows, and its per-channel kernel is covered by the digits models.
					continue
				}
				label := fmt.Sprintf("%s → %s (%s)", name, fam, v.name)
				t.Run(label, func(t *testing.T) {
					m, replaced := v.make(t, orig, dataDir, fam)
					if replaced == 0 {
						t.Skip("no site replaced")
					}
					path := save(t, m, "rewritten.onnx")
					ours, err := runtime.NewSession(m, runtime.WithThreads(1))
					if err != nil {
						t.Fatal(err)
					}
					in, err := ours.ReadDataSetInputs(dataDir)
					if err != nil {
						t.Fatal(err)
					}
					want, err := ours.Run(in)
					if err != nil {
						t.Fatal(err)
					}
					withPlugin, err := lib.NewSession(path, ortc.Options{IntraOpThreads: 1, CustomOpsLibrary: plugin})
					if err != nil {
						t.Fatal(err)
					}
					defer withPlugin.Close()
					bodies, err := lib.NewSession(path, ortc.Options{IntraOpThreads: 1})
					if err != nil {
						t.Fatal(err)
					}
					defer bodies.Close()
					before := calls()
					got, err := withPlugin.Run(in)
					if err != nil {
						t.Fatal(err)
					}
					if n := calls() - before; n != int64(replaced) {
						t.Errorf("plugin kernel ran %d times for %d replaced nodes", n, replaced)
					}
					ref, err := bodies.Run(in)
					if err != nil {
						t.Fatal(err)
					}
					compare(t, label+": plugin vs function bodies", got, ref, 1e-5)
					compare(t, label+": plugin vs actswap", got, want, 1e-5)
				})
			}
		}
	}
}
