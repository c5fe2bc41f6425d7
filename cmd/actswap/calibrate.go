package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/internal/outfile"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
)

// calibFlags are the calibration options shared by `rewrite --calib` and `calibrate`.
type calibFlags struct {
	data         string // --calib (rewrite) or --data (calibrate)
	objective    string
	pwluPoints   int
	sequential   bool
	perChannel   bool
	batch        int
	threads      int
	report, html string
	size         string
	mean, std    []float64
	val          string  // --val: held-out rows for validation
	holdout      float64 // --holdout: share of the calibration rows held out when no --val
	gate         gateFlags
}

// gateFlags are the quality-gate thresholds of rewrite --calib, calibrate and compare.
type gateFlags struct{ maxRelL2, minAgreement string }

func addGateFlags(cmd *cobra.Command, g *gateFlags) {
	fl := cmd.Flags()
	fl.StringVar(&g.maxRelL2, "max-rel-l2", "", "quality gate: largest relative L2 error per output (held-out rows when there are any): L for every output, or NAME=L,...; missed → exit status 4, outputs still written")
	fl.StringVar(&g.minAgreement, "min-agreement", "", "quality gate: smallest top-1 agreement per output, a fraction in [0,1] (F, or NAME=F,...); missed → exit status 4, outputs still written")
}

func (g gateFlags) parse() (calibrate.Gate, error) {
	var gate calibrate.Gate
	var err error
	if gate.MaxRelL2, err = calibrate.ParseGateLimits("--max-rel-l2", g.maxRelL2, false); err != nil {
		return gate, err
	}
	gate.MinAgreement, err = calibrate.ParseGateLimits("--min-agreement", g.minAgreement, true)
	return gate, err
}

// gateError is the exit status 4 error for failed checks, naming each.
func gateError(checks []calibrate.GateCheck) error {
	var failed []string
	for _, c := range checks {
		if !c.Passed {
			failed = append(failed, c.String())
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &exitError{code: exitQualityFailed, err: fmt.Errorf("quality gate missed (outputs were written): %s", strings.Join(failed, "; "))}
}

// addCalibTuningFlags registers the flags that tune fitting, reading and reporting.
func addCalibTuningFlags(cmd *cobra.Command, f *calibFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.objective, "objective", "match", "match: approximate the original activation on the data; init: the papers' initialisation from the statistics")
	fl.IntVar(&f.pwluPoints, "pwlu-points", 16, fmt.Sprintf("PWLU intervals N, 1 to %d (the fit sees the data through a %d-bin histogram: more intervals have no data of their own)", calibrate.MaxPWLUPoints, calibrate.DefaultBins))
	fl.BoolVar(&f.sequential, "sequential", false, "fit sites in graph order, each chosen by the end-to-end output error of the model with the earlier sites already replaced")
	fl.BoolVar(&f.perChannel, "per-channel", false, "one parameter set per channel: the features a MatMul/Gemm after the activation reads (last axis), else axis 1 (NCHW channels)")
	fl.IntVar(&f.batch, "batch", calibrate.DefaultBatch, "rows per batch when streaming the data")
	fl.IntVar(&f.threads, "threads", 0, "goroutines kernels may use (default: all cores)")
	fl.StringVar(&f.report, "report", "", "write a JSON report (per site: parameters, input statistics, fit errors) to this file")
	fl.StringVar(&f.html, "html", "", "write a self-contained HTML report with the fitted curves to this file")
	fl.StringVar(&f.size, "size", "", "image folders: resize to HxW (or N for N×N); default from the model's input shape")
	fl.Float64SliceVar(&f.mean, "mean", nil, "image folders: per-channel mean subtracted after scaling pixels to [0,1]")
	fl.Float64SliceVar(&f.std, "std", nil, "image folders: per-channel standard deviation divided by")
	fl.StringVar(&f.val, "val", "", "validation data the fits never see: the results compared end to end (uncalibrated defaults, fits, sequential choices) are judged on them, the best is kept, and the reports give in-sample and held-out errors")
	fl.Float64Var(&f.holdout, "holdout", calibrate.DefaultHeldOut, "without --val: the share of the calibration rows held out for validation, spread evenly (0: none; the reports then say their errors are in sample)")
	addGateFlags(cmd, &f.gate)
}

// dataSplit is the calibration data as the flags split them: the rows the fits use, the held-out
// rows (nil when none) with their description, and the record of it for the calibrated model.
type dataSplit struct {
	fit, heldOut calibrate.Reader
	from         string
	provenance   calibrate.Provenance
	close        func()
}

// splitData splits the calibration data as --val and --holdout say.
func splitData(m *onnx.ModelProto, data calibrate.Reader, f calibFlags) (dataSplit, error) {
	s := dataSplit{fit: data, close: func() {}, provenance: calibrate.Provenance{Data: filepath.Base(f.data)}}
	if f.val != "" {
		val, err := openModelData(m, f.val, f)
		if err != nil {
			return s, fmt.Errorf("--val: %w", err)
		}
		s.heldOut, s.from, s.close = val, "--val "+f.val, func() { val.Close() }
		return s, nil
	}
	rule := calibrate.HoldOut{Fraction: f.holdout, WholeBatches: fixedBatch(m)}
	if err := rule.Validate(); err != nil {
		return s, fmt.Errorf("--holdout: %w", err)
	}
	if rule.Fraction > 0 {
		s.fit, s.heldOut = rule.Split(data)
		s.from, s.provenance.HeldOut = rule.Describe(f.data), &rule
	}
	return s, nil
}

// fixedBatch says whether m takes batches of a fixed size above 1, which a split by rows would cut.
func fixedBatch(m *onnx.ModelProto) bool {
	for _, in := range m.GetGraph().GetInput() {
		dims := in.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) > 0 && dims[0].GetDimValue() > 1 {
			return true
		}
	}
	return false
}

