package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// executeCLI runs a fresh actswap command tree in-process and returns what it printed.
func executeCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// readJSON decodes a JSON file into v and returns its bytes, for messages.
func readJSON(t *testing.T, path string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
	return b
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
		Validation struct {
			InSample struct {
				Top1 float64 `json:"top1_agreement"`
				Rows int     `json:"rows"`
			} `json:"in_sample"`
			HeldOut struct {
				Top1 float64 `json:"top1_agreement"`
				Rows int     `json:"rows"`
			} `json:"held_out"`
		} `json:"validation"`
	}
	b := readJSON(t, report, &rep)
	if len(rep.Sites) != 3 || rep.Sites[0].Family != "PWLU" || rep.Sites[0].Parameters[0]["heights"] == nil ||
		rep.Validation.InSample.Top1 != 1 || rep.Validation.HeldOut.Top1 != 1 || rep.Validation.InSample.Rows != 192 || rep.Validation.HeldOut.Rows != 64 {
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

// TestQualityGateCRReLUOnGELU is the acceptance check of the quality gate: CRReLU cannot follow
// GELU (ε ≈ 0 is plain ReLU), so a rel-L2 limit that PWLU meets fails with exit status 4; the
// model and the report are still written, the report names the failed check, and the output
// warns per site and end to end, naming a family that would do.
func TestQualityGateCRReLUOnGELU(t *testing.T) {
	dir := t.TempDir()
	model := bundled(t, "digits_mlp_gelu", "model.onnx")
	calib := bundled(t, "digits_data", "calib_x.npy")
	gated := func(to string) (string, string, string, error) {
		out := filepath.Join(dir, to+".onnx")
		report := filepath.Join(dir, to+".json")
		text, err := executeCLI(t, "rewrite", model, "--to", to, "--calib", calib, "-o", out, "--report", report,
			"--max-rel-l2", "0.02", "--min-agreement", "output=0.95")
		return out, report, text, err
	}
	out, report, text, err := gated("crrelu")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitQualityFailed || !strings.Contains(err.Error(), "rel_l2_err") {
		t.Fatalf("crrelu on GELU with --max-rel-l2 0.02: got %v, want exit status %d naming rel_l2_err\n%s", err, exitQualityFailed, text)
	}
	for _, want := range []string{"CRReLU cannot follow gelu", "use --to", "pwlu", "held out", "in sample", "FAILED"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the model must be written when the gate fails: %v", err)
	}
	var rep struct {
		Gate []struct {
			Metric string `json:"metric"`
			Passed bool   `json:"passed"`
			On     string `json:"on"`
		} `json:"gate"`
		Validation struct {
			HeldOut  *struct{ Rows int } `json:"held_out"`
			Warnings []string            `json:"warnings"`
		} `json:"validation"`
	}
	b := readJSON(t, report, &rep)
	if len(rep.Gate) != 2 || rep.Gate[0].Metric != "rel_l2_err" || rep.Gate[0].Passed || rep.Gate[0].On != "held_out" || !rep.Gate[1].Passed {
		t.Errorf("report's gate: %+v", rep.Gate)
	}
	if rep.Validation.HeldOut == nil || rep.Validation.HeldOut.Rows != 64 || len(rep.Validation.Warnings) == 0 {
		t.Errorf("report's validation: %s", b)
	}
	// PWLU follows GELU: the same gate passes, no warning.
	if _, _, text, err := gated("pwlu"); err != nil || strings.Contains(text, "WARNING") {
		t.Errorf("pwlu: %v\n%s", err, text)
	}
	// compare applies the same gate to the rows the model was not fitted on, with status 4.
	_, err = executeCLI(t, "compare", model, out, "--data", calib, "--max-rel-l2", "0.02")
	if !errors.As(err, &ee) || ee.code != exitQualityFailed {
		t.Errorf("compare with a missed gate: got %v, want exit status %d", err, exitQualityFailed)
	}
	if _, err := executeCLI(t, "compare", model, out, "--data", calib, "--max-rel-l2", "logits=0.02"); err == nil || !strings.Contains(err.Error(), `"logits"`) {
		t.Errorf("a gate on an output the model lacks must be refused: %v", err)
	}
}

// TestCompareLabelsRows checks that compare tells the rows a model was fitted on from held-out
// rows: on its calibration file it splits as calibration did, on other data every row is held out.
func TestCompareLabelsRows(t *testing.T) {
	dir := t.TempDir()
	model := bundled(t, "digits_mlp_gelu", "model.onnx")
	calib := bundled(t, "digits_data", "calib_x.npy")
	out := filepath.Join(dir, "pwlu.onnx")
	if text, err := executeCLI(t, "rewrite", model, "--to", "pwlu", "--calib", calib, "-o", out, "--holdout", "0.5"); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	type side struct {
		Rows int `json:"rows"`
	}
	var got struct {
		Rows     int   `json:"rows"`
		InSample *side `json:"in_sample"`
		HeldOut  *side `json:"held_out"`
	}
	for _, c := range []struct {
		data          string
		in, held, all int
	}{{calib, 128, 128, 256}, {bundled(t, "digits_data", "test_x.npy"), 0, 360, 360}} {
		got.InSample, got.HeldOut = nil, nil
		text, err := executeCLI(t, "compare", model, out, "--data", c.data, "--json")
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		if err := json.Unmarshal([]byte(text), &got); err != nil {
			t.Fatal(err)
		}
		in := 0
		if got.InSample != nil {
			in = got.InSample.Rows
		}
		if got.Rows != c.all || in != c.in || got.HeldOut == nil || got.HeldOut.Rows != c.held {
			t.Errorf("%s: %s", c.data, text)
		}
	}
}

// TestUncalibratedRewriteSaysSo: defaults for GELU assume N(0,1) inputs, and the output says so;
// ReLU defaults are exact whatever the inputs, and it does not.
func TestUncalibratedRewriteSaysSo(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		model string
		note  bool
	}{{"digits_mlp_gelu", true}, {"digits_cnn", false}} {
		text, err := executeCLI(t, "rewrite", bundled(t, c.model, "model.onnx"), "--to", "pwlu", "-o", filepath.Join(dir, c.model+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(text, "N(0, 1)") != c.note {
			t.Errorf("%s: notice shown %v, want %v:\n%s", c.model, !c.note, c.note, text)
		}
		// compare reads the notice from the model.
		text, err = executeCLI(t, "compare", bundled(t, c.model, "model.onnx"), filepath.Join(dir, c.model+".onnx"), "--data", bundled(t, "digits_data", "test_x.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(text, "N(0, 1)") != c.note {
			t.Errorf("compare %s: notice shown %v, want %v:\n%s", c.model, !c.note, c.note, text)
		}
	}
}
