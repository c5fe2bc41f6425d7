package main

import (
	"errors"
	"fmt"
	"io"
	"os"
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
}

// addCalibTuningFlags registers the flags that tune fitting, reading and reporting.
func addCalibTuningFlags(cmd *cobra.Command, f *calibFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.objective, "objective", "match", "match: approximate the original activation on the data; init: the papers' initialisation from the statistics")
	fl.IntVar(&f.pwluPoints, "pwlu-points", 16, fmt.Sprintf("PWLU intervals N, 1 to %d (the fit sees the data through a %d-bin histogram: more intervals have no data of their own)", calibrate.MaxPWLUPoints, calibrate.DefaultBins))
	fl.BoolVar(&f.sequential, "sequential", false, "fit sites in graph order, each chosen by the end-to-end output error of the model with the earlier sites already replaced")
	fl.BoolVar(&f.perChannel, "per-channel", false, "one parameter set per channel (axis 1)")
	fl.IntVar(&f.batch, "batch", calibrate.DefaultBatch, "rows per batch when streaming the data")
	fl.IntVar(&f.threads, "threads", 0, "goroutines kernels may use (default: all cores)")
	fl.StringVar(&f.report, "report", "", "write a JSON report (per site: parameters, input statistics, fit errors) to this file")
	fl.StringVar(&f.html, "html", "", "write a self-contained HTML report with the fitted curves to this file")
	fl.StringVar(&f.size, "size", "", "image folders: resize to HxW (or N for N×N); default from the model's input shape")
	fl.Float64SliceVar(&f.mean, "mean", nil, "image folders: per-channel mean subtracted after scaling pixels to [0,1]")
	fl.Float64SliceVar(&f.std, "std", nil, "image folders: per-channel standard deviation divided by")
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
	if f.batch < 1 {
		return calibrate.Options{}, fmt.Errorf("--batch %d: want at least 1 row", f.batch)
	}
	if f.threads < 0 {
		return calibrate.Options{}, fmt.Errorf("--threads %d: want 0 (all cores) or more", f.threads)
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

// calibOnlyFlags are the flags of `rewrite` that only mean something with --calib.
var calibOnlyFlags = []string{"objective", "pwlu-points", "sequential", "per-channel", "batch", "threads", "report", "html", "size", "mean", "std"}

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
	return outfile.Rule{Force: force, Inputs: append([]string{in, f.data}, moreInputs...)}.Check(outputs...)
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
	if err := checkCalibOutputs(in, f.out, f.force, f.calib); err != nil {
		return err
	}
	opts.To, opts.Match, opts.Nodes, opts.Exclude = ropts.To, ropts.Match, ropts.Nodes, ropts.Exclude
	if auto {
		opts.To = calibrate.Auto
	}
	m, err := onnx.LoadFile(in)
	if err != nil {
		return err
	}
	data, err := openModelData(m, f.calib.data, f.calib)
	if err != nil {
		return err
	}
	defer data.Close()
	tick, done := progress("calibrating")
	opts.OnBatch = tick
	res, err := calibrate.Calibrate(m, data, opts)
	done()
	if errors.Is(err, calibrate.ErrNoSites) {
		return &exitError{code: exitNothingToDo, err: fmt.Errorf("%s: %w; nothing written", in, err)}
	}
	if err != nil {
		return fmt.Errorf("calibrate %s: %w", in, err)
	}
	return finishCalibration(w, in, m, res, data, opts, f.calib, f.out)
}

// finishCalibration saves the model, prints the fits and writes the requested reports; with the
// original model orig, the reports' end-to-end table compares with it on the calibration data.
func finishCalibration(w io.Writer, in string, orig *onnx.ModelProto, res *calibrate.Result, data calibrate.Reader, opts calibrate.Options, f calibFlags, out string) error {
	var cmp *calibrate.Comparison
	if orig != nil && (f.report != "" || f.html != "") {
		var err error
		if cmp, err = calibrate.Compare(orig, res.Model, data, nil, f.threads); err != nil {
			return fmt.Errorf("comparing on the calibration data: %w", err)
		}
	}
	rep := calibrate.NewReport(in, res, cmp, opts)
	fmt.Fprintf(w, "model         %s\ncalibrated    %d site(s) on %s\n\n", in, len(res.Sites), f.data)
	rep.WriteText(w)
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
			return calibrate.WriteHTML(hw, "actswap calibration of "+in, res, cmp)
		})
		if err != nil {
			return fmt.Errorf("html report: %w", err)
		}
		fmt.Fprintf(w, "html          %s\n", f.html)
	}
	return nil
}

func init() {
	var (
		f     calibFlags
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "calibrate REWRITTEN --data DATA -o OUT",
		Short: "Fit the parameters of an already rewritten model's ai.actswap nodes to sample data",
		Long: `Stream DATA through REWRITTEN, collect the input statistics of every ai.actswap node, and
fit each node's parameters (same family) to the activation it replaced, as recorded by
'actswap rewrite' in the model's metadata. DATA is a .npy file (the model's single input, first axis
= batch), a .npz archive (members named after the inputs), a backend-test folder (input_K.pb, or
test_data_set_*/input_K.pb) or a folder of PNG/JPEG images.

To rewrite and calibrate in one step use 'actswap rewrite MODEL --to F --calib DATA'.`,
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
			if _, err := f.readerOptions(); err != nil {
				return err
			}
			if err := checkCalibOutputs(in, out, force, f); err != nil {
				return err
			}
			m, err := onnx.LoadFile(in)
			if err != nil {
				return err
			}
			data, err := openModelData(m, f.data, f)
			if err != nil {
				return err
			}
			defer data.Close()
			tick, done := progress("calibrating")
			opts.OnBatch = tick
			res, err := calibrate.Refit(m, data, opts)
			done()
			if err != nil {
				return fmt.Errorf("calibrate %s: %w", in, err)
			}
			return finishCalibration(cmd.OutOrStdout(), in, nil, res, data, opts, f, out)
		},
	}
	cmd.Flags().StringVar(&f.data, "data", "", "calibration data (.npy, .npz, backend-test folder or image folder)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write the calibrated model (required)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite OUT if it exists (never the input model)")
	addCalibTuningFlags(cmd, &f)
	rootCmd.AddCommand(cmd)
}