// addRewriteCalibFlags gives `actswap rewrite` its calibration flags; rewrite.go calls it.
func addRewriteCalibFlags(cmd *cobra.Command, f *calibFlags) {
	cmd.Flags().StringVar(&f.data, "calib", "", "calibrate the replacements on this data (.npy, .npz, backend-test or image folder); allows --to auto")
	addCalibTuningFlags(cmd, f)
}

func (f calibFlags) readerOptions() (calibrate.ReaderOptions, error) {
	o := calibrate.ReaderOptions{Batch: f.batch, Mean: f.mean, Std: f.std}
	if f.size != "" {
		parts := strings.Split(strings.ToLower(f.size), "x")
		if len(parts) == 1 {
			parts = append(parts, parts[0])
		}
		for i := range 2 {
			v, err := strconv.Atoi(strings.TrimSpace(parts[i]))
			if err != nil || v <= 0 || len(parts) != 2 {
				return o, fmt.Errorf("--size %q: want HxW or N", f.size)
			}
			o.Size[i] = v
		}
	}
	return o, nil
}

func (f calibFlags) options() (calibrate.Options, error) {
	obj, err := calibrate.ParseObjective(f.objective)
	if err != nil {
		return calibrate.Options{}, fmt.Errorf("--objective: %w", err)
	}
	if f.pwluPoints < 1 || f.pwluPoints > calibrate.MaxPWLUPoints {
		return calibrate.Options{}, fmt.Errorf("--pwlu-points %d: want 1 to %d", f.pwluPoints, calibrate.MaxPWLUPoints)
	}
	if err := checkCounts(countFlag{"batch", f.batch, 1}, countFlag{"threads", f.threads, 0}); err != nil {
		return calibrate.Options{}, err
	}
	return calibrate.Options{
		Fit:        calibrate.FitOptions{Objective: obj, PWLUPoints: f.pwluPoints},
		PerChannel: f.perChannel, Sequential: f.sequential, Threads: f.threads, Version: Version,
	}, nil
}

// openModelData opens path as data for m's inputs.
func openModelData(m *onnx.ModelProto, path string, f calibFlags) (calibrate.Reader, error) {
	sess, err := runtime.NewSession(m)
	if err != nil {
		return nil, err
	}
	ro, err := f.readerOptions()
	if err != nil {
		return nil, err
	}
	return calibrate.OpenData(path, calibrate.SpecsFromSession(sess), ro)
}

// progress returns a row counter drawn on stderr when it is a terminal, and a function ending it.
func progress(what string) (func(rows int), func()) {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil, func() {}
	}
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionShowIts(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
	)
	return func(rows int) { bar.Add(rows) }, func() { bar.Finish() }
}

// dataHelp is how every command that reads DATA reads it (calibrate.OpenData), for the help texts.
const dataHelp = `DATA is read the same way by rewrite --calib, calibrate and compare (and by run for one
.npy or .npz): a .npy file (the model's only input, first axis = rows), a .npz archive (one member per input, named after it), a
backend-test folder (input_K.pb, or test_data_set_*/input_K.pb: one batch per set) or a folder of
PNG/JPEG images (NCHW float32 scaled to [0,1], then --mean/--std). .npy numbers of any type
(float16/32/64, int8-64, uint8-64, bool; either byte order) are converted to the input's element
type, except floats for an integer input; Fortran-ordered arrays are refused. Rows must have the
input's shape, except that axes of size 1 may be added or dropped, and a row may be flattened
for an input with one axis per row; the same element count in another layout (NHWC data for an
NCHW model) is refused. A symbolic dimension ("seq") has one size across all inputs. Tensors in
.pb files must have the input's type and shape exactly.`

