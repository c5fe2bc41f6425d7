package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/actswap/actswap/calibrate"
)

// TestFlagNamesRewordLibraryErrors: the Go names in library messages become the flags a CLI user
// sets, an exit status survives the rewording, and names that merely start like a mapped one are
// left alone.
func TestFlagNamesRewordLibraryErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"out.onnx: file exists; use Rule.Force to overwrite it", "out.onnx: file exists; use --force to overwrite it"},
		{`node "a" matches Options.Exclude "^a"`, `node "a" matches --exclude "^a"`},
		{"x: set Write's force argument to replace it", "x: give --force to replace it"},
		{"rewrite with rewrite.Options.Exclude matching '^(If) '", "rewrite with --exclude '^(If) '"},
		{"no models to serve: give New a ModelSpec or Options.Repository", "no models to serve: give --model NAME=PATH or --repo DIR"},
		{"use Options.To pwlu (or Options.To auto, which picks per site)", "use --to pwlu (or --to auto, which picks per site)"},
		{"Options.Tolerance 3: want below 1", "Options.Tolerance 3: want below 1"},
	} {
		if got := withFlagNames(errors.New(c.in)).Error(); got != c.want {
			t.Errorf("%q reworded to %q, want %q", c.in, got, c.want)
		}
	}
	inner := &exitError{code: exitQualityFailed, err: errors.New("Options.Sequential refines sites of the main graph only")}
	err := withFlagNames(fmt.Errorf("calibrate: %w", inner))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitQualityFailed || !strings.HasPrefix(err.Error(), "calibrate: --sequential refines") {
		t.Errorf("reworded %v lost its exit status or its wording", err)
	}
	if withFlagNames(nil) != nil {
		t.Error("nil error reworded to non-nil")
	}
	rep := calibrate.Report{Validation: &calibrate.Validation{Warnings: []string{"give separate held-out data (Options.HeldOut)"}}}
	if got := reportWithFlagNames(rep).Validation.Warnings[0]; got != "give --val DATA" {
		t.Errorf("report warning reworded to %q", got)
	}
	if rep.Validation.Warnings[0] != "give separate held-out data (Options.HeldOut)" {
		t.Error("rewording the report changed the library's result")
	}
}

// TestCommandsRewordLibraryErrors: an error that serve.New words for Go callers reaches the CLI
// user through the root command with the flags to set, and a bad --model value names the flag.
func TestCommandsRewordLibraryErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--addr", "127.0.0.1:0", "--grpc-addr", ""}, "give --model NAME=PATH or --repo DIR"},
		{[]string{"serve", "--model", "nopath", "--addr", "127.0.0.1:0", "--grpc-addr", ""}, `--model: model spec "nopath": want NAME=PATH`},
	} {
		if _, err := executeCLI(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("actswap %v: %v, want %q", c.args, err, c.want)
		}
	}
}
