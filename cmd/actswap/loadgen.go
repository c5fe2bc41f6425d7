package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/actswap/actswap/serve"
	"github.com/actswap/actswap/tensor"
	"github.com/spf13/cobra"
)

func init() {
	var (
		opts     serve.LoadOptions
		data     string
		asJSON   bool
		rowLimit int
	)
	cmd := &cobra.Command{
		Use:   "loadgen --url URL --model NAME --input NAME --data FILE.npy",
		Short: "Drive a bounded load against an actswap (or any V2) server on this machine",
		Long: `Send infer requests from --concurrency clients for --duration (or --requests requests),
then print throughput, errors by status and latency percentiles. Only loopback targets are allowed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := tensor.ReadNpy(data)
			if err != nil {
				return err
			}
			if rowLimit > 0 && t.Rank() > 0 && t.Shape[0] > rowLimit {
				t = tensor.SliceRows(t, 0, rowLimit)
			}
			opts.Sample = t
			report, err := serve.RunLoad(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			fmt.Fprintln(cmd.OutOrStdout(), report)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.URL, "url", "http://127.0.0.1:8000", "server base URL (loopback only)")
	f.StringVar(&opts.Model, "model", "", "model name")
	f.StringVar(&opts.Input, "input", "input", "input tensor name")
	f.StringVar(&data, "data", "", ".npy file with the request tensor (leading rows used per request)")
	f.IntVar(&rowLimit, "rows", 1, "rows of --data per request (0: all)")
	f.IntVar(&opts.Concurrency, "concurrency", 64, "concurrent clients")
	f.DurationVar(&opts.Duration, "duration", 10*time.Second, "how long to send")
	f.IntVar(&opts.MaxRequests, "requests", 0, "stop after this many requests (0: only --duration)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	_ = cmd.MarkFlagRequired("model")
	_ = cmd.MarkFlagRequired("data")
	rootCmd.AddCommand(cmd)
}
