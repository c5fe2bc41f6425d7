package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without --calib, rewrite refuses the flags that only calibration uses instead of ignoring
// them, and flag values are checked whether or not --calib is given.
func TestRewriteRefusesFlagsThatDoNothing(t *testing.T) {
	dir := t.TempDir()
	model := bundled(t, "digits_cnn", "model.onnx")
	calib := bundled(t, "digits_data", "calib_x.npy")
	out := filepath.Join(dir, "out.onnx")
	plain := []string{"rewrite", model, "-o", out}
	cases := []struct {
		extra []string
		want  string
	}{
		{[]string{"--html", filepath.Join(dir, "r.html")}, "--html only applies with --calib"},
		{[]string{"--report", filepath.Join(dir, "r.json")}, "--report only applies with --calib"},
		{[]string{"--sequential"}, "--sequential only applies with --calib"},
		{[]string{"--per-channel"}, "--per-channel only applies with --calib"},
		{[]string{"--pwlu-points", "32"}, "--pwlu-points only applies with --calib"},
		{[]string{"--objective", "init"}, "--objective only applies with --calib"},
		{[]string{"--to", "auto"}, "--to auto chooses a family per site from data"},
		{[]string{"--objective", "best"}, "--objective: unknown objective"},
		{[]string{"--pwlu-points", "0"}, "--pwlu-points 0: want 1 to 256"},
		{[]string{"--pwlu-points", "100000000"}, "--pwlu-points 100000000: want 1 to 256"},
		{[]string{"--size", "7x"}, "--size"},
	}
	for _, c := range cases {
		args := append(append([]string{}, plain...), c.extra...)
		text, code := runBinary(t, args...)
		if code != exitFailure || !strings.Contains(text, c.want) {
			t.Errorf("rewrite %v: exit %d, want %d and %q:\n%s", c.extra, code, exitFailure, c.want, text)
		}
	}
	// The same values are refused with --calib, before any calibration.
	for _, extra := range [][]string{{"--pwlu-points", "100000000"}, {"--objective", "best"}, {"--batch", "0"}} {
		args := append([]string{"rewrite", model, "-o", out, "--calib", calib}, extra...)
		text, code := runBinary(t, args...)
		if code != exitFailure || !strings.Contains(text, extra[0]) || strings.Contains(text, "calibrated") {
			t.Errorf("rewrite --calib %v: exit %d\n%s", extra, code, text)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused rewrite wrote its output")
	}
}

// The exit statuses of exitcodes.go are the ones the binary returns and the ones its help names.
func TestExitStatuses(t *testing.T) {
	dir := t.TempDir()
	help, code := runBinary(t, "--help")
	if code != exitOK {
		t.Fatalf("--help: exit %d", code)
	}
	for _, c := range []int{exitOK, exitFailure, exitNothingToDo, exitQualityFailed, 2} {
		if !strings.Contains(help, fmt.Sprintf("\n  %d  ", c)) {
			t.Errorf("--help does not document exit status %d:\n%s", c, help)
		}
	}
	model := bundled(t, "digits_cnn", "model.onnx")
	rewritten := filepath.Join(dir, "crrelu.onnx")
	if text, code := runBinary(t, "rewrite", model, "-o", rewritten, "--to", "crrelu"); code != exitOK {
		t.Fatalf("rewrite: exit %d\n%s", code, text)
	}
	// The rewritten model has no ReLU left: nothing to replace, nothing written.
	again := filepath.Join(dir, "again.onnx")
	if text, code := runBinary(t, "rewrite", rewritten, "-o", again); code != exitNothingToDo {
		t.Errorf("rewrite of a model without sites: exit %d, want %d\n%s", code, exitNothingToDo, text)
	}
	if _, err := os.Stat(again); err == nil {
		t.Error("rewrite with nothing to replace wrote a model")
	}
	if text, code := runBinary(t, "rewrite", filepath.Join(dir, "missing.onnx"), "-o", again); code != exitFailure {
		t.Errorf("rewrite of a missing model: exit %d, want %d\n%s", code, exitFailure, text)
	}
	if text, code := runBinary(t, "rewrite", model, "--no-such-flag"); code != exitFailure {
		t.Errorf("unknown flag: exit %d, want %d\n%s", code, exitFailure, text)
	}
}

// Each newRootCmd tree starts from the flag defaults: values parsed by one tree never leak into
// the next, so tests need not reset flags. serve, loadgen and export-torch were once built once,
// from init, and shared by every tree.
func TestRootCmdTreesAreFresh(t *testing.T) {
	for _, c := range []struct {
		command, flag, value, def string
	}{
		{"rewrite", "to", "crrelu", "pwlu"},
		{"serve", "memory-budget", "4096", "1073741824"},
		{"loadgen", "concurrency", "3", "64"},
		{"export-torch", "output", "dir", ""},
	} {
		first := newRootCmd()
		first.SetArgs([]string{c.command, "--" + c.flag, c.value, "--help"})
		first.SetOut(&strings.Builder{})
		if err := first.Execute(); err != nil {
			t.Fatal(err)
		}
		parsed, _, err := first.Find([]string{c.command})
		if err != nil || parsed.Flag(c.flag).Value.String() != c.value {
			t.Fatalf("the first tree did not parse %s --%s %s: %v", c.command, c.flag, c.value, err)
		}
		fresh, _, err := newRootCmd().Find([]string{c.command})
		if err != nil {
			t.Fatal(err)
		}
		if fresh == parsed {
			t.Errorf("%s: two trees share one command", c.command)
		}
		if got := fresh.Flag(c.flag).Value.String(); got != c.def || fresh.Flag(c.flag).Changed {
			t.Errorf("a new tree's %s --%s is %q (changed %v), want the default %q", c.command, c.flag, got, fresh.Flag(c.flag).Changed, c.def)
		}
	}
}

// Count flags below their minimum are refused, not read as a default, an empty result or a crash
// (bench --top -1 --profile panicked; --rounds 0 printed a ratio of 0 over 0 rounds).
func TestCountFlagsRefused(t *testing.T) {
	model := bundled(t, "digits_cnn", "model.onnx")
	data := bundled(t, "digits_data", "test_x.npy")
	out := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", model, "--profile", "--top", "-1"}, "--top -1: want at least 1"},
		{[]string{"bench", model, "--against", model, "--rounds", "0"}, "--rounds 0: want at least 1"},
		{[]string{"bench", model, "--warmup", "-1"}, "--warmup -1: want at least 0"},
		{[]string{"bench", model, "--threads", "-2"}, "--threads -2: want at least 0"},
		{[]string{"run", model, "--data", data, "--out", out, "--threads", "-3"}, "--threads -3: want at least 0"},
		{[]string{"run", model, "--data", data, "--out", out, "--batch-size", "0"}, "--batch-size 0: want at least 1"},
		{[]string{"compare", model, model, "--data", data, "--batch", "0"}, "--batch 0: want at least 1"},
		{[]string{"calibrate", model, "--data", data, "-o", out, "--threads", "-1"}, "--threads -1: want at least 0"},
	} {
		text, code := runBinary(t, c.args...)
		if code != exitFailure || !strings.Contains(text, c.want) {
			t.Errorf("%v: exit %d, want %d and %q:\n%s", c.args, code, exitFailure, c.want, text)
		}
	}
}
