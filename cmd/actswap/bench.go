package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/actswap/actswap/bench"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
	"github.com/spf13/cobra"
)

func init() {
	var (
		threads, iters, warmup, batch int
		data                          []string
		asJSON, withORT               bool
		rounds                        int
	)
	cmd := &cobra.Command{
		Use:   "bench MODEL [--threads N] [--iters K] [--warmup W] [--json]",
		Short: "Measure a model's latency, throughput, allocations and peak memory in actswap's runtime",
		Long: `Run MODEL repeatedly and report p50/p90/p99 latency, throughput, allocations per run and
peak RSS. Inputs come from --data (as for 'actswap run') or are synthetic, with symbolic
dimensions set to --batch. With --ort, actswap and onnxruntime (onnxruntime-node, installed
by .ci/install-ort.sh) alternate for --rounds rounds on the same inputs and the median latency
ratio is reported: compare with --threads 1, as onnxruntime runs with one intra-op thread.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := onnx.LoadFile(args[0])
			if err != nil {
				return err
			}
			t0 := time.Now()
			s, err := runtime.NewSession(m, runtime.WithThreads(threads))
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			compile := time.Since(t0)
			inputs := map[string]*tensor.Tensor{}
			for _, d := range data {
				if err := readRunData(s, d, inputs); err != nil {
					return err
				}
			}
			if len(data) == 0 {
				if inputs, err = bench.SyntheticInputs(s.Inputs(), batch, 1); err != nil {
					return err
				}
			}
			run := func() error {
				_, err := s.Run(inputs)
				return err
			}
			if withORT {
				sbs, err := bench.CompareORT(args[0], inputs, run, rounds, warmup, iters)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					return enc.Encode(sbs)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s (threads %d)\n%s\n", args[0], threads, sbs)
				return nil
			}
			res, err := bench.Measure(run, warmup, iters)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Model     string  `json:"model"`
					Threads   int     `json:"threads"`
					CompileMs float64 `json:"compile_ms"`
					bench.Result
				}{args[0], threads, float64(compile.Microseconds()) / 1000, res})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (threads %d, %d iters after %d warmup, compiled in %v)\n%s\n",
				args[0], threads, iters, warmup, compile.Round(time.Microsecond), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&threads, "threads", 0, "kernel threads (0: all cores)")
	f.IntVar(&iters, "iters", 50, "timed runs")
	f.IntVar(&warmup, "warmup", 5, "untimed runs first")
	f.IntVar(&batch, "batch", 1, "size of symbolic dimensions for synthetic inputs")
	f.StringArrayVar(&data, "data", nil, "inputs, as for 'actswap run' (default: synthetic)")
	f.BoolVar(&withORT, "ort", false, "compare side by side with onnxruntime and report the latency ratio")
	f.IntVar(&rounds, "rounds", 5, "with --ort: alternating rounds")
	f.BoolVar(&asJSON, "json", false, "print JSON (keys p50_ms, p90_ms, p99_ms, allocs_per_run, peak_rss_mb, ...)")
	rootCmd.AddCommand(cmd)
}
