package calibrate

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// Comparison is how a rewritten model's outputs differ from the original's on a data set.
type Comparison struct {
	Outputs []OutputError `json:"outputs"`
	// Top1Agreement is the fraction of rows whose argmax over the last axis of the first output is
	// the same in both models.
	Top1Agreement float64   `json:"top1_agreement"`
	Accuracy      *Accuracy `json:"accuracy,omitempty"` // with labels
	Rows          int       `json:"rows"`
}

// OutputError compares one output over the whole data set.
type OutputError struct {
	Name     string  `json:"name"`
	MaxAbs   float64 `json:"max_abs_err"`
	RelL2    float64 `json:"rel_l2_err"` // ‖rewritten − original‖₂ / ‖original‖₂
	sumSqErr float64
	sumSqRef float64
}

// Accuracy is top-1 accuracy against labels.
type Accuracy struct {
	Original  float64 `json:"original"`
	Rewritten float64 `json:"rewritten"`
}

// Labels streams integer class labels from a .npy file, one per row.
type Labels struct {
	path   string
	stream *npyStream
}

// OpenLabels opens a 1-D (or N×1) integer .npy of labels.
func OpenLabels(path string) (*Labels, error) {
	l := &Labels{path: path}
	if err := l.Reset(); err != nil {
		return nil, err
	}
	return l, nil
}

// Reset starts again from the first label.
func (l *Labels) Reset() error {
	l.Close()
	f, err := os.Open(l.path)
	if err != nil {
		return fmt.Errorf("labels: %w", err)
	}
	s, err := openNpyStream(l.path, f, f)
	if err != nil {
		f.Close()
		return err
	}
	if s.elem.isFloat() || s.rowElems != 1 {
		f.Close()
		return fmt.Errorf("%s: labels must be integers, one per row; got %v of shape %v", l.path, s.elem, s.shape)
	}
	l.stream = s
	return nil
}

// Take returns the next n labels.
func (l *Labels) Take(n int) ([]int64, error) {
	t, err := l.stream.rows(n, tensor.Int64, nil)
	if err == io.EOF {
		return nil, fmt.Errorf("%s: fewer labels than data rows", l.path)
	}
	if err != nil {
		return nil, err
	}
	if t.Len() != n {
		return nil, fmt.Errorf("%s: fewer labels than data rows", l.path)
	}
	return t.I64(), nil
}

// Close releases the file.
func (l *Labels) Close() error {
	if l.stream == nil {
		return nil
	}
	err := l.stream.Close()
	l.stream = nil
	return err
}

