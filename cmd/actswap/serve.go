package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	"github.com/actswap/actswap/serve"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var (
		models   []string
		repo     string
		pollSecs int
		opts     serve.Options
		drain    time.Duration
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "serve --model NAME=PATH ... | --repo DIR",
		Short: "Serve models over the KServe/Triton V2 inference protocol (REST and gRPC)",
		Long: `Serve ONNX models (original or rewritten) over the Open Inference Protocol V2:
REST on --addr (health, metadata, infer with JSON or binary tensors, /metrics) and gRPC
inference.GRPCInferenceService on --grpc-addr (with grpc.health.v1 and server reflection).
--repo reads a Triton model repository: NAME/config.pbtxt (optional) and NAME/VERSION/model.onnx
(a file, or a folder holding model.onnx); the version policy chooses the versions (default: the
latest). --model-control-mode explicit enables load/unload over REST and gRPC; poll reloads
changed models every --repository-poll-secs. The host default listens on loopback only; in a
container pass --addr 0.0.0.0:8080 --grpc-addr 0.0.0.0:8081.

Every request is admitted before its body is read: a body over --max-body or one whose decoding
could need more than --memory-budget is answered 413, one that does not fit the budget left now
429, a full model queue 503. Once decoded, and before it runs, a request is charged the working
set its rows need (estimated at load from the model's shapes, by runs on 1 and 2 rows), with the
same 413/429; dynamic batches never hold more rows than the budget does. A request gets --request-timeout for queue wait and compute (504 or
DEADLINE_EXCEEDED after it), an upload --read-timeout (408 after it).

SIGTERM or SIGINT stops both listeners, then drains the requests in flight on both and exits 0.
If they are not done within --drain-timeout, the rest are cut off and serve exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A flag given as 0 or less would silently mean "the default" inside serve.Options.
			for _, name := range []string{"workers", "max-queue", "max-body", "max-batch", "max-elements", "memory-budget", "max-decodes",
				"request-timeout", "read-timeout", "write-timeout", "drain-timeout"} {
				if v := cmd.Flags().Lookup(name).Value.String(); strings.HasPrefix(v, "-") || v == "0" || v == "0s" {
					return fmt.Errorf("--%s %s: must be positive", name, v)
				}
			}
			if opts.Threads < 0 {
				return fmt.Errorf("--threads %d: must be positive, or 0 for all cores", opts.Threads)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			opts.Version = Version
			var specs []serve.ModelSpec
			for _, m := range models {
				spec, err := serve.ParseModelSpec(m)
				if err != nil {
					return fmt.Errorf("--model: %w", err)
				}
				specs = append(specs, spec)
			}
			opts.Repository = repo
			if pollSecs < 0 {
				return fmt.Errorf("--repository-poll-secs %d is negative", pollSecs)
			}
			opts.PollInterval = time.Duration(pollSecs) * time.Second
			srv, err := serve.New(specs, opts)
			if err != nil {
				return err
			}
			if err := srv.Start(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "actswap serve: REST on http://%s", srv.Addr())
			if a := srv.GRPCAddr(); a != "" {
				fmt.Fprintf(cmd.OutOrStdout(), ", gRPC on %s", a)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
			got := <-sig
			opts.Logger.Info("signal received, draining", "signal", got.String())
			ctx, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				return fmt.Errorf("--drain-timeout %v: %w", drain, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&models, "model", nil, "model to serve as NAME=PATH (repeatable)")
	f.StringVar(&repo, "repo", "", "Triton-layout model repository: DIR/NAME/VERSION/model.onnx")
	f.StringVar(&opts.ModelControl, "model-control-mode", serve.ModelControlNone, "with --repo: none (load all at startup), explicit (load/unload requests; --load-model at startup) or poll (reload changed models)")
	f.StringArrayVar(&opts.LoadModels, "load-model", nil, "model of --repo to load at startup in explicit mode (repeatable; * for all)")
	f.IntVar(&pollSecs, "repository-poll-secs", 15, "poll mode: seconds between repository scans")
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:8000", "REST listen address")
	f.StringVar(&opts.GRPCAddr, "grpc-addr", "127.0.0.1:8001", "gRPC listen address (empty disables gRPC)")
	f.IntVar(&opts.Threads, "threads", 0, "kernel threads per inference (0: all cores)")
	f.IntVar(&opts.Workers, "workers", goruntime.GOMAXPROCS(0), "concurrent inferences per model")
	f.IntVar(&opts.MaxBatch, "max-batch", 8, "dynamic batching: most rows per batch for models with a dynamic batch dimension (1 disables)")
	f.DurationVar(&opts.MaxDelay, "max-delay", 2*time.Millisecond, "dynamic batching: longest wait for a batch to fill")
	f.IntVar(&opts.MaxQueue, "max-queue", 256, "queued requests per model before answering 503")
	f.Int64Var(&opts.MaxBodyBytes, "max-body", 64<<20, "largest request body in bytes (413 above)")
	f.IntVar(&opts.MaxElements, "max-elements", 32<<20, "most tensor elements over one request's inputs (413 above)")
	f.Int64Var(&opts.MemoryBudget, "memory-budget", 1<<30, "bytes the requests in flight may reserve: 4 per body byte to decode, then their run's estimated working set (429 when full)")
	f.IntVar(&opts.MaxDecodes, "max-decodes", 2*goruntime.GOMAXPROCS(0), "request bodies decoded at once")
	f.DurationVar(&opts.RequestTimeout, "request-timeout", 60*time.Second, "deadline per request for queue wait and compute (504 after it)")
	f.DurationVar(&opts.ReadTimeout, "read-timeout", 30*time.Second, "longest upload of one request body (408 after it)")
	f.DurationVar(&opts.WriteTimeout, "write-timeout", 60*time.Second, "longest write of one computed answer")
	f.DurationVar(&drain, "drain-timeout", 30*time.Second, "longest wait for in-flight requests on shutdown; past it they are cut off and serve exits 1")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}
