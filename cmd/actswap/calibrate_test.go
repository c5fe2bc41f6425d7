package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/actswap/actswap/internal/testutil"
)

// executeCLI runs actswap's command tree in-process and returns what it printed. Afterwards it
// puts the command's flags back to their defaults, since cobra keeps parsed values between runs.
func executeCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	cmd, err := rootCmd.ExecuteC()
	rootCmd.SetArgs(nil)
	rootCmd.SetOut(nil)
	rootCmd.SetErr(nil)
	if cmd != nil {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				sv.Replace(nil)
			} else {
				f.Value.Set(f.DefValue)
			}
			f.Changed = false
		})
	}
	return out.String(), err
}

func bundled(t *testing.T, elem ...string) string {
	return filepath.Join(append([]string{testutil.RepoRoot(t), "models"}, elem...)...)
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := runDemo(&out, "", dir, "pwlu", false); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"/enc/layers.0/activation/Mul_1", "top-1 agreement", "accuracy         original 95.56%", "report.html"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	for _, f := range []string{"digits_vit_PWLU.onnx", "report.html"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("demo did not write %s: %v", f, err)
		}
	}
	if err := runDemo(&out, t.TempDir(), dir, "pwlu", false); err == nil {
		t.Error("demo with an empty models folder should fail")
	}
}

func TestRewriteCalibCompareAndRefit(t *testing.T) {
	dir := t.TempDir()
	model := bundled(t, "digits_cnn", "model.onnx")
	calib := bundled(t, "digits_data", "calib_x.npy")
	out := filepath.Join(dir, "cnn_pwlu.onnx")
	report := filepath.Join(dir, "report.json")
	page := filepath.Join(dir, "report.html")
	text, err := executeCLI(t, "rewrite", model, "--to", "pwlu", "--calib", calib, "-o", out, "--report", report, "--html", page, "--batch", "100")
	if err != nil {
		t.Fatalf("rewrite --calib: %v\n%s", err, text)
	}
	if !strings.Contains(text, "calibrated    3 site(s)") {
		t.Errorf("rewrite --calib output:\n%s", text)
	}
	var rep struct {
		Sites []struct {
			Node       string           `json:"node"`
			Family     string           `json:"family"`
			Parameters []map[string]any `json:"parameters"`
			Fit        struct {
				WRMSE  float64 `json:"wrmse"`
				MaxAbs float64 `json:"max_abs"`
			} `json:"fit_error"`
		} `json:"sites"`
		Compare struct {
			Top1 float64 `json:"top1_agreement"`
		} `json:"compare"`
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Sites) != 3 || rep.Sites[0].Family != "PWLU" || rep.Sites[0].Parameters[0]["heights"] == nil || rep.Compare.Top1 != 1 {
		t.Errorf("report: %s", b)
	}
	for _, s := range rep.Sites {
		if s.Fit.MaxAbs > 1e-9 {
			t.Errorf("ReLU site %s: fit error %g, want exact", s.Node, s.Fit.MaxAbs)
		}
	}
	if b, err := os.ReadFile(page); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("html report missing or without curves: %v", err)
	}

	text, err = executeCLI(t, "compare", model, out, "--data", bundled(t, "digits_data", "test_x.npy"), "--labels", bundled(t, "digits_data", "test_y.npy"), "--json")
	if err != nil {
		t.Fatalf("compare: %v\n%s", err, text)
	}
	var cmp struct {
		Outputs []struct {
			Name   string  `json:"name"`
			MaxAbs float64 `json:"max_abs_err"`
			RelL2  float64 `json:"rel_l2_err"`
		} `json:"outputs"`
		Top1     float64 `json:"top1_agreement"`
		Accuracy struct {
			Original  float64 `json:"original"`
			Rewritten float64 `json:"rewritten"`
		} `json:"accuracy"`
	}
	if err := json.Unmarshal([]byte(text), &cmp); err != nil {
		t.Fatalf("compare --json: %v\n%s", err, text)
	}
	if len(cmp.Outputs) != 1 || cmp.Outputs[0].MaxAbs > 1e-5 || cmp.Top1 != 1 || cmp.Accuracy.Original != cmp.Accuracy.Rewritten {
		t.Errorf("compare: %+v", cmp)
	}

	// Re-fit the calibrated model per channel: the original kinds come from its metadata.
	refit := filepath.Join(dir, "cnn_refit.onnx")
	text, err = executeCLI(t, "calibrate", out, "--data", calib, "-o", refit, "--per-channel")
	if err != nil {
		t.Fatalf("calibrate: %v\n%s", err, text)
	}
	if !strings.Contains(text, "relu") || !strings.Contains(text, "wrote") {
		t.Errorf("calibrate output:\n%s", text)
	}
	if _, err := executeCLI(t, "calibrate", out, "--data", calib, "-o", refit); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("overwriting without --force: %v", err)
	}
}

func TestCalibrationDataErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.npy")
	if err := os.WriteFile(bad, []byte("\x93NUMPY\x01\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrongShape := filepath.Join(dir, "wrong.npy")
	// A valid .npy of 3 rows × 5 values: it fits no digits model's input.
	header := "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }"
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	npy := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)+1), 0)
	npy = append(append(npy, header...), '\n')
	npy = append(npy, make([]byte, 60)...)
	if err := os.WriteFile(wrongShape, npy, 0o644); err != nil {
		t.Fatal(err)
	}
	model := bundled(t, "digits_mlp_gelu", "model.onnx")
	for _, c := range []struct {
		data  string
		wants []string
	}{
		{bad, []string{"bad.npy"}},
		{wrongShape, []string{"wrong.npy", "input"}},
		{dir + "/empty", []string{"empty"}},
	} {
		os.Mkdir(filepath.Join(dir, "empty"), 0o755)
		_, err := executeCLI(t, "rewrite", model, "--to", "pwlu", "--calib", c.data, "-o", filepath.Join(dir, "out.onnx"))
		if err == nil {
			t.Errorf("%s: no error", c.data)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", c.data, err)
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.data, err, w)
			}
		}
	}
}

func TestRewriteCalibNothingToDo(t *testing.T) {
	// digits_cnn has only ReLUs: asking for GELU sites selects nothing, exit status 3.
	_, err := executeCLI(t, "rewrite", bundled(t, "digits_cnn", "model.onnx"), "--match", "gelu", "--to", "pwlu",
		"--calib", bundled(t, "digits_data", "calib_x.npy"), "-o", filepath.Join(t.TempDir(), "out.onnx"))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitNothingToDo {
		t.Errorf("got %v, want exit status 3", err)
	}
}