// calibOnlyFlags are the flags of `rewrite` that only mean something with --calib.
var calibOnlyFlags = []string{"objective", "pwlu-points", "sequential", "per-channel", "batch", "threads", "report", "html", "size", "mean", "std",
	"val", "holdout", "max-rel-l2", "min-agreement"}

// checkCalibOutputs applies the output rule (internal/outfile) to every file a calibration
// writes — the model, --report and --html — before any work starts: none may be the input model
// or the data, none another, and none an existing file without --force.
func checkCalibOutputs(in, out string, force bool, f calibFlags, moreInputs ...string) error {
	if out == "" {
		return errors.New("no output path: give -o OUT")
	}
	outputs := []outfile.Output{{Flag: "-o", Path: out}}
	if f.report != "" {
		outputs = append(outputs, outfile.Output{Flag: "--report", Path: f.report})
	}
	if f.html != "" {
		outputs = append(outputs, outfile.Output{Flag: "--html", Path: f.html})
	}
	return checkOutputs(outfile.Rule{Force: force, Inputs: append([]string{in, f.data}, moreInputs...)}, outputs...)
}

// runCalibratedRewrite is `actswap rewrite MODEL --calib DATA`: rewrite with fitted parameters.
func runCalibratedRewrite(w io.Writer, in string, f rewriteFlags) error {
	auto := strings.EqualFold(f.to, "auto")
	parse := f
	if auto {
		parse.to = "pwlu" // only to validate the other flags; the family is chosen per site
	}
	ropts, err := rewriteOptions(parse)
	if err != nil {
		return err
	}
	opts, err := f.calib.options()
	if err != nil {
		return err
	}
	if _, err := f.calib.readerOptions(); err != nil {
		return err
	}
	if err := checkCalibOutputs(in, f.out, f.force, f.calib, f.calib.val); err != nil {
		return err
	}
	opts.To, opts.Match, opts.Nodes, opts.Exclude, opts.KeepBias = ropts.To, ropts.Match, ropts.Nodes, ropts.Exclude, ropts.KeepBias
	if auto {
		opts.To = calibrate.Auto
	}
	m, err := onnx.LoadFile(in)
	if err != nil {
		return err
	}
	gate, err := f.calib.gate.parse()
	if err != nil {
		return err
	}
	data, err := openModelData(m, f.calib.data, f.calib)
	if err != nil {
		return err
	}
	defer data.Close()
	split, err := splitData(m, data, f.calib)
	if err != nil {
		return err
	}
	defer split.close()
	opts.HeldOut, opts.HeldOutFrom = split.heldOut, split.from
	tick, done := progress("calibrating")
	opts.OnBatch = tick
	res, err := calibrate.Calibrate(m, split.fit, opts)
	done()
	if errors.Is(err, calibrate.ErrNoSites) {
		return &exitError{code: exitNothingToDo, err: fmt.Errorf("%s: %w; nothing written", in, err)}
	}
	if err != nil {
		return fmt.Errorf("calibrate %s: %w", in, err)
	}
	if err := measureSensitivity(m, res, split, f.calib); err != nil {
		return err
	}
	return finishCalibration(w, in, res, opts, f.calib, gate, &split.provenance, f.out)
}

// measureSensitivity measures, for the reports, each site's end-to-end error when swapped alone
// into orig, on the held-out rows (else the calibration rows). Without --report or --html nothing
// shows it, so it costs nothing then.
func measureSensitivity(orig *onnx.ModelProto, res *calibrate.Result, split dataSplit, f calibFlags) error {
	if f.report == "" && f.html == "" {
		return nil
	}
	data := split.heldOut
	if data == nil {
		data = split.fit
	}
	if err := calibrate.MeasureSensitivity(orig, res, data, f.threads); err != nil {
		return fmt.Errorf("per-site sensitivity: %w", err)
	}
	return nil
}

