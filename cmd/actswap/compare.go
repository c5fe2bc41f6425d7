package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/onnx"
)

func init() {
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
no element is finite in both, the comparison fails with exit status 4 (after printing).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.data == "" {
				return errors.New("no data: give --data DATA")
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
			cmp, err := calibrate.Compare(orig, rewritten, data, lab, f.threads)
			if err != nil {
				return fmt.Errorf("compare %s with %s: %w", args[1], args[0], err)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(cmp); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(w, "original      %s\nrewritten     %s\n", args[0], args[1])
				cmp.WriteText(w)
			}
			if err := cmp.CheckFinite(); err != nil {
				return &exitError{code: exitQualityFailed, err: fmt.Errorf("compare %s with %s: %w", args[1], args[0], err)}
			}
			return nil
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
	rootCmd.AddCommand(cmd)
}
