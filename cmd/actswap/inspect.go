package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/rewrite"
	"github.com/spf13/cobra"
)

func newInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Summarize an ONNX model: IR version, producer, opsets, inputs/outputs, op counts, weights",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.OutOrStdout(), args[0], asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}

func runInspect(w io.Writer, path string, asJSON bool) error {
	m, err := onnx.LoadFile(path)
	if err != nil {
		return err
	}
	s := inspectSummary(m)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	return printSummary(w, path, s)
}

// inspectSummary is where inspect gathers its facts: summarize for the model itself, and
// s.Activations for the activation sites the rewrite stage finds.
func inspectSummary(m *onnx.ModelProto) summaryInfo {
	s := summarize(m)
	if sites, err := rewrite.Find(m); err == nil {
		acts := make([]inspectActivation, 0, len(sites))
		for _, site := range sites {
			acts = append(acts, inspectActivation{Node: site.Node, Kind: string(site.Kind), Pattern: site.Pattern, Blocked: site.Blocked})
		}
		s.Activations = acts
	}
	return s
}

// inspectActivation is one activation site as inspect lists it.
type inspectActivation struct {
	Node    string `json:"node"`
	Kind    string `json:"kind"`
	Pattern string `json:"pattern"`
	Blocked string `json:"blocked,omitempty"`
}

func printSummary(w io.Writer, path string, s summaryInfo) error {
	var b strings.Builder
	fmt.Fprintf(&b, "model         %s\n", path)
	fmt.Fprintf(&b, "ir_version    %d\n", s.IRVersion)
	fmt.Fprintf(&b, "producer      %s\n", inspectOrNone(s.Producer))
	var opsets []string
	for _, d := range inspectSortedKeys(s.Opsets) {
		opsets = append(opsets, fmt.Sprintf("%s %d", onnx.DomainDisplayName(d), s.Opsets[d]))
	}
	fmt.Fprintf(&b, "opsets        %s\n", inspectOrNone(strings.Join(opsets, ", ")))
	for _, side := range []struct {
		label  string
		values []valueSummary
	}{{"inputs", s.Inputs}, {"outputs", s.Outputs}} {
		fmt.Fprintf(&b, "%-13s %d\n", side.label, len(side.values))
		for _, v := range side.values {
			fmt.Fprintf(&b, "  %s  %s %s\n", v.Name, v.DType, inspectShapeText(v.Shape))
		}
	}
	fmt.Fprintf(&b, "nodes         %d\n", s.Nodes)
	var ops []string
	for _, op := range onnx.SortedOps(s.OpCounts) {
		ops = append(ops, fmt.Sprintf("%s %d", op, s.OpCounts[op]))
	}
	fmt.Fprintf(&b, "ops           %s\n", inspectOrNone(strings.Join(ops, ", ")))
	fmt.Fprintf(&b, "initializers  %d (%s)\n", s.Initializers, inspectByteCount(s.InitializerBytes))
	fmt.Fprintf(&b, "functions     %s\n", inspectOrNone(strings.Join(s.Functions, ", ")))
	if acts := s.Activations; acts != nil {
		fmt.Fprintf(&b, "activations   %d\n", len(acts))
		for _, a := range acts {
			fmt.Fprintf(&b, "  %s  %s (%s)", a.Node, a.Kind, a.Pattern)
			if a.Blocked != "" {
				fmt.Fprintf(&b, "  not replaceable: %s", a.Blocked)
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// inspectShapeText renders a shape as [batch,3,224,224], "?" for unknown dimensions and "[?]" for an
// unknown rank.
func inspectShapeText(shape []any) string {
	if shape == nil {
		return "[?]"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		if d == nil {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func inspectByteCount(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func inspectOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func inspectSortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
