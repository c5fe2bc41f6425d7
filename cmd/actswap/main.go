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

var rootCmd = &cobra.Command{
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
  4  a quality check failed (compare: NaN or Inf where the original is finite, or nothing
     comparable); what was asked for is still printed or written
  2  is never an actswap outcome: the Go runtime exits 2 when a program crashes (a panic, or
     running out of memory)`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

// exitError carries a specific exit status (see exitcodes.go) out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "actswap:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}
