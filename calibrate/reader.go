package calibrate

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// InputSpec is what a model input accepts: its name, element type and declared shape (-1 for a
// dimension that is not fixed; nil Shape for any rank).
type InputSpec struct {
	Name  string
	DType tensor.DType
	Shape []int
	// Symbols names the symbolic dimensions ("batch", "seq"; "" for a fixed or unnamed one), which
	// must have one size across all inputs.
	Symbols []string
}

// SpecsFromSession describes a session's inputs.
func SpecsFromSession(s *runtime.Session) []InputSpec {
	var specs []InputSpec
	for _, v := range s.Inputs() {
		spec := InputSpec{Name: v.Name, DType: v.DType}
		if v.Shape != nil {
			spec.Shape = make([]int, len(v.Shape))
			spec.Symbols = make([]string, len(v.Shape))
			for i, d := range v.Shape {
				spec.Shape[i] = d.Value
				spec.Symbols[i] = d.Param
			}
		}
		specs = append(specs, spec)
	}
	return specs
}

func (s InputSpec) String() string {
	if s.Shape == nil {
		return fmt.Sprintf("%q (%v)", s.Name, s.DType)
	}
	dims := make([]string, len(s.Shape))
	for i, d := range s.Shape {
		dims[i] = "?"
		if d >= 0 {
			dims[i] = fmt.Sprint(d)
		}
	}
	return fmt.Sprintf("%q (%v[%s])", s.Name, s.DType, strings.Join(dims, ","))
}

// Reader streams a data set in batches. Next returns one batch (input name → tensor whose first axis
// is the batch) and io.EOF after the last; Reset starts again from the beginning, for the
// calibrator's later passes.
type Reader interface {
	Next() (map[string]*tensor.Tensor, error)
	Reset() error
	Close() error
}

// ReaderOptions tunes how data are read; the zero value means the defaults.
type ReaderOptions struct {
	Batch int       // rows per batch, default 32 (a fixed batch dimension in the model wins)
	Size  [2]int    // images: height, width; default from the model's input shape
	Mean  []float64 // images: per-channel mean subtracted after scaling to [0, 1] (default 0)
	Std   []float64 // images: per-channel divisor (default 1)
}

// DefaultBatch is the number of rows per batch when none is given.
const DefaultBatch = 32

