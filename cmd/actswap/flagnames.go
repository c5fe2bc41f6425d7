package main

import (
	"strings"

	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/internal/outfile"
)

// flagWording turns the names library messages use for what a Go caller sets (Options fields,
// arguments) into the flags a CLI user sets. The libraries cannot name flags: their users may have
// none. strings.Replacer tries the pairs in order at each position, so a phrase comes before the
// bare name it contains. Names are matched whole (with what follows them) so that, e.g.,
// "Options.To " never rewrites an unrelated "Options.Tolerance".
var flagWording = strings.NewReplacer(
	// serve.New
	"give New a ModelSpec or Options.Repository", "give --model NAME=PATH or --repo DIR",
	"both given to New and", "both given with --model and",
	"(Options.Repository)", "(--repo)",
	// calibrate
	"Options.Sequential", "--sequential",
	"give separate held-out data (Options.HeldOut)", "give --val DATA",
	"use Options.To ", "use --to ",
	"Options.To auto", "--to auto",
	"ReaderOptions.Size", "--size",
	"from the original model (Calibrate)", "from the original model (rewrite --calib)",
	"Options.KeepBias", "--keep-bias",
	// rewrite, torchexport
	"rewrite.Options.Exclude matching", "--exclude",
	"Options.Exclude", "--exclude",
	"Options.Nodes", "--nodes",
	"set Write's force argument", "give --force",
	"Write's force argument", "--force",
	// internal/outfile, internal/loadgen, bench
	"Rule.Force", "--force",
	"Options.URL", "--url",
	"strings cannot be made up; give real inputs", "strings cannot be made up; give --data",
)

// flagNamedError is a library error reworded for the command line; the chain underneath is kept,
// so errors.As still finds an exit status.
type flagNamedError struct {
	err error
	msg string
}

func (e *flagNamedError) Error() string { return e.msg }
func (e *flagNamedError) Unwrap() error { return e.err }

// withFlagNames rewords err for a CLI user; nil stays nil and an error with nothing to reword is
// returned as it is.
func withFlagNames(err error) error {
	if err == nil {
		return nil
	}
	msg := flagWording.Replace(err.Error())
	if msg == err.Error() {
		return err
	}
	return &flagNamedError{err: err, msg: msg}
}

// reportWithFlagNames rewords the warnings a calibration report prints and writes; the result's
// own Validation is left as the library made it.
func reportWithFlagNames(rep calibrate.Report) calibrate.Report {
	if rep.Validation == nil || len(rep.Validation.Warnings) == 0 {
		return rep
	}
	v := *rep.Validation
	v.Warnings = make([]string, len(rep.Validation.Warnings))
	for i, w := range rep.Validation.Warnings {
		v.Warnings[i] = flagWording.Replace(w)
	}
	rep.Validation = &v
	return rep
}

// checkOutputs is rule.Check worded for the command line (--force, not Rule.Force); commands'
// helpers call it directly, not only through the root command.
func checkOutputs(rule outfile.Rule, outputs ...outfile.Output) error {
	return withFlagNames(rule.Check(outputs...))
}
