package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// Every output of rewrite, calibrate, run and demo follows one rule (internal/outfile): never an
// input, never another output, never an existing file without --force, checked before any work.
func TestOutputsNeverReplaceInputs(t *testing.T) {
	dir := t.TempDir()
	model := copyFile(t, bundled(t, "digits_cnn", "model.onnx"), filepath.Join(dir, "model.onnx"))
	calib := copyFile(t, bundled(t, "digits_data", "calib_x.npy"), filepath.Join(dir, "calib_x.npy"))
	modelBytes, calibBytes := readBytes(t, model), readBytes(t, calib)
	sym := filepath.Join(dir, "sym.onnx")
	hard := filepath.Join(dir, "hard.onnx")
	if err := os.Symlink(model, sym); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(model, hard); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "existing.json")
	if err := os.WriteFile(existing, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")
	calibrated := []string{"rewrite", model, "--calib", calib, "--batch", "100"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"--html is the input model", append(calibrated, "-o", out, "--html", model, "--force"), "--html " + model + ": refusing to overwrite"},
		{"--report is the calibration data", append(calibrated, "-o", out, "--report", calib, "--force"), "--report " + calib + ": refusing to overwrite"},
		{"--html equal to -o", append(calibrated, "-o", out, "--html", out), "the same file as -o"},
		{"--report equal to --html", append(calibrated, "-o", out, "--html", filepath.Join(dir, "r"), "--report", filepath.Join(dir, ".", "r")), "the same file as --report"},
		{"-o a symlink to the input", append(calibrated, "-o", sym, "--force"), "refusing to overwrite"},
		{"-o a hard link to the input", []string{"rewrite", model, "-o", hard, "--force"}, "refusing to overwrite"},
		{"--report existing without --force", append(calibrated, "-o", out, "--report", existing), "file exists; use --force"},
		{"calibrate --html is the input", []string{"calibrate", model, "--data", calib, "-o", out, "--html", hard, "--force"}, "refusing to overwrite"},
		{"calibrate --report existing", []string{"calibrate", model, "--data", calib, "-o", out, "--report", existing}, "file exists; use --force"},
	}
	for _, c := range cases {
		text, code := runBinary(t, c.args...)
		if code != exitFailure || !strings.Contains(text, c.want) {
			t.Errorf("%s: exit %d, want %d and %q:\n%s", c.name, code, exitFailure, c.want, text)
		}
		if strings.Contains(text, "calibrated") {
			t.Errorf("%s: the outputs were checked only after calibrating:\n%s", c.name, text)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%s: %s was written although the command was refused", c.name, out)
		}
	}
	unchanged(t, model, modelBytes)
	unchanged(t, calib, calibBytes)
	unchanged(t, existing, []byte("keep"))
	if entries, _ := os.ReadDir(dir); len(entries) != 5 {
		t.Errorf("the folder holds %d entries, want the 5 it started with", len(entries))
	}

	// With --force an existing output is replaced, atomically, and the run succeeds.
	text, code := runBinary(t, "rewrite", model, "-o", existing, "--force")
	if code != exitOK {
		t.Fatalf("rewrite -o EXISTING --force: exit %d\n%s", code, text)
	}
	if b := readBytes(t, existing); len(b) < 1000 {
		t.Errorf("--force did not replace %s with the model", existing)
	}
	text, code = runBinary(t, "rewrite", model, "-o", existing)
	if code != exitFailure || !strings.Contains(text, "use --force") {
		t.Errorf("rewrite -o EXISTING without --force: exit %d\n%s", code, text)
	}
}

// `run --data DIR --out DIR` must not replace the folder's reference outputs, and the difference it
// reports is against the reference as it was before the run.
func TestRunKeepsAndComparesReference(t *testing.T) {
	dir := t.TempDir()
	model := bundled(t, "digits_cnn", "model.onnx")
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	src := bundled(t, "digits_cnn", "test_data_set_0")
	copyFile(t, filepath.Join(src, "input_0.pb"), filepath.Join(data, "input_0.pb"))
	ref := filepath.Join(data, "output_0.pb")
	copyFile(t, filepath.Join(src, "output_0.pb"), ref)
	refBytes := readBytes(t, ref)

	for _, force := range []bool{false, true} {
		args := []string{"run", model, "--data", data, "--out", data}
		if force {
			args = append(args, "--force")
		}
		text, code := runBinary(t, args...)
		if code != exitFailure || !strings.Contains(text, "refusing to overwrite") {
			t.Errorf("run --out DATA (force %v): exit %d\n%s", force, code, text)
		}
		unchanged(t, ref, refBytes)
	}

	// Shift the reference by 0.5 in one element: the reported difference must be 0.5 (to within
	// the model's own error against onnxruntime), not 0.
	shifted := shiftFirstFloat(t, refBytes, 0.5)
	if err := os.WriteFile(ref, shifted, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	text, code := runBinary(t, "run", model, "--data", data, "--out", out)
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, text)
	}
	if !strings.Contains(text, "max |difference| 0.5\n") {
		t.Errorf("run did not report the true difference 0.5 against the reference:\n%s", text)
	}
	unchanged(t, ref, shifted)
	// A second run into the same folder needs --force.
	if text, code := runBinary(t, "run", model, "--data", data, "--out", out); code != exitFailure || !strings.Contains(text, "use --force") {
		t.Errorf("second run into %s: exit %d\n%s", out, code, text)
	}
	if text, code := runBinary(t, "run", model, "--data", data, "--out", out, "--force"); code != exitOK {
		t.Errorf("second run with --force: exit %d\n%s", code, text)
	}
}

// shiftFirstFloat returns a TensorProto file's bytes with delta added to the first float element.
func shiftFirstFloat(t *testing.T, file []byte, delta float32) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.pb")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	x, name, err := tensor.ReadProtoFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x.F32()[0] += delta
	if err := tensor.WriteProtoFile(path, x, name); err != nil {
		t.Fatal(err)
	}
	return readBytes(t, path)
}
