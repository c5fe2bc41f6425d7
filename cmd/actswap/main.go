// Command actswap rewrites ReLU/GELU activations in ONNX models to Zorro, PWLU or CRReLU,
// calibrates them from sample data, and runs and serves models with its own pure-Go runtime.
//
// Each subcommand lives in its own file and only parses flags, calls the packages and prints.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "0.1.0-dev"

// newRootCmd builds the command tree afresh. Every command keeps its flag values in its own
// constructor's variables, so each tree starts from the defaults: main builds one, and each test
// builds its own instead of resetting flags by hand.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "actswap",
		Short: "Swap ReLU/GELU in ONNX models for Zorro, PWLU or CRReLU, calibrate, run and serve them",
		Long: `actswap swaps the ReLU/GELU activations of ONNX models for Zorro, PWLU or CRReLU, calibrates
them, compares the result with the original, and runs and serves models with its own runtime.

No command overwrites an existing file without --force, and none ever writes over one of its own
inputs (also through a symlink or hard link); every output is checked before work starts and
written atomically.

Exit status:
  0  success
  1  error: bad input, bad flags or an I/O error; nothing (or nothing complete) written
  3  nothing to replace: rewrite/calibrate found no site; nothing written
  4  a quality check failed (--max-rel-l2 or --min-agreement missed; compare: NaN or Inf
     where the original is finite, or nothing comparable); what was asked for is still
     printed or written
  2  is never an actswap outcome: the Go runtime exits 2 when a program crashes (a panic, or
     running out of memory)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInspectCmd(), newRewriteCmd(), newCalibrateCmd(), newCompareCmd(), newRunCmd(),
		newBenchCmd(), newDemoCmd(), newServeCmd(), newLoadgenCmd(), newExportTorchCmd(), newVersionCmd())
	for _, c := range root.Commands() {
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error { return withFlagNames(run(cmd, args)) }
		}
	}
	return root
}

// countFlag is an integer flag and the least value it accepts.
type countFlag struct {
	name       string
	value, min int
}

// checkCounts refuses count flags below their minimum: such values would otherwise silently
// mean a default, print a result of nothing, or crash.
func checkCounts(flags ...countFlag) error {
	for _, f := range flags {
		if f.value < f.min {
			return fmt.Errorf("--%s %d: want at least %d", f.name, f.value, f.min)
		}
	}
	return nil
}

// exitError carries a specific exit status (see exitcodes.go) out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "actswap:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}
