package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actswap/actswap/bench"
	"github.com/actswap/actswap/calibrate"
	"github.com/actswap/actswap/internal/outfile"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
	"github.com/spf13/cobra"
)

func newRunCmd() *cobra.Command {
	var (
		data    []string
		outDir  string
		threads int
		force   bool
		rows    int
	)
	cmd := &cobra.Command{
		Use:   "run MODEL --data DIR|FILE... --out DIR",
		Short: "Run a model on inputs from a data set folder, .npy, .npz or .pb files and write its outputs",
		Long: `Run MODEL with actswap's runtime and write each graph output K to DIR/output_K.pb
(a TensorProto named after the output). Existing files in DIR are replaced only with --force, and
never the files of a data set folder given as input: when a data set folder holds reference
outputs (output_K.pb), they are read before the run and the largest difference is printed.

Inputs (--data, repeatable; further paths after MODEL are data too):
  DIR         an ONNX test data set folder: input_K.pb is the K-th graph input
  FILE.npy    one array: the model's only input, or the input named like the file
  FILE.npz    arrays named after the inputs they feed
  FILE.pb     a TensorProto: the input it is named after, input_K.pb the K-th input,
              or the model's only input
  NAME=FILE   feed FILE (.npy or .pb) to input NAME

A single .npy or .npz streams through the model --batch-size rows at a time, and each output
is written as the batches come (memory: one batch, whatever the file's size). It is read as
rewrite --calib, calibrate and compare read data: numbers of any .npy type are converted to the
input's element type (floats to integers refused); rows are checked against the input's shape,
and only axes of size 1 may be added or dropped, or a row flattened for a one-axis input (a
layout with the same element count, NHWC for NCHW, is refused). Other inputs run whole, exactly
as given. Before a run, its tensor memory is estimated from runs on 1 and 2 rows, and a run that
would not fit in the available memory is refused.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data = append(data, args[1:]...)
			if len(data) == 0 {
				return fmt.Errorf("no inputs: give --data DIR|FILE")
			}
			if outDir == "" {
				return fmt.Errorf("no output folder: give --out DIR")
			}
			return runModel(cmd, args[0], data, outDir, threads, force, rows)
		},
	}
	cmd.Flags().StringArrayVar(&data, "data", nil, "input data: a data set folder, .npy, .npz or .pb file, or NAME=FILE (repeatable)")
	cmd.Flags().StringVar(&outDir, "out", "", "folder to write output_K.pb files into (created if missing)")
	cmd.Flags().IntVar(&threads, "threads", 0, "goroutines kernels may use (default: all cores)")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing output_K.pb files in --out (never an input)")
	cmd.Flags().IntVar(&rows, "batch-size", 256, "rows per run when streaming a single .npy or .npz")
	return cmd
}

func runModel(cmd *cobra.Command, modelPath string, data []string, outDir string, threads int, force bool, batchSize int) error {
	if err := checkCounts(countFlag{"batch-size", batchSize, 1}, countFlag{"threads", threads, 0}); err != nil {
		return err
	}
	m, err := onnx.LoadFile(modelPath)
	if err != nil {
		return err
	}
	start := time.Now()
	s, err := runtime.NewSession(m, runtime.WithThreads(threads))
	if err != nil {
		return fmt.Errorf("%s: %w", modelPath, err)
	}
	compileTime := time.Since(start)
	var outputs []outfile.Output
	for k := range s.Outputs() {
		outputs = append(outputs, outfile.Output{Flag: "--out", Path: runtime.OutputFile(outDir, k)})
	}
	rule := outfile.Rule{Force: force, Inputs: []string{modelPath}, MakeFolders: true}
	for _, arg := range data {
		rule.Inputs = append(rule.Inputs, dataArgPath(arg))
	}
	if err := checkOutputs(rule, outputs...); err != nil {
		return err
	}
	if path, ok := streamable(data); ok {
		return runStreamed(cmd.OutOrStdout(), s, path, outputs, batchSize, compileTime)
	}
	inputs := map[string]*tensor.Tensor{}
	var refs []reference
	for _, path := range data {
		if err := readRunData(s, path, inputs); err != nil {
			return err
		}
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			refs = append(refs, readReferences(s, path)...)
		}
	}
	if rows, ok := batchRows(inputs); ok {
		probe := func(n int) (map[string]*tensor.Tensor, error) { return firstRows(inputs, n) }
		if err := guardMemory(s, fmt.Sprintf("run on %d rows", rows), rows, probe); err != nil {
			return err
		}
	}
	start = time.Now()
	results, err := s.Run(inputs)
	if err != nil {
		return err
	}
	runTime := time.Since(start)

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	w := cmd.OutOrStdout()
	for _, in := range s.Inputs() {
		if t := inputs[in.Name]; t != nil {
			fmt.Fprintf(w, "input   %-24s %s\n", in.Name, describeValue(t))
		}
	}
	for k, o := range s.Outputs() {
		t := results[o.Name]
		path := outputs[k].Path
		if err := s.WriteOutputFile(k, path, t); err != nil {
			return err
		}
		fmt.Fprintf(w, "output  %-24s %-20s -> %s\n", o.Name, describeValue(t), path)
	}
	fmt.Fprintf(w, "compiled in %v, ran in %v\n", compileTime.Round(time.Microsecond), runTime.Round(time.Microsecond))
	for _, ref := range refs {
		ref.printDiff(w, results[ref.output])
	}
	return nil
}

// streamable returns the one .npy or .npz file data names, which run streams in batches.
func streamable(data []string) (string, bool) {
	if len(data) != 1 || dataArgPath(data[0]) != data[0] {
		return "", false
	}
	switch strings.ToLower(filepath.Ext(data[0])) {
	case ".npy", ".npz":
		return data[0], fileExists(data[0])
	}
	return "", false
}

// runStreamed runs the model on path batchSize rows at a time, appending each output's rows to a
// temporary file in the output folder and writing output_K.pb from it at the end, so memory
// holds one batch whatever the size of the data.
func runStreamed(w io.Writer, s *runtime.Session, path string, outputs []outfile.Output, batchSize int, compileTime time.Duration) (err error) {
	data, err := calibrate.OpenData(path, calibrate.SpecsFromSession(s), calibrate.ReaderOptions{Batch: batchSize})
	if err != nil {
		return err
	}
	defer data.Close()
	if err := os.MkdirAll(filepath.Dir(outputs[0].Path), 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	outs := s.Outputs()
	parts := make([]*streamedOutput, len(outs))
	defer func() {
		for _, p := range parts {
			if p != nil {
				p.file.Close()
				os.Remove(p.file.Name())
			}
		}
	}()
	rows, batches := 0, 0
	var runTime time.Duration
	for {
		batch, err := data.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n, ok := batchRows(batch)
		if !ok {
			return fmt.Errorf("%s: the inputs of a batch do not share a first axis; cannot stream", path)
		}
		if batches == 0 {
			probe := func(k int) (map[string]*tensor.Tensor, error) { return firstRows(batch, k) }
			if err := guardMemory(s, fmt.Sprintf("run in batches of %d rows", n), n, probe); err != nil {
				return err
			}
		}
		start := time.Now()
		res, err := s.Run(batch)
		runTime += time.Since(start)
		if err != nil {
			return fmt.Errorf("%s, rows %d to %d: %w", path, rows, rows+n-1, err)
		}
		for k, o := range outs {
			if parts[k], err = parts[k].add(outputs[k].Path, o.Name, res[o.Name], n); err != nil {
				return err
			}
		}
		rows += n
		batches++
	}
	for k, o := range outs {
		p := parts[k]
		if _, err := p.file.Seek(0, io.SeekStart); err != nil {
			return err
		}
		shape := append([]int{rows}, p.rowShape...)
		if err := tensor.WriteProtoFileFrom(outputs[k].Path, p.dtype, shape, o.Name, bufio.NewReader(p.file)); err != nil {
			return err
		}
		fmt.Fprintf(w, "output  %-24s %v%v -> %s\n", o.Name, p.dtype, shape, outputs[k].Path)
	}
	fmt.Fprintf(w, "%d rows from %s in %d batch(es)\ncompiled in %v, ran in %v, peak RSS %.1f MB\n", rows, path, batches,
		compileTime.Round(time.Microsecond), runTime.Round(time.Microsecond), bench.PeakRSSMB())
	return nil
}

// streamedOutput collects one output's rows, batch by batch, in a temporary file.
type streamedOutput struct {
	file     *os.File
	buf      *bufio.Writer
	dtype    tensor.DType
	rowShape []int
}

// add appends t, the output name of a batch of n rows, and returns the collector (created on the
// first batch, beside path).
func (p *streamedOutput) add(path, name string, t *tensor.Tensor, n int) (*streamedOutput, error) {
	if t == nil || ops.IsSequence(t) || ops.IsEmptyOptional(t) || isMapValue(t) || t.DType == tensor.String || t.DType.Size() <= 0 {
		return p, fmt.Errorf("output %q is %s; only numeric tensors can be streamed (give the inputs as a data set folder or .pb files to run them whole)", name, describeValue(t))
	}
	if t.Rank() == 0 || t.Shape[0] != n {
		return p, fmt.Errorf("output %q is %v for a batch of %d rows: its first axis is not the batch, so it cannot be streamed; run with --batch-size larger than the data's rows", name, t, n)
	}
	if p == nil {
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".rows-*")
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", name, err)
		}
		p = &streamedOutput{file: f, buf: bufio.NewWriter(f), dtype: t.DType, rowShape: slices.Clone(t.Shape[1:])}
	}
	if t.DType != p.dtype || !slices.Equal(t.Shape[1:], p.rowShape) {
		return p, fmt.Errorf("output %q: a batch gave %v, an earlier one %v rows of %v", name, t, p.dtype, p.rowShape)
	}
	if _, err := p.buf.Write(tensor.RawBytes(t)); err != nil {
		return p, fmt.Errorf("output %q: %w", name, err)
	}
	return p, p.buf.Flush()
}

// dataArgPath is the file or folder a --data argument reads (NAME=FILE reads FILE).
func dataArgPath(arg string) string {
	if name, path, named := strings.Cut(arg, "="); named && name != "" && !fileExists(arg) {
		return path
	}
	return arg
}

// reference is an expected output read from a data set folder before the run, so that nothing
// the run writes can stand in for it.
type reference struct {
	path   string
	output string
	want   *tensor.Tensor
	err    error
}

// readReferences reads the output_K.pb files a data set folder may hold, so a run on a
// backend-test or golden folder says at once how close it came.
func readReferences(s *runtime.Session, dir string) []reference {
	var refs []reference
	for k, o := range s.Outputs() {
		path := runtime.OutputFile(dir, k)
		if !fileExists(path) {
			continue
		}
		want, err := s.ReadOutputFile(k, path)
		refs = append(refs, reference{path: path, output: o.Name, want: want, err: err})
	}
	return refs
}

// printDiff prints the largest difference between the run's result got and the reference.
func (r reference) printDiff(w io.Writer, got *tensor.Tensor) {
	if r.err != nil {
		fmt.Fprintf(w, "reference %s: %v\n", r.path, r.err)
		return
	}
	if got == nil || ops.IsSequence(got) || ops.IsEmptyOptional(got) || isMapValue(got) || isMapValue(r.want) {
		return
	}
	if got.DType != r.want.DType || !tensor.SameShape(got.Shape, r.want.Shape) {
		fmt.Fprintf(w, "reference %s: is %v, the run gave %v\n", r.path, r.want, got)
		return
	}
	if diff, ok := maxAbsDiff(got, r.want); ok {
		fmt.Fprintf(w, "reference %s: max |difference| %.3g\n", r.path, diff)
	}
}

// describeValue prints a tensor as float32[1,10] and says what a sequence or empty optional is.
func describeValue(t *tensor.Tensor) string {
	if elems, ok := ops.AsSequence(t); ok {
		return fmt.Sprintf("sequence of %d", len(elems))
	}
	if m, ok := ops.AsMap(t); ok {
		return fmt.Sprintf("map of %d", m.Keys.Len())
	}
	if ops.IsEmptyOptional(t) {
		return "empty optional"
	}
	return t.String()
}

func isMapValue(t *tensor.Tensor) bool { _, ok := ops.AsMap(t); return ok }

// maxAbsDiff is the largest elementwise |a-b| of two float tensors of one shape.
func maxAbsDiff(a, b *tensor.Tensor) (float64, bool) {
	var worst float64
	switch x := a.Data.(type) {
	case []float32:
		y := b.Data.([]float32)
		for i := range x {
			worst = max(worst, math.Abs(float64(x[i])-float64(y[i])))
		}
	case []float64:
		y := b.Data.([]float64)
		for i := range x {
			worst = max(worst, math.Abs(x[i]-y[i]))
		}
	default:
		return 0, false
	}
	return worst, true
}

var inputFileIndex = regexp.MustCompile(`^input_(\d+)\.pb$`)

// readRunData adds the inputs one --data argument provides.
func readRunData(s *runtime.Session, arg string, inputs map[string]*tensor.Tensor) error {
	declared := s.Inputs()
	name, path, named := strings.Cut(arg, "=")
	if !named || fileExists(arg) {
		name, path, named = "", arg, false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("data %s: no such file or folder", path)
	}
	set := func(input string, t *tensor.Tensor) error {
		if _, dup := inputs[input]; dup {
			return fmt.Errorf("input %q is given twice (again by %s)", input, path)
		}
		inputs[input] = t
		return nil
	}
	if fi.IsDir() {
		if named {
			return fmt.Errorf("data %s: NAME=FILE needs a file, not a folder", arg)
		}
		got, err := s.ReadDataSetInputs(path)
		if err != nil {
			return err
		}
		if len(got) == 0 {
			return fmt.Errorf("data %s: no input_K.pb files in the folder", path)
		}
		for k, v := range got {
			if err := set(k, v); err != nil {
				return err
			}
		}
		return nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npz":
		if named {
			return fmt.Errorf("data %s: a .npz names its inputs itself; drop NAME=", arg)
		}
		names, arrays, err := tensor.ReadNpz(path)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := set(n, arrays[n]); err != nil {
				return err
			}
		}
		return nil
	case ".npy":
		t, err := tensor.ReadNpy(path)
		if err != nil {
			return err
		}
		if !named {
			if name, err = inputFor(declared, path, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), -1); err != nil {
				return err
			}
		}
		return set(name, t)
	case ".pb":
		t, stored, err := tensor.ReadProtoFile(path)
		if err != nil {
			return err
		}
		if !named {
			index := -1
			if m := inputFileIndex.FindStringSubmatch(filepath.Base(path)); m != nil {
				index, _ = strconv.Atoi(m[1])
			}
			if name, err = inputFor(declared, path, stored, index); err != nil {
				return err
			}
		}
		return set(name, t)
	}
	return fmt.Errorf("data %s: expected a data set folder or a .npy, .npz or .pb file", path)
}

// inputFor picks the graph input a single-array file feeds: the input named hint, else the
// index-th input, else the model's only input.
func inputFor(declared []runtime.ValueInfo, path, hint string, index int) (string, error) {
	for _, in := range declared {
		if in.Name == hint {
			return in.Name, nil
		}
	}
	if index >= 0 {
		if index >= len(declared) {
			return "", fmt.Errorf("data %s: the model has only %d inputs", path, len(declared))
		}
		return declared[index].Name, nil
	}
	if len(declared) == 1 {
		return declared[0].Name, nil
	}
	names := make([]string, len(declared))
	for i, in := range declared {
		names[i] = fmt.Sprintf("%s %s", in.Name, in)
	}
	return "", fmt.Errorf("data %s: cannot tell which input it feeds; name the file after an input or write NAME=%s (inputs: %s)",
		path, path, strings.Join(names, ", "))
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
