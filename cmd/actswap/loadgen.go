package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/actswap/actswap/internal/loadgen"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
	"github.com/spf13/cobra"
)

func newLoadgenCmd() *cobra.Command {
	var (
		opts   loadgen.Options
		data   string
		verify string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "loadgen --url URL --model NAME --input NAME --data FILE.npy [--verify MODEL.onnx|OUTPUT=FILE.npy]",
		Short: "Drive a bounded load against an actswap (or any V2) server on this machine",
		Long: `Send infer requests from --concurrency clients for --duration (or --requests requests),
then print throughput, errors by status and latency percentiles. Request k sends --rows rows of
--data starting at row k·rows (wrapping), so concurrent requests carry different inputs.
--verify checks every answer: against a direct run of MODEL.onnx on the same rows, or against
golden outputs OUTPUT=FILE.npy (one row per --data row; repeatable). Only loopback targets are
allowed. Exits 1, listing the errors, when any request failed or any answer was wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			x, err := tensor.ReadNpy(data)
			if err != nil {
				return err
			}
			opts.Data = x
			if verify != "" {
				if opts.Expected, err = expectedOutputs(verify, opts.Input, x); err != nil {
					return fmt.Errorf("--verify: %w", err)
				}
			}
			report, err := loadgen.Run(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(report); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), report)
			}
			if report.Failed() {
				return fmt.Errorf("%d of %d requests failed:\n%s", report.Errors, report.Requests, strings.TrimRight(report.ErrorSummary(), "\n"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.URL, "url", "http://127.0.0.1:8000", "server base URL (loopback only)")
	f.StringVar(&opts.Model, "model", "", "model name")
	f.StringVar(&opts.Input, "input", "input", "input tensor name")
	f.StringVar(&data, "data", "", ".npy file with the rows to send")
	f.IntVar(&opts.Rows, "rows", 1, "rows of --data per request")
	f.IntVar(&opts.Concurrency, "concurrency", 64, "concurrent clients")
	f.DurationVar(&opts.Duration, "duration", 10*time.Second, "how long to send")
	f.IntVar(&opts.MaxRequests, "requests", 0, "stop after this many requests (0: only --duration)")
	f.StringVar(&verify, "verify", "", "check every answer against a direct run of MODEL.onnx or golden outputs OUTPUT=FILE.npy[,OUTPUT=FILE.npy]")
	f.Float64Var(&opts.Tolerance, "tolerance", 1e-4, "with --verify: allowed |got−want| ≤ tol + tol·|want|")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	_ = cmd.MarkFlagRequired("model")
	_ = cmd.MarkFlagRequired("data")
	return cmd
}

// expectedOutputs computes what every row of x should be answered with: a direct run of a model
// file through actswap's runtime, or golden outputs read from .npy files.
func expectedOutputs(spec, input string, x *tensor.Tensor) (map[string]*tensor.Tensor, error) {
	if strings.HasSuffix(spec, ".onnx") {
		m, err := onnx.LoadFile(spec)
		if err != nil {
			return nil, err
		}
		sess, err := runtime.NewSession(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec, err)
		}
		out, err := sess.Run(map[string]*tensor.Tensor{input: x})
		if err != nil {
			return nil, fmt.Errorf("%s: direct run: %w", spec, err)
		}
		return out, nil
	}
	expected := map[string]*tensor.Tensor{}
	for _, part := range strings.Split(spec, ",") {
		name, path, ok := strings.Cut(part, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("%q: want MODEL.onnx or OUTPUT=FILE.npy", part)
		}
		t, err := tensor.ReadNpy(path)
		if err != nil {
			return nil, err
		}
		expected[name] = t
	}
	return expected, nil
}