// finishCalibration saves the model, prints the fits, the validation and the gate, and writes the
// requested reports; a missed gate returns exit status 4 after everything is written.
// prov, when known, is recorded in the model for `actswap compare`.
func finishCalibration(w io.Writer, in string, res *calibrate.Result, opts calibrate.Options, f calibFlags, gate calibrate.Gate, prov *calibrate.Provenance, out string) error {
	rep := reportWithFlagNames(calibrate.NewReport(in, res, nil, opts))
	if v := res.Validation; v != nil && !gate.Empty() {
		cmp, on := v.HeldOut, "held_out"
		if cmp == nil {
			cmp, on = v.InSample, "in_sample"
		}
		checks, err := gate.Check(cmp, on)
		if err != nil {
			return err
		}
		rep.Gate = checks
	}
	fmt.Fprintf(w, "model         %s\ncalibrated    %d site(s) on %s\n\n", in, len(res.Sites), f.data)
	rep.WriteText(w)
	if prov != nil {
		if err := calibrate.SetProvenance(res.Model, *prov); err != nil {
			return err
		}
	}
	if err := onnx.SaveFile(res.Model, out, onnx.RefuseOverwrite(in)); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote         %s\n", out)
	if f.report != "" {
		if err := outfile.Write(f.report, rep.WriteJSON); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		fmt.Fprintf(w, "report        %s\n", f.report)
	}
	if f.html != "" {
		err := outfile.Write(f.html, func(hw io.Writer) error {
			return rep.WriteHTML(hw, "actswap calibration of "+in, res)
		})
		if err != nil {
			return fmt.Errorf("html report: %w", err)
		}
		fmt.Fprintf(w, "html          %s\n", f.html)
	}
	return gateError(rep.Gate)
}

func newCalibrateCmd() *cobra.Command {
	var (
		f        calibFlags
		out      string
		original string
		force    bool
	)
	cmd := &cobra.Command{
		Use:   "calibrate REWRITTEN --data DATA -o OUT",
		Short: "Fit the parameters of an already rewritten model's ai.actswap nodes to sample data",
		Long: `Stream DATA through REWRITTEN, collect the input statistics of every ai.actswap node, and
fit each node's parameters (same family) to the activation it replaced, as recorded by
'actswap rewrite' in the model's metadata. DATA is a .npy file (the model's single input, first axis
= batch), a .npz archive (members named after the inputs), a backend-test folder (input_K.pb, or
test_data_set_*/input_K.pb) or a folder of PNG/JPEG images.

To rewrite and calibrate in one step use 'actswap rewrite MODEL --to F --calib DATA'.

` + dataHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := args[0]
			if f.data == "" {
				return errors.New("no data: give --data DATA")
			}
			opts, err := f.options()
			if err != nil {
				return err
			}
			gate, err := f.gate.parse()
			if err != nil {
				return err
			}
			if original == "" && (!gate.Empty() || f.val != "") {
				return errors.New("--max-rel-l2, --min-agreement and --val compare with the original model: give --original MODEL")
			}
			if _, err := f.readerOptions(); err != nil {
				return err
			}
			if err := checkCalibOutputs(in, out, force, f, original, f.val); err != nil {
				return err
			}
			m, err := onnx.LoadFile(in)
			if err != nil {
				return err
			}
			if original != "" {
				if opts.Original, err = onnx.LoadFile(original); err != nil {
					return fmt.Errorf("--original: %w", err)
				}
			}
			data, err := openModelData(m, f.data, f)
			if err != nil {
				return err
			}
			defer data.Close()
			split := dataSplit{fit: data, close: func() {}, provenance: calibrate.Provenance{Data: filepath.Base(f.data)}}
			if opts.Original != nil {
				if split, err = splitData(m, data, f); err != nil {
					return err
				}
				defer split.close()
				opts.HeldOut, opts.HeldOutFrom = split.heldOut, split.from
			}
			tick, done := progress("calibrating")
			opts.OnBatch = tick
			res, err := calibrate.Refit(m, split.fit, opts)
			done()
			if err != nil {
				return fmt.Errorf("calibrate %s: %w", in, err)
			}
			if opts.Original != nil {
				if err := measureSensitivity(opts.Original, res, split, f); err != nil {
					return err
				}
			}
			return finishCalibration(cmd.OutOrStdout(), in, res, opts, f, gate, &split.provenance, out)
		},
	}
	cmd.Flags().StringVar(&f.data, "data", "", "calibration data (.npy, .npz, backend-test folder or image folder)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write the calibrated model (required)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite OUT if it exists (never the input model)")
	cmd.Flags().StringVar(&original, "original", "", "the model REWRITTEN came from: the refitted and the given parameters are then compared end to end on held-out rows (--val, --holdout), the better kept, and --max-rel-l2/--min-agreement checked")
	addCalibTuningFlags(cmd, &f)
	return cmd
}
