package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/internal/outfile"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
)

// demoModel is the bundled model the demo rewrites, relative to the models folder.
const demoModel = "digits_vit/model.onnx"

func newDemoCmd() *cobra.Command {
	var (
		modelsDir, outDir, to string
		force                 bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Rewrite the bundled digits ViT's GELUs to PWLU, calibrate, compare and write an HTML report",
		Long: `The whole pipeline on the bundled digits ViT (models/digits_vit): rewrite its GELUs to PWLU,
calibrate them on models/digits_data/calib_x.npy, compare with the original on test_x.npy and
test_y.npy, and write the calibrated model and an HTML report to a new temporary folder (or --out;
existing files there are replaced only with --force).
The models folder is found by walking up from the working directory and from the executable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.OutOrStdout(), modelsDir, outDir, to, force)
		},
	}
	cmd.Flags().StringVar(&modelsDir, "models", "", "the bundled models folder (default: found from the working directory)")
	cmd.Flags().StringVar(&outDir, "out", "", "folder for the model and report (default: a new temporary folder)")
	cmd.Flags().StringVar(&to, "to", "pwlu", "replacement: pwlu, zorro, crrelu or auto")
	cmd.Flags().BoolVar(&force, "force", false, "replace the model and report in --out if they exist")
	return cmd
}

// findModelsDir walks up from the working directory, then from the executable, to a folder holding
// models/digits_vit/model.onnx.
func findModelsDir() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			candidate := filepath.Join(dir, "models")
			if _, err := os.Stat(filepath.Join(candidate, demoModel)); err == nil {
				return candidate, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("bundled models not found: run from the actswap checkout or give --models DIR")
}

func runDemo(w io.Writer, modelsDir, outDir, to string, force bool) error {
	var err error
	if modelsDir == "" {
		if modelsDir, err = findModelsDir(); err != nil {
			return err
		}
	}
	opts := calibrate.Options{Version: Version}
	if to == "auto" {
		opts.To = calibrate.Auto
	} else if opts.To, err = parseFamilyFlag(to); err != nil {
		return err
	}
	modelPath := filepath.Join(modelsDir, demoModel)
	dataDir := filepath.Join(modelsDir, "digits_data")
	m, err := onnx.LoadFile(modelPath)
	if err != nil {
		return err
	}
	if outDir == "" {
		if outDir, err = os.MkdirTemp("", "actswap-demo-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	outModel := filepath.Join(outDir, "digits_vit_"+string(opts.To)+".onnx")
	outHTML := filepath.Join(outDir, "report.html")
	err = checkOutputs(outfile.Rule{Force: force, Inputs: []string{modelPath, dataDir}},
		outfile.Output{Flag: "model", Path: outModel}, outfile.Output{Flag: "report", Path: outHTML})
	if err != nil {
		return err
	}
	f := calibFlags{batch: 64}
	calib, err := openModelData(m, filepath.Join(dataDir, "calib_x.npy"), f)
	if err != nil {
		return err
	}
	defer calib.Close()
	fmt.Fprintf(w, "model         %s\nrewrite       GELU → %s, calibrated on %s\n", modelPath, describeTo(opts.To), filepath.Join(dataDir, "calib_x.npy"))
	start := time.Now()
	tick, done := progress("calibrating")
	opts.OnBatch = tick
	rule := calibrate.HoldOut{Fraction: calibrate.DefaultHeldOut}
	fit, heldOut := rule.Split(calib)
	opts.HeldOut, opts.HeldOutFrom = heldOut, rule.Describe("calib_x.npy")
	res, err := calibrate.Calibrate(m, fit, opts)
	done()
	if err != nil {
		return fmt.Errorf("calibrate %s: %w", modelPath, err)
	}
	calibTime := time.Since(start)
	test, err := openModelData(m, filepath.Join(dataDir, "test_x.npy"), f)
	if err != nil {
		return err
	}
	defer test.Close()
	labels, err := calibrate.OpenLabels(filepath.Join(dataDir, "test_y.npy"))
	if err != nil {
		return err
	}
	defer labels.Close()
	cmp, err := calibrate.Compare(m, res.Model, test, labels, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "calibration   %d sites in %.2fs\n\n", len(res.Sites), calibTime.Seconds())
	if err := calibrate.MeasureSensitivity(m, res, heldOut, 0); err != nil {
		return fmt.Errorf("per-site sensitivity: %w", err)
	}
	rep := reportWithFlagNames(calibrate.NewReport(modelPath, res, cmp, opts))
	rep.WriteText(w)

	if err := onnx.SaveFile(res.Model, outModel, onnx.RefuseOverwrite(modelPath)); err != nil {
		return err
	}
	err = outfile.Write(outHTML, func(hw io.Writer) error {
		return rep.WriteHTML(hw, "actswap demo: digits ViT, GELU → "+describeTo(opts.To), res)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote         %s\nreport        %s\n", outModel, outHTML)
	return nil
}

func describeTo(f onnxops.Family) string {
	if f == calibrate.Auto {
		return "best family per site"
	}
	return string(f)
}
