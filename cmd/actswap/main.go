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
	Use:           "actswap",
	Short:         "Swap ReLU/GELU in ONNX models for Zorro, PWLU or CRReLU, calibrate, run and serve them",
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