// OpenData opens a data set for a model with the given inputs. path may be a .npy file (the model's
// single input), a .npz archive (member names = input names), a folder in the ONNX backend-test
// layout (input_K.pb by input position, in the folder or in test_data_set_* subfolders: one batch
// per data set), or a folder of PNG/JPEG images (one image per row, NCHW float32).
func OpenData(path string, inputs []InputSpec, opts ReaderOptions) (Reader, error) {
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("model has no inputs to feed")
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if info.IsDir() {
		return openFolder(path, inputs, opts)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		if len(inputs) != 1 {
			return nil, fmt.Errorf("%s: a .npy file feeds one input, the model has %d (%s); use a .npz with one member per input", path, len(inputs), specNames(inputs))
		}
		r := &npyReader{path: path, spec: inputs[0], batch: opts.Batch}
		if err := r.Reset(); err != nil {
			return nil, err
		}
		return r, nil
	case ".npz":
		r := &npzReader{path: path, inputs: inputs, batch: opts.Batch}
		if err := r.Reset(); err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, fmt.Errorf("%s: unknown data format (want .npy, .npz, a backend-test folder or an image folder)", path)
}

func specNames(inputs []InputSpec) string { return strings.Join(specNameList(inputs), ", ") }

func specNameList(inputs []InputSpec) []string {
	names := make([]string, len(inputs))
	for i, s := range inputs {
		names[i] = s.Name
	}
	return names
}

// rowLayout decides how a file's rows feed an input: the shape of one row as the model wants it,
// and the batch size (a fixed leading dimension in the model overrides the requested one). When
// the model fixes every non-batch dimension, rows are reshaped only in the two ways that keep the
// meaning of every element: flattened into a model row of one axis (images saved as N×1×8×8
// feeding an MLP that takes N×64), or given or stripped axes of size 1 (N×8×8 for N×1×8×8). Any
// other reshape with the same element count is a different memory order — NHWC images for an
// NCHW model — and is refused, naming the file and the input.
func rowLayout(file string, spec InputSpec, fileRow []int, batch int) ([]int, int, error) {
	if !spec.DType.IsFloat() && spec.DType != tensor.Int64 && spec.DType != tensor.Int32 && spec.DType != tensor.Bool {
		return nil, 0, fmt.Errorf("%s: input %s has a type the data readers cannot fill", file, spec)
	}
	if spec.Shape == nil {
		return fileRow, batch, nil
	}
	if len(spec.Shape) == 0 {
		return nil, 0, fmt.Errorf("%s: input %s is a scalar; data files hold batches", file, spec)
	}
	if spec.Shape[0] > 0 {
		batch = spec.Shape[0]
	}
	want := spec.Shape[1:]
	fits := len(want) == len(fileRow)
	for i := 0; fits && i < len(want); i++ {
		fits = want[i] < 0 || want[i] == fileRow[i]
	}
	if fits {
		return fileRow, batch, nil
	}
	fixed, n := true, 1
	for _, d := range want {
		fixed = fixed && d >= 0
		n *= max(d, 0)
	}
	if fixed && n == tensor.NumElements(fileRow) {
		if len(want) == 1 || slices.Equal(withoutUnitAxes(want), withoutUnitAxes(fileRow)) {
			return append([]int(nil), want...), batch, nil
		}
		return nil, 0, fmt.Errorf("%s: rows of shape %v do not fit input %s: the same number of elements in another layout (NHWC data for an NCHW model?); transpose the data to the model's layout", file, fileRow, spec)
	}
	return nil, 0, fmt.Errorf("%s: rows of shape %v do not fit input %s", file, fileRow, spec)
}

// symbolSize is the size a symbolic dimension took, and in which file.
type symbolSize struct {
	size int
	file string
}

// bindSymbols checks that the symbolic dimensions of spec (other than the rows, which are checked
// apart) take in a file of the given shape the sizes they took in earlier files.
func bindSymbols(bound map[string]symbolSize, file string, spec InputSpec, shape []int) error {
	if len(spec.Symbols) != len(shape) {
		return nil // rank mismatch: rowLayout says so
	}
	for i := 1; i < len(shape); i++ {
		sym := spec.Symbols[i]
		if sym == "" {
			continue
		}
		if prev, ok := bound[sym]; ok && prev.size != shape[i] {
			return fmt.Errorf("%s: dimension %q of input %s is %d here but %d in %s", file, sym, spec, shape[i], prev.size, prev.file)
		}
		bound[sym] = symbolSize{shape[i], file}
	}
	return nil
}

// withoutUnitAxes is shape without its dimensions of size 1.
func withoutUnitAxes(shape []int) []int {
	var out []int
	for _, d := range shape {
		if d != 1 {
			out = append(out, d)
		}
	}
	return out
}

// npyReader feeds one input from a .npy file.
type npyReader struct {
	path     string
	spec     InputSpec
	batch    int
	stream   *npyStream
	rowShape []int
}

func (r *npyReader) Reset() error {
	if r.stream != nil {
		r.stream.Close()
		r.stream = nil
	}
	f, err := os.Open(r.path)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	s, err := openNpyStream(r.path, f, f)
	if err != nil {
		f.Close()
		return fmt.Errorf("input %q: %w", r.spec.Name, err)
	}
	rowShape, batch, err := rowLayout(r.path, r.spec, s.shape[1:], r.batch)
	if err != nil {
		f.Close()
		return err
	}
	if s.shape[0] == 0 {
		f.Close()
		return fmt.Errorf("%s: no rows for input %q", r.path, r.spec.Name)
	}
	r.stream, r.rowShape, r.batch = s, rowShape, batch
	return nil
}

func (r *npyReader) Next() (map[string]*tensor.Tensor, error) {
	t, err := r.stream.rows(r.batch, r.spec.DType, r.rowShape)
	if err != nil {
		if err == io.EOF {
			return nil, err
		}
		return nil, fmt.Errorf("input %q: %w", r.spec.Name, err)
	}
	return map[string]*tensor.Tensor{r.spec.Name: t}, nil
}

func (r *npyReader) Close() error {
	if r.stream == nil {
		return nil
	}
	err := r.stream.Close()
	r.stream = nil
	return err
}

// npzReader feeds every input from the member of the same name, all advancing together.
type npzReader struct {
	path    string
	inputs  []InputSpec
	batch   int
	archive *zip.ReadCloser
	streams []*npyStream
	shapes  [][]int
}

func (r *npzReader) Reset() error {
	r.Close()
	z, err := zip.OpenReader(r.path)
	if err != nil {
		return fmt.Errorf("%s: not a readable .npz archive: %w", r.path, err)
	}
	r.archive = z
	members := map[string]*zip.File{}
	for _, f := range z.File {
		members[strings.TrimSuffix(f.Name, ".npy")] = f
	}
	rows := -1
	batch := r.batch
	bound := map[string]symbolSize{} // symbolic dimension → its size in the first member that has it
	for _, spec := range r.inputs {
		f, ok := members[spec.Name]
		if !ok {
			r.Close()
			return fmt.Errorf("%s: no member %q for input %s", r.path, spec.Name+".npy", spec)
		}
		rc, err := f.Open()
		if err != nil {
			r.Close()
			return fmt.Errorf("%s: member %s: %w", r.path, f.Name, err)
		}
		name := r.path + ":" + f.Name
		s, err := openNpyStream(name, rc, rc)
		if err != nil {
			rc.Close()
			r.Close()
			return fmt.Errorf("input %q: %w", spec.Name, err)
		}
		r.streams = append(r.streams, s)
		if err := bindSymbols(bound, name, spec, s.shape); err != nil {
			r.Close()
			return err
		}
		shape, b, err := rowLayout(name, spec, s.shape[1:], r.batch)
		if err != nil {
			r.Close()
			return err
		}
		if b != r.batch {
			batch = b
		}
		r.shapes = append(r.shapes, shape)
		if rows >= 0 && s.shape[0] != rows {
			r.Close()
			return fmt.Errorf("%s: member %s has %d rows, the others %d", r.path, f.Name, s.shape[0], rows)
		}
		rows = s.shape[0]
	}
	if rows == 0 {
		r.Close()
		return fmt.Errorf("%s: no rows", r.path)
	}
	r.batch = batch
	return nil
}

func (r *npzReader) Next() (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	for i, spec := range r.inputs {
		t, err := r.streams[i].rows(r.batch, spec.DType, r.shapes[i])
		if err != nil {
			if err == io.EOF {
				return nil, err
			}
			return nil, fmt.Errorf("input %q: %w", spec.Name, err)
		}
		out[spec.Name] = t
	}
	return out, nil
}

func (r *npzReader) Close() error {
	for _, s := range r.streams {
		s.Close()
	}
	r.streams, r.shapes = nil, nil
	if r.archive != nil {
		err := r.archive.Close()
		r.archive = nil
		return err
	}
	return nil
}

// openFolder tells a backend-test folder from an image folder.
func openFolder(dir string, inputs []InputSpec, opts ReaderOptions) (Reader, error) {
	sets, err := backendDataSets(dir)
	if err != nil {
		return nil, err
	}
	if len(sets) > 0 {
		return &protoSetReader{dir: dir, sets: sets, inputs: inputs}, nil
	}
	images, err := imageFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("%s: no input_K.pb, test_data_set_* folders or PNG/JPEG images for input %q", dir, inputs[0].Name)
	}
	return newImageReader(dir, images, inputs, opts)
}

// backendDataSets lists the folders holding input_K.pb files: dir itself, or its test_data_set_*.
func backendDataSets(dir string) ([]string, error) {
	if matches, _ := filepath.Glob(filepath.Join(dir, "input_*.pb")); len(matches) > 0 {
		return []string{dir}, nil
	}
	sets, err := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range sets {
		if matches, _ := filepath.Glob(filepath.Join(s, "input_*.pb")); len(matches) > 0 {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out, nil
}
