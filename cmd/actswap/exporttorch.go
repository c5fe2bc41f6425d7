package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/torchexport"
)

func newExportTorchCmd() *cobra.Command {
	var (
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "export-torch REWRITTEN -o DIR",
		Short: "Write a rewritten model's Zorro/PWLU/CRReLU sites as PyTorch modules, for fine-tuning",
		Long: `Write into folder DIR what a PyTorch user needs to continue from a rewritten (and calibrated)
model: ` + torchexport.ModuleFile + ` (torch.nn.Modules for Zorro, PWLU and CRReLU with trainable
parameters, and swap(model), which replaces the activation modules of the model that was exported
to ONNX in place), ` + torchexport.ParamsFile + ` (the parameters, keyed by site) and ` + torchexport.SitesFile + `
(each site's family, parameters and PyTorch module path, read from the exporter's node scopes).

    import sys; sys.path.insert(0, "DIR")
    import actswap_torch
    actswap_torch.swap(model)

swap refuses, changing nothing, when a site's module path does not resolve to an activation
module (e.g. a functional F.gelu call): the message names each such site. DIR is written whole or
not at all; an existing DIR is replaced only with --force and only if it holds an earlier export.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExportTorch(cmd.OutOrStdout(), args[0], out, force)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "folder to write (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace DIR if it holds an earlier export")
	return cmd
}

func runExportTorch(w io.Writer, in, out string, force bool) error {
	if out == "" {
		return errors.New("no output folder: give -o DIR")
	}
	m, err := onnx.LoadFile(in)
	if err != nil {
		return err
	}
	sites, err := torchexport.Write(out, m, Version, force)
	if err != nil {
		// Reworded here too, not only by the root command: tests call runExportTorch directly.
		return withFlagNames(fmt.Errorf("export-torch %s: %w", in, err))
	}
	fmt.Fprintf(w, "wrote %s: %d sites\n", out, len(sites))
	for _, s := range sites {
		module := s.Module
		if module == "" {
			module = "(no module scope: swap will refuse this site)"
		}
		fmt.Fprintf(w, "  %-40s %-6s channels=%-4d → %s\n", s.Name, s.Family, s.Channels, module)
	}
	return nil
}
