package main

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/internal/outfile"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
)

// rewriteFlags are the options of `actswap rewrite`.
type rewriteFlags struct {
	out, to, match, nodes, exclude string
	force, keepBias                bool
	calib                          calibFlags // --calib and its tuning flags (calibrate.go)
	calibOnlyGiven                 []string   // calibOnlyFlags given on the command line
}

// uncalibratedNotice is what `rewrite` without calibration data says in its output and records in
// the model (calibrate.Provenance), for `actswap compare` to repeat.
const uncalibratedNotice = "uncalibrated: the parameters assume every site's inputs are distributed like N(0, 1); " +
	"real pre-activations rarely are (vit_tiny: rel-L2 0.048 uncalibrated, 0.0044 calibrated). " +
	"Calibrate with --calib DATA, or run 'actswap calibrate' on the output."

func newRewriteCmd() *cobra.Command {
	var f rewriteFlags
	cmd := &cobra.Command{
		Use:   "rewrite MODEL -o OUT",
		Short: "Replace ReLU/GELU activations with ai.actswap Zorro, PWLU or CRReLU nodes",
		Long: `Find the ReLU and GELU activations of MODEL (Relu, Gelu, erf and tanh GELU chains in every
operand order, com.microsoft Gelu/FastGelu/BiasGelu/QuickGelu) and replace each with one ai.actswap
node, writing the result to OUT. Without --calib the parameters are the uncalibrated defaults
(exact for ReLU with pwlu and crrelu; see the rewrite package documentation for their GELU error);
with --calib DATA they are fitted to the activations that DATA produces.

With --calib, a share of the rows (--holdout, default 25%) or --val DATA is held out: the fits never
see it, the candidate results (uncalibrated defaults, fits, --sequential's choices) are compared
end to end on it and the best is kept, and the reports give in-sample and held-out errors. A family
that cannot follow a site's activation (CRReLU on GELU) is flagged per site and end to end.

Sites whose intermediate values are used elsewhere are skipped, with the reason. Exit status 3
means nothing was replaced and nothing was written; 4 that a quality gate (--max-rel-l2,
--min-agreement) was missed on the held-out rows, the outputs being written all the same.

` + dataHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.calibOnlyGiven = nil // f outlives a run when the command tree is reused (tests)
			for _, name := range calibOnlyFlags {
				if cmd.Flags().Changed(name) {
					f.calibOnlyGiven = append(f.calibOnlyGiven, name)
				}
			}
			return runRewrite(cmd.OutOrStdout(), args[0], f)
		},
	}
	cmd.Flags().StringVarP(&f.out, "output", "o", "", "where to write the rewritten model (required)")
	cmd.Flags().StringVar(&f.to, "to", "pwlu", "replacement: pwlu, zorro or crrelu")
	cmd.Flags().StringVar(&f.match, "match", "relu,gelu", "activation kinds to replace: relu, gelu (all GELU forms), gelu_tanh, quick_gelu")
	cmd.Flags().StringVar(&f.nodes, "nodes", "", "only replace sites with a node whose name matches this regular expression")
	cmd.Flags().StringVar(&f.exclude, "exclude", "", "never replace sites with a node whose name matches this regular expression")
	cmd.Flags().BoolVar(&f.force, "force", false, "overwrite OUT if it exists (never the input model)")
	cmd.Flags().BoolVar(&f.keepBias, "keep-bias", false, "keep a constant bias Add in front of a site instead of absorbing it into the new node's parameters (PWLU bounds, ungated Zorro in_shift; exact)")
	addRewriteCalibFlags(cmd, &f.calib)
	return cmd
}

// parseFamilyFlag accepts the lower-case family names of the command line.
func parseFamilyFlag(s string) (onnxops.Family, error) {
	for _, fam := range onnxops.Families {
		if strings.EqualFold(s, string(fam)) {
			return fam, nil
		}
	}
	return "", fmt.Errorf("--to %q: want pwlu, zorro or crrelu", s)
}

func rewriteOptions(f rewriteFlags) (rewrite.Options, error) {
	opts := rewrite.Options{Version: Version, KeepBias: f.keepBias}
	var err error
	if opts.To, err = parseFamilyFlag(f.to); err != nil {
		return opts, err
	}
	if opts.Match, err = rewrite.ParseKinds(f.match); err != nil {
		return opts, fmt.Errorf("--match: %w", err)
	}
	for _, re := range []struct {
		flag, expr string
		dst        **regexp.Regexp
	}{{"--nodes", f.nodes, &opts.Nodes}, {"--exclude", f.exclude, &opts.Exclude}} {
		if re.expr == "" {
			continue
		}
		if *re.dst, err = regexp.Compile(re.expr); err != nil {
			return opts, fmt.Errorf("%s: %w", re.flag, err)
		}
	}
	return opts, nil
}

