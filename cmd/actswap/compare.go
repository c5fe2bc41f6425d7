package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/onnx"
)

func newCompareCmd() *cobra.Command {
	var (
		f      calibFlags
		labels string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "compare ORIGINAL REWRITTEN --data DATA [--labels L.npy] [--json]",
		Short: "Measure how far a rewritten model's outputs are from the original's on sample data",
		Long: `Run ORIGINAL and REWRITTEN on every batch of DATA (.npy, .npz, backend-test folder or image
folder) and report, per output, the largest absolute difference and the relative L2 error
‖rewritten − original‖/‖original‖; the top-1 agreement (argmax over the last axis of the first
output); and, with --labels (an integer .npy, one class index per row, 0 to the number of classes
- 1), both models' accuracy.

NaN and Inf values are counted per output and model. The errors are measured over the elements
finite in both models; when the rewritten model gives NaN or Inf where the original is finite, or
no element is finite in both, the comparison fails with exit status 4 (after printing).

When DATA is the file REWRITTEN was calibrated on (recorded in its metadata), or with --holdout F,
the rows are also reported apart: in_sample (fitted on) and held_out (never seen by the fits);
--val VAL adds held-out data. --max-rel-l2 and --min-agreement check the held-out rows (all rows
when none are known) and exit with status 4 when missed.

` + dataHelp,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.data == "" {
				return errors.New("no data: give --data DATA")
			}
			if err := checkCounts(countFlag{"batch", f.batch, 1}, countFlag{"threads", f.threads, 0}); err != nil {
				return err
			}
			orig, err := onnx.LoadFile(args[0])
			if err != nil {
				return err
			}
			rewritten, err := onnx.LoadFile(args[1])
			if err != nil {
				return err
			}
			data, err := openModelData(orig, f.data, f)
			if err != nil {
				return err
			}
			defer data.Close()
			var lab *calibrate.Labels
			if labels != "" {
				if lab, err = calibrate.OpenLabels(labels); err != nil {
					return err
				}
				defer lab.Close()
			}
			gate, err := f.gate.parse()
			if err != nil {
				return err
			}
			rule, whole, err := compareSplitRule(cmd, rewritten, f)
			if err != nil {
				return err
			}
			res := compareResult{}
			if prov, ok, err := calibrate.ProvenanceOf(rewritten); err == nil && ok {
				res.Notice = prov.Uncalibrated
			}
			if rule != nil {
				res.Comparison, res.InSample, res.HeldOut, err = calibrate.CompareSplit(orig, rewritten, data, lab, f.threads, *rule)
				res.Split = rule.Describe(f.data)
			} else {
				res.Comparison, err = calibrate.Compare(orig, rewritten, data, lab, f.threads)
			}
			if err != nil {
				return fmt.Errorf("compare %s with %s: %w", args[1], args[0], err)
			}
			switch whole {
			case "in_sample":
				res.InSample, res.Split = res.Comparison, "every row of "+f.data+" was fitted on"
			case "held_out":
				res.HeldOut, res.Split = res.Comparison, "REWRITTEN was calibrated on other data"
			}
			if f.val != "" {
				val, err := openModelData(orig, f.val, f)
				if err != nil {
					return fmt.Errorf("--val: %w", err)
				}
				defer val.Close()
				if res.HeldOut, err = calibrate.Compare(orig, rewritten, val, nil, f.threads); err != nil {
					return fmt.Errorf("compare %s with %s on --val %s: %w", args[1], args[0], f.val, err)
				}
				res.InSample, res.Split = res.Comparison, "--data "+f.data+" in sample, --val "+f.val+" held out"
			}
			gated, on := res.Comparison, "all_rows"
			if res.HeldOut != nil {
				gated, on = res.HeldOut, "held_out"
			}
			if !gate.Empty() {
				if res.Gate, err = gate.Check(gated, on); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(w, "original      %s\nrewritten     %s\n", args[0], args[1])
				res.Comparison.WriteText(w)
				if res.InSample != nil {
					fmt.Fprintf(w, "\nin sample (rows the parameters were fitted on; %s):", res.Split)
					res.InSample.WriteText(w)
				}
				if res.HeldOut != nil {
					fmt.Fprint(w, "\nheld out (rows the fits never saw):")
					res.HeldOut.WriteText(w)
				}
				if res.Notice != "" {
					fmt.Fprintf(w, "\nnote: %s\n", res.Notice)
				}
				for i, c := range res.Gate {
					if i == 0 {
						fmt.Fprintln(w, "\nquality gate:")
					}
					fmt.Fprintf(w, "  %s\n", c)
				}
			}
			for _, c := range []*calibrate.Comparison{res.Comparison, res.HeldOut} {
				if c == nil {
					continue
				}
				if err := c.CheckFinite(); err != nil {
					return &exitError{code: exitQualityFailed, err: fmt.Errorf("compare %s with %s: %w", args[1], args[0], err)}
				}
			}
			return gateError(res.Gate)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "input data (.npy, .npz, backend-test folder or image folder)")
	fl.StringVar(&labels, "labels", "", "integer class labels (.npy), one per row, for accuracy")
	fl.BoolVar(&asJSON, "json", false, "print JSON: outputs[{name,max_abs_err,rel_l2_err,non_finite}], top1_agreement, accuracy{original,rewritten}; non-finite errors as \"NaN\", \"Infinity\"")
	fl.IntVar(&f.batch, "batch", calibrate.DefaultBatch, "rows per batch")
	fl.IntVar(&f.threads, "threads", 0, "goroutines kernels may use (default: all cores)")
	fl.StringVar(&f.size, "size", "", "image folders: resize to HxW (or N for N×N)")
	fl.Float64SliceVar(&f.mean, "mean", nil, "image folders: per-channel mean")
	fl.Float64SliceVar(&f.std, "std", nil, "image folders: per-channel standard deviation")
	fl.StringVar(&f.val, "val", "", "held-out data: compared too and reported as held_out (DATA is then in_sample); the quality gate checks them")
	fl.Float64Var(&f.holdout, "holdout", 0, "split DATA's rows as calibration did (a fraction, spread evenly) into in_sample and held_out; default: what REWRITTEN recorded when DATA is the file it was calibrated on")
	addGateFlags(cmd, &f.gate)
	return cmd
}

