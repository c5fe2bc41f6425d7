package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	goruntime "runtime"
	"text/tabwriter"
	"time"

	"github.com/actswap/actswap/bench"
	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
	"github.com/spf13/cobra"
)

func newBenchCmd() *cobra.Command {
	var (
		threads, iters, warmup, batch int
		data                          []string
		asJSON, withORT, profile      bool
		rounds, top, moduleDepth      int
		against, harness, plugin      string
	)
	cmd := &cobra.Command{
		Use:   "bench MODEL [--threads N] [--iters K] [--warmup W] [--ort] [--profile] [--json]",
		Short: "Measure a model's latency, throughput, allocations and peak memory in actswap's runtime",
		Long: `Run MODEL repeatedly and report p50/p90/p99 latency, throughput, allocations per run and
peak RSS. Inputs come from --data (as for 'actswap run') or are synthetic, with symbolic
dimensions set to --batch. With --ort, actswap and onnxruntime alternate for --rounds rounds on the same inputs and the
median latency ratio is reported; onnxruntime gets as many intra-op threads as actswap
(--threads, 0: all cores). onnxruntime is timed in-process through its C API by the actswap-ort
harness (go build -o DIR/actswap-ort ./cmd/actswap-ort; found by --ort-harness,
ACTSWAP_ORT_HARNESS, next to actswap or in PATH); that ratio is the one to publish. Where
onnxruntime-node is installed too, its ratio (Node wrapper inside the timer) is printed beside
it; without the harness, bench falls back to onnxruntime-node and says so. --ort-plugin PATH
registers libactswap_ort.so in the harness, to run a rewritten model in onnxruntime.
With --against OTHER (a rewritten model and its original, say), the two models alternate in
the same way on the same inputs and the median ratio MODEL/OTHER is reported. Before synthetic
inputs are made, the memory a run needs is estimated from runs on 1 and 2 rows, and a --batch
whose run would not fit in the available memory is refused. --profile times every node instead;
with --ort too, onnxruntime's own profiler times its nodes in the harness (a session of its
own) and both sides' times are printed per module — the first --module-depth segments of a
node's name, as PyTorch's exporter names nodes — since the two runtimes fuse and rename nodes
differently; each side's profiler adds its own overhead per node.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := checkCounts(countFlag{"threads", threads, 0}, countFlag{"iters", iters, 1}, countFlag{"warmup", warmup, 0},
				countFlag{"batch", batch, 1}, countFlag{"rounds", rounds, 1}, countFlag{"top", top, 1})
			if err != nil {
				return err
			}
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
				probe := func(n int) (map[string]*tensor.Tensor, error) { return bench.SyntheticInputs(s.Inputs(), n, 1) }
				if err := guardMemory(s, fmt.Sprintf("%s with --batch %d", args[0], batch), batch, probe); err != nil {
					return err
				}
				if inputs, err = bench.SyntheticInputs(s.Inputs(), batch, 1); err != nil {
					return err
				}
			}
			// Each run's results go back to the session, as onnxruntime's harness releases its
			// outputs: a caller that keeps them makes every run fault in a fresh buffer.
			run := func() error {
				out, err := s.Run(inputs)
				s.Recycle(out)
				return err
			}
			if profile {
				prof, err := profileRuns(s, inputs, warmup, iters)
				if err != nil {
					return err
				}
				if withORT {
					ortThreads := threads
					if ortThreads <= 0 {
						ortThreads = goruntime.GOMAXPROCS(0)
					}
					return printProfileORT(cmd.OutOrStdout(), args[0], m.GetGraph(), harness, plugin, inputs, run, prof, ortThreads, warmup, iters, top, moduleDepth, asJSON)
				}
				return printProfile(cmd.OutOrStdout(), prof, iters, top, asJSON)
			}
			if against != "" {
				return benchAgainst(cmd, args[0], against, threads, run, inputs, rounds, warmup, iters, asJSON)
			}
			if withORT {
				// The same thread count on both sides: --threads 0 means every core to actswap, so
				// onnxruntime gets as many.
				ortThreads := threads
				if ortThreads <= 0 {
					ortThreads = goruntime.GOMAXPROCS(0)
				}
				return benchORT(cmd, args[0], harness, plugin, inputs, run, ortThreads, rounds, warmup, iters, asJSON)
			}
			res, err := bench.Measure(run, warmup, iters)
			if err != nil {
				return err
			}
			if asJSON {
				return writeBenchJSON(cmd.OutOrStdout(), struct {
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
	f.StringVar(&harness, "ort-harness", "", "with --ort: the actswap-ort harness (default: ACTSWAP_ORT_HARNESS, next to actswap, or in PATH)")
	f.StringVar(&plugin, "ort-plugin", "", "with --ort: register this custom-op library (libactswap_ort.so) in onnxruntime, for rewritten models")
	f.IntVar(&rounds, "rounds", 5, "with --ort or --against: alternating rounds")
	f.StringVar(&against, "against", "", "alternate with this model (same inputs) and report the latency ratio MODEL/OTHER")
	f.BoolVar(&profile, "profile", false, "time every node over --iters runs and print where the time goes, by operator and by node")
	f.IntVar(&top, "top", 15, "with --profile: how many operators and nodes to list")
	f.IntVar(&moduleDepth, "module-depth", 2, "with --profile --ort: how many leading segments of a node's name (/layer1/layer1.0/conv1/Conv) make the module both sides' times are summed under")
	f.BoolVar(&asJSON, "json", false, "print JSON (keys p50_ms, p90_ms, p99_ms, allocs_per_run, peak_rss_mb, ...)")
	return cmd
}

// benchORT alternates actswap with onnxruntime in-process (the actswap-ort harness) and, where
// onnxruntime-node is installed and no plugin is asked for, with onnxruntime-node too, printing
// both ratios; without the harness it falls back to onnxruntime-node, labelled as such.
func benchORT(cmd *cobra.Command, model, harness, plugin string, inputs map[string]*tensor.Tensor, run func() error, threads, rounds, warmup, iters int, asJSON bool) error {
	w := cmd.OutOrStdout()
	path, why := bench.FindHarness(harness)
	var inProc, viaNode *bench.SideBySide
	version := ""
	if path != "" {
		h, err := bench.StartInProcessORT(path, model, plugin, inputs, threads)
		if err != nil {
			return fmt.Errorf("%s on %s: %w", path, model, err)
		}
		sbs, err := bench.CompareInProcessORT(h, run, rounds, warmup, iters)
		h.Close()
		if err != nil {
			return fmt.Errorf("%s on %s: %w", path, model, err)
		}
		inProc, version = &sbs, h.Version
	} else if plugin != "" || harness != "" {
		return fmt.Errorf("--ort: %s", why)
	}
	if plugin == "" && (inProc == nil || ortref.Available()) {
		sbs, err := bench.CompareORT(model, inputs, run, threads, rounds, warmup, iters)
		if err != nil && inProc == nil {
			return err
		}
		if err == nil {
			viaNode = &sbs
		}
	}
	if asJSON {
		return writeBenchJSON(w, struct {
			Threads     int               `json:"threads"`
			Onnxruntime string            `json:"onnxruntime_version,omitempty"`
			InProcess   *bench.SideBySide `json:"in_process,omitempty"`
			ViaNode     *bench.SideBySide `json:"via_onnxruntime_node,omitempty"`
		}{threads, version, inProc, viaNode})
	}
	fmt.Fprintf(w, "%s (threads %d on both sides)\n", model, threads)
	if inProc != nil {
		fmt.Fprintf(w, "in-process (onnxruntime %s, C API): %s\n", version, inProc)
	} else {
		fmt.Fprintf(w, "in-process harness absent (%s): falling back to onnxruntime-node\n", why)
	}
	if viaNode != nil {
		fmt.Fprintf(w, "via onnxruntime-node (includes the Node wrapper, conversions and an output copy; not a kernel figure): %s\n", viaNode)
	}
	return nil
}

// profileRuns runs the model warmup+iters times, timing each node in the last iters runs.
func profileRuns(s *runtime.Session, inputs map[string]*tensor.Tensor, warmup, iters int) (*runtime.Profile, error) {
	// Built with -tags workerpath, nodes are timed in this thread's CPU time (the estimated
	// critical path of each on --threads threads, runtime.nodeClock): it must stay on one thread.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	prof := &runtime.Profile{}
	ctx := runtime.WithProfile(context.Background(), prof)
	for i := 0; i < warmup+iters; i++ {
		runCtx := context.Background()
		if i >= warmup {
			runCtx = ctx
		}
		out, err := s.RunContext(runCtx, inputs)
		if err != nil {
			return nil, err
		}
		s.Recycle(out)
	}
	return prof, nil
}

// printProfile prints the operators and nodes that took the most time over iters runs, with
// their share of all kernel time.
func printProfile(w io.Writer, prof *runtime.Profile, iters, top int, asJSON bool) error {
	byOp, nodes := prof.ByOpType(), prof.Nodes()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Runs     int                `json:"runs"`
			TotalNs  time.Duration      `json:"total_ns"`
			ByOpType []runtime.NodeTime `json:"by_op_type"`
			Nodes    []runtime.NodeTime `json:"nodes"`
		}{iters, prof.Total(), byOp, nodes})
	}
	total := prof.Total()
	share := func(d time.Duration) string {
		return fmt.Sprintf("%.1f%%", 100*float64(d)/float64(max(total, 1)))
	}
	fmt.Fprintf(w, "kernel time per run %s over %d runs\n\n", perRunMs(total, iters), iters)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "op type\tnodes\tper run\tshare")
	for _, t := range byOp[:min(top, len(byOp))] {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", t.OpType, t.Calls/max(iters, 1), perRunMs(t.Total, iters), share(t.Total))
	}
	fmt.Fprintln(tw, "\t\t\t")
	fmt.Fprintln(tw, "node\top type\tper run\tshare")
	for _, t := range nodes[:min(top, len(nodes))] {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Node, t.OpType, perRunMs(t.Total, iters), share(t.Total))
	}
	return tw.Flush()
}

// perRunMs formats a total over runs as milliseconds per run.
func perRunMs(d time.Duration, runs int) string {
	return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000/float64(max(runs, 1)))
}

// printProfileORT profiles onnxruntime on the same model, inputs and thread count in the
// harness and prints both sides' kernel time per module and per node, beside one round of each
// side's latency without a profiler, for the profilers' overhead.
func printProfileORT(w io.Writer, model string, g *onnx.GraphProto, harness, plugin string, inputs map[string]*tensor.Tensor, run func() error, prof *runtime.Profile, threads, warmup, iters, top, depth int, asJSON bool) error {
	path, why := bench.FindHarness(harness)
	if path == "" {
		return fmt.Errorf("--ort --profile: %s", why)
	}
	h, err := bench.StartInProcessORT(path, model, plugin, inputs, threads)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", path, model, err)
	}
	plain, err := bench.CompareInProcessORT(h, run, 1, warmup, iters)
	if err != nil {
		h.Close()
		return fmt.Errorf("%s on %s: %w", path, model, err)
	}
	theirs, err := h.Profile(warmup, iters)
	h.Close()
	if err != nil {
		return fmt.Errorf("%s on %s: %w", path, model, err)
	}
	ours := prof.Nodes()
	modules := bench.JoinByModule(ours, iters, theirs, bench.FusionRoots(g), depth)
	var ourTotal, theirTotal time.Duration
	for _, m := range modules {
		ourTotal += m.Actswap
		theirTotal += m.Onnxruntime
	}
	if asJSON {
		return writeBenchJSON(w, struct {
			Threads        int                `json:"threads"`
			Onnxruntime    string             `json:"onnxruntime_version"`
			Runs           int                `json:"runs"`
			Unprofiled     bench.SideBySide   `json:"unprofiled"`
			ActswapNs      time.Duration      `json:"actswap_kernel_ns_per_run"`
			OnnxruntimeNs  time.Duration      `json:"onnxruntime_kernel_ns_per_run"`
			Modules        []bench.ModuleTime `json:"modules"`
			ActswapNodes   []runtime.NodeTime `json:"actswap_nodes"`
			OnnxruntimeOps []runtime.NodeTime `json:"onnxruntime_nodes"`
		}{threads, h.Version, iters, plain, ourTotal, theirTotal, modules, ours, theirs.Nodes})
	}
	fmt.Fprintf(w, "%s (threads %d on both sides, onnxruntime %s)\nkernel time per run over %d profiled runs: actswap %s, onnxruntime %s; without profilers, p50 actswap %.3f ms, onnxruntime %.3f ms\n\n",
		model, threads, h.Version, iters, perRunMs(ourTotal, 1), perRunMs(theirTotal, 1), plain.ActswapP50ms[0], plain.OrtP50ms[0])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "module\tactswap\tonnxruntime\tratio")
	for _, m := range modules[:min(top, len(modules))] {
		ratio := "—"
		if m.Actswap > 0 && m.Onnxruntime > 0 {
			ratio = fmt.Sprintf("%.2f", float64(m.Actswap)/float64(m.Onnxruntime))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Module, perRunMs(m.Actswap, 1), perRunMs(m.Onnxruntime, 1), ratio)
	}
	fmt.Fprintln(tw, "\t\t\t")
	fmt.Fprintln(tw, "actswap node\top type\tper run\t")
	for _, t := range ours[:min(top, len(ours))] {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", t.Node, t.OpType, perRunMs(t.Total, iters))
	}
	fmt.Fprintln(tw, "\t\t\t")
	fmt.Fprintln(tw, "onnxruntime node\top type\tper run\t")
	for _, t := range theirs.Nodes[:min(top, len(theirs.Nodes))] {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", t.Node, t.OpType, perRunMs(t.Total, theirs.Runs))
	}
	return tw.Flush()
}

// benchAgainst alternates MODEL (run) with the model at otherPath on the same inputs.
func benchAgainst(cmd *cobra.Command, model, otherPath string, threads int, run func() error, inputs map[string]*tensor.Tensor, rounds, warmup, iters int, asJSON bool) error {
	m, err := onnx.LoadFile(otherPath)
	if err != nil {
		return err
	}
	other, err := runtime.NewSession(m, runtime.WithThreads(threads))
	if err != nil {
		return fmt.Errorf("%s: %w", otherPath, err)
	}
	p, err := bench.ComparePaired(run, func() error {
		out, err := other.Run(inputs)
		other.Recycle(out)
		return err
	}, rounds, warmup, iters)
	if err != nil {
		return fmt.Errorf("%s: %w", otherPath, err)
	}
	if asJSON {
		return writeBenchJSON(cmd.OutOrStdout(), p)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s against %s (threads %d)\n%s\n", model, otherPath, threads, p)
	return nil
}

// writeBenchJSON writes a measurement as an indented JSON object with a "machine" key beside its
// own fields (CPU model, vector features, measured FMA peak), so figures from different cores
// are never mixed up.
func writeBenchJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	if fields["machine"], err = json.Marshal(bench.DescribeMachine()); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(fields)
}