func runRewrite(w io.Writer, in string, f rewriteFlags) error {
	if f.calib.data != "" {
		return runCalibratedRewrite(w, in, f)
	}
	// Calibration flags without --calib would be silently ignored: refuse them instead, after
	// checking their values, so that a typo is reported either way.
	if _, err := f.calib.options(); err != nil {
		return err
	}
	if _, err := f.calib.readerOptions(); err != nil {
		return err
	}
	if len(f.calibOnlyGiven) > 0 {
		return fmt.Errorf("--%s only applies with --calib DATA (without it nothing is fitted or measured)", f.calibOnlyGiven[0])
	}
	if strings.EqualFold(f.to, "auto") {
		return errors.New("--to auto chooses a family per site from data: give --calib DATA")
	}
	opts, err := rewriteOptions(f)
	if err != nil {
		return err
	}
	if f.out == "" {
		return errors.New("no output path: give -o OUT")
	}
	if err := checkOutputs(outfile.Rule{Force: f.force, Inputs: []string{in}}, outfile.Output{Flag: "-o", Path: f.out}); err != nil {
		return err
	}
	m, err := onnx.LoadFile(in)
	if err != nil {
		return err
	}
	out, rep, err := rewrite.Apply(m, opts)
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", in, err)
	}
	if len(rep.Found) > 0 {
		printRewriteReport(w, in, rep)
	}
	if misses, err := rewrite.Trace(m); err == nil && len(misses) > 0 {
		fmt.Fprintf(w, "not matched   %d\n", len(misses))
		for _, miss := range misses {
			fmt.Fprintf(w, "  %s (%s): %s\n", miss.Node, miss.OpType, miss.Reason)
		}
	}
	if len(rep.Found) == 0 {
		return &exitError{code: exitNothingToDo, err: fmt.Errorf("no ReLU or GELU activations found in %s; nothing written", in)}
	}
	if len(rep.Replaced) == 0 {
		return &exitError{code: exitNothingToDo, err: fmt.Errorf("none of the %d activation sites in %s was replaced; nothing written", len(rep.Found), in)}
	}
	gaussian := assumesGaussianInputs(rep)
	if gaussian {
		// Recorded in the model too, so that `actswap compare` can say it.
		if err := calibrate.SetProvenance(out, calibrate.Provenance{Uncalibrated: uncalibratedNotice}); err != nil {
			return err
		}
	}
	if err := onnx.SaveFile(out, f.out, onnx.RefuseOverwrite(in)); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote         %s (%d %s node(s), ir_version %d)\n", f.out, len(rep.Replaced), rep.To, out.GetIrVersion())
	if gaussian {
		fmt.Fprintf(w, "note          %s\n", uncalibratedNotice)
	}
	return nil
}

// assumesGaussianInputs says whether a rewrite with default parameters depends on the inputs'
// distribution: the defaults of GELU sites are fitted for N(0,1) inputs, those of ReLU sites are
// exact (PWLU, CRReLU) or within 1e-5 (Zorro) whatever the inputs.
func assumesGaussianInputs(rep rewrite.Report) bool {
	for _, r := range rep.Replaced {
		if r.Site.Kind != rewrite.KindReLU {
			return true
		}
	}
	return false
}

func printRewriteReport(w io.Writer, in string, rep rewrite.Report) {
	fmt.Fprintf(w, "model         %s\n", in)
	byPattern := rep.FoundByPattern()
	var found []string
	for _, p := range inspectSortedKeys(byPattern) {
		found = append(found, fmt.Sprintf("%s %d", p, byPattern[p]))
	}
	fmt.Fprintf(w, "found         %d (%s)\n", len(rep.Found), inspectOrNone(strings.Join(found, ", ")))
	fmt.Fprintf(w, "replaced      %d with %s:%s\n", len(rep.Replaced), onnxops.Domain, rep.To)
	for _, r := range rep.Replaced {
		fmt.Fprintf(w, "  %s  %s (%s) -> %s\n", siteLabel(r.Site), r.Site.Pattern, r.Site.Kind, r.Node)
		switch {
		case r.AbsorbedBias != nil:
			fmt.Fprintf(w, "    absorbed bias %s (%d channel(s), axis %d)\n", r.AbsorbedBias.Node, r.AbsorbedBias.Channels, r.AbsorbedBias.Axis)
		case r.BiasKept != "":
			fmt.Fprintf(w, "    bias kept: %s\n", r.BiasKept)
		}
	}
	fmt.Fprintf(w, "skipped       %d\n", len(rep.Skipped))
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "  %s  %s: %s\n", siteLabel(s.Site), s.Site.Pattern, flagWording.Replace(s.Reason))
	}
}

// siteLabel names a site by its output node, or by its output value when the node is unnamed.
func siteLabel(s rewrite.Site) string {
	if s.Node != "" {
		return s.Node
	}
	return "(unnamed, output " + s.Output + ")"
}