// compareResult is what compare prints: the comparison over every row of DATA (the JSON's top
// level, as before), the same split into the rows the parameters were fitted on and the rows
// held out when that is known, and the quality gate's checks.
type compareResult struct {
	*calibrate.Comparison
	Split    string                `json:"split,omitempty"`
	Notice   string                `json:"notice,omitempty"` // what REWRITTEN's parameters assume
	InSample *calibrate.Comparison `json:"in_sample,omitempty"`
	HeldOut  *calibrate.Comparison `json:"held_out,omitempty"`
	Gate     []calibrate.GateCheck `json:"gate,omitempty"`
}

// compareSplitRule decides how DATA's rows divide into in sample and held out: --holdout when
// given, else what REWRITTEN recorded about its calibration: DATA is its calibration file (split as
// recorded, or whole is "in_sample" when nothing was held out) or another file (whole is
// "held_out"). Without a record, nothing is known.
func compareSplitRule(cmd *cobra.Command, rewritten *onnx.ModelProto, f calibFlags) (rule *calibrate.HoldOut, whole string, err error) {
	if cmd.Flags().Changed("holdout") {
		rule := calibrate.HoldOut{Fraction: f.holdout, WholeBatches: fixedBatch(rewritten)}
		if err := rule.Validate(); err != nil {
			return nil, "", fmt.Errorf("--holdout: %w", err)
		}
		if rule.Fraction == 0 {
			return nil, "", nil
		}
		return &rule, "", nil
	}
	prov, ok, err := calibrate.ProvenanceOf(rewritten)
	switch {
	case err != nil || !ok || f.val != "" || prov.Data == "":
		return nil, "", err
	case prov.Data != filepath.Base(f.data):
		return nil, "held_out", nil
	case prov.HeldOut == nil:
		return nil, "in_sample", nil
	}
	return prov.HeldOut, "", nil
}