// Compare runs both models on every batch of data and measures how far the rewritten model's
// outputs are from the original's; labels may be nil. Both models must have the same inputs and
// outputs.
func Compare(orig, rewritten *onnx.ModelProto, data Reader, labels *Labels, threads int) (*Comparison, error) {
	var ropts []runtime.Option
	if threads > 0 {
		ropts = append(ropts, runtime.WithThreads(threads))
	}
	a, err := runtime.NewSession(orig, ropts...)
	if err != nil {
		return nil, fmt.Errorf("original model: %w", err)
	}
	b, err := runtime.NewSession(rewritten, ropts...)
	if err != nil {
		return nil, fmt.Errorf("rewritten model: %w", err)
	}
	outs := a.Outputs()
	if len(outs) == 0 {
		return nil, errors.New("original model has no outputs")
	}
	var names []string
	for _, o := range outs {
		names = append(names, o.Name)
	}
	cmp := &Comparison{}
	for _, n := range names {
		cmp.Outputs = append(cmp.Outputs, OutputError{Name: n})
	}
	if err := data.Reset(); err != nil {
		return nil, err
	}
	if labels != nil {
		if err := labels.Reset(); err != nil {
			return nil, err
		}
	}
	var agree, rightA, rightB, rows int
	for batchNo := 0; ; batchNo++ {
		batch, err := data.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		ra, err := a.Run(batch, names...)
		if err != nil {
			return nil, fmt.Errorf("original model, batch %d: %w", batchNo, err)
		}
		rb, err := b.Run(batch, names...)
		if err != nil {
			return nil, fmt.Errorf("rewritten model, batch %d: %w", batchNo, err)
		}
		for i, n := range names {
			if err := cmp.Outputs[i].add(ra[n], rb[n]); err != nil {
				return nil, fmt.Errorf("output %q, batch %d: %w", n, batchNo, err)
			}
		}
		ta, err := argmaxLast(ra[names[0]])
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", names[0], err)
		}
		tb, _ := argmaxLast(rb[names[0]])
		var want []int64
		if labels != nil {
			if want, err = labels.Take(len(ta)); err != nil {
				return nil, err
			}
		}
		for r := range ta {
			if ta[r] == tb[r] {
				agree++
			}
			if want != nil {
				if int64(ta[r]) == want[r] {
					rightA++
				}
				if int64(tb[r]) == want[r] {
					rightB++
				}
			}
		}
		rows += len(ta)
	}
	if rows == 0 {
		return nil, errors.New("the comparison data hold no rows")
	}
	if labels != nil && labels.stream.rowsLeft > 0 {
		return nil, fmt.Errorf("%s: %d labels for %d data rows", labels.path, rows+labels.stream.rowsLeft, rows)
	}
	for i := range cmp.Outputs {
		o := &cmp.Outputs[i]
		switch {
		case o.sumSqRef > 0:
			o.RelL2 = math.Sqrt(o.sumSqErr / o.sumSqRef)
		case o.sumSqErr > 0:
			o.RelL2 = math.Inf(1)
		}
	}
	cmp.Rows = rows
	cmp.Top1Agreement = float64(agree) / float64(rows)
	if labels != nil {
		cmp.Accuracy = &Accuracy{Original: float64(rightA) / float64(rows), Rewritten: float64(rightB) / float64(rows)}
	}
	return cmp, nil
}

func (o *OutputError) add(ref, got *tensor.Tensor) error {
	if ref == nil || got == nil {
		return errors.New("missing from a model's results")
	}
	if !tensor.SameShape(ref.Shape, got.Shape) {
		return fmt.Errorf("shapes differ: original %v, rewritten %v", ref.Shape, got.Shape)
	}
	x, err := float64Values(ref)
	if err != nil {
		return err
	}
	y, err := float64Values(got)
	if err != nil {
		return err
	}
	for i := range x {
		d := y[i] - x[i]
		if math.IsNaN(d) && !(math.IsNaN(x[i]) && math.IsNaN(y[i])) {
			o.MaxAbs = math.Inf(1)
			continue
		}
		if math.IsNaN(d) || (math.IsInf(x[i], 0) && x[i] == y[i]) {
			continue
		}
		o.MaxAbs = math.Max(o.MaxAbs, math.Abs(d))
		o.sumSqErr += d * d
		o.sumSqRef += x[i] * x[i]
	}
	return nil
}

// float64Values widens any numeric tensor.
func float64Values(t *tensor.Tensor) ([]float64, error) {
	switch d := t.Data.(type) {
	case []float64:
		return d, nil
	case []int64:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out, nil
	case []int32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out, nil
	}
	f, err := float32Values(t)
	if err != nil {
		return nil, fmt.Errorf("cannot compare outputs of type %v", t.DType)
	}
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out, nil
}

// argmaxLast returns, for each row (every index but the last axis), the index of the largest value.
func argmaxLast(t *tensor.Tensor) ([]int, error) {
	if t.Rank() == 0 {
		return []int{0}, nil
	}
	v, err := float64Values(t)
	if err != nil {
		return nil, err
	}
	k := t.Shape[t.Rank()-1]
	if k == 0 {
		return nil, errors.New("empty last axis")
	}
	out := make([]int, len(v)/k)
	for r := range out {
		row := v[r*k : (r+1)*k]
		best := 0
		for j, x := range row {
			if x > row[best] {
				best = j
			}
		}
		out[r] = best
	}
	return out, nil
}
