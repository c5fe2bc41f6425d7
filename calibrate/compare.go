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
	Name   string  `json:"name"`
	MaxAbs float64 `json:"max_abs_err"`
	RelL2  float64 `json:"rel_l2_err"` // ‖rewritten − original‖₂ / ‖original‖₂
	// Top1Agreement is the fraction of rows whose argmax over this output's last axis is the same
	// in both models.
	Top1Agreement float64 `json:"top1_agreement"`
	sumSqErr      float64
	sumSqRef      float64
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
	all, _, _, err := compareRows(orig, rewritten, data, labels, threads, nil)
	return all, err
}

// CompareSplit is Compare that also tells the rows of data apart by rule, in the same pass: all
// rows, the rows rule keeps for fitting (in sample) and the rows it holds out. A side with no rows
// is nil.
func CompareSplit(orig, rewritten *onnx.ModelProto, data Reader, labels *Labels, threads int, rule HoldOut) (all, inSample, heldOut *Comparison, err error) {
	return compareRows(orig, rewritten, data, labels, threads, &rule)
}

func compareRows(orig, rewritten *onnx.ModelProto, data Reader, labels *Labels, threads int, rule *HoldOut) (all, inSample, heldOut *Comparison, err error) {
	var ropts []runtime.Option
	if threads > 0 {
		ropts = append(ropts, runtime.WithThreads(threads))
	}
	a, err := runtime.NewSession(orig, ropts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("original model: %w", err)
	}
	b, err := runtime.NewSession(rewritten, ropts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("rewritten model: %w", err)
	}
	outs := a.Outputs()
	if len(outs) == 0 {
		return nil, nil, nil, errors.New("original model has no outputs")
	}
	var names []string
	for _, o := range outs {
		names = append(names, o.Name)
	}
	tAll, tIn, tOut := newTally(names), newTally(names), newTally(names)
	if err := data.Reset(); err != nil {
		return nil, nil, nil, err
	}
	if labels != nil {
		if err := labels.Reset(); err != nil {
			return nil, nil, nil, err
		}
	}
	unit := 0
	for batchNo := 0; ; batchNo++ {
		batch, err := data.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, nil, err
		}
		ra, err := a.Run(batch, names...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("original model, batch %d: %w", batchNo, err)
		}
		rb, err := b.Run(batch, names...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("rewritten model, batch %d: %w", batchNo, err)
		}
		var want []int64
		if labels != nil {
			if want, err = labels.Take(rowsOf(batch)); err != nil {
				return nil, nil, nil, err
			}
		}
		if err := tAll.add(ra, rb, want); err != nil {
			return nil, nil, nil, fmt.Errorf("batch %d: %w", batchNo, err)
		}
		if rule == nil {
			continue
		}
		n := rowsOf(batch)
		var in, out []int
		for r := range n {
			u := unit + r
			if rule.WholeBatches {
				u = batchNo
			}
			if rule.heldOut(u) {
				out = append(out, r)
			} else {
				in = append(in, r)
			}
		}
		unit += n
		for _, side := range []struct {
			t    *tally
			rows []int
		}{{tIn, in}, {tOut, out}} {
			if len(side.rows) == 0 {
				continue
			}
			sa, sb, sw, err := selectResultRows(ra, rb, want, n, side.rows)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("batch %d: %w", batchNo, err)
			}
			if err := side.t.add(sa, sb, sw); err != nil {
				return nil, nil, nil, fmt.Errorf("batch %d: %w", batchNo, err)
			}
		}
	}
	if tAll.rows == 0 {
		return nil, nil, nil, errors.New("the comparison data hold no rows")
	}
	if labels != nil && labels.stream.rowsLeft > 0 {
		return nil, nil, nil, fmt.Errorf("%s: %d labels for %d data rows", labels.path, tAll.rows+labels.stream.rowsLeft, tAll.rows)
	}
	return tAll.finish(labels != nil), tIn.finish(labels != nil), tOut.finish(labels != nil), nil
}

// selectResultRows keeps the given rows of both models' outputs and of the labels.
func selectResultRows(ra, rb map[string]*tensor.Tensor, want []int64, n int, rows []int) (sa, sb map[string]*tensor.Tensor, sw []int64, err error) {
	sa, sb = map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	for _, side := range []struct{ from, to map[string]*tensor.Tensor }{{ra, sa}, {rb, sb}} {
		for name, t := range side.from {
			if side.to[name], err = selectRows(t, n, rows); err != nil {
				return nil, nil, nil, fmt.Errorf("output %q cannot be split into rows: %w", name, err)
			}
		}
	}
	if want != nil {
		for _, r := range rows {
			sw = append(sw, want[r])
		}
	}
	return sa, sb, sw, nil
}

// tally accumulates a comparison batch by batch.
type tally struct {
	names                []string
	cmp                  Comparison
	agree, argmaxRows    []int // per output: rows (every index but the last axis) that agree, of
	rightA, rightB, rows int   // rows of the data; labels matched by each model
}

func newTally(names []string) *tally {
	t := &tally{names: names, agree: make([]int, len(names)), argmaxRows: make([]int, len(names))}
	for _, n := range names {
		t.cmp.Outputs = append(t.cmp.Outputs, OutputError{Name: n})
	}
	return t
}

// add compares one batch of both models' outputs; want holds its labels, or is nil.
func (t *tally) add(ra, rb map[string]*tensor.Tensor, want []int64) error {
	var first []int
	for i, n := range t.names {
		if err := t.cmp.Outputs[i].add(ra[n], rb[n]); err != nil {
			return fmt.Errorf("output %q: %w", n, err)
		}
		ta, err := argmaxLast(ra[n])
		if err != nil {
			if i == 0 {
				return fmt.Errorf("output %q: %w", n, err)
			}
			continue // no top-1 for this output
		}
		tb, _ := argmaxLast(rb[n])
		for r := range ta {
			if ta[r] == tb[r] {
				t.agree[i]++
			}
		}
		t.argmaxRows[i] += len(ta)
		if i == 0 {
			first = ta
			if want != nil && len(want) != len(ta) {
				return fmt.Errorf("output %q has %d rows to classify, the batch %d labels", n, len(ta), len(want))
			}
			for r := range want {
				if int64(ta[r]) == want[r] {
					t.rightA++
				}
				if int64(tb[r]) == want[r] {
					t.rightB++
				}
			}
		}
	}
	t.rows += len(first)
	return nil
}

// finish turns the sums into a comparison; nil when no row was added.
func (t *tally) finish(withLabels bool) *Comparison {
	if t.rows == 0 {
		return nil
	}
	cmp := t.cmp
	cmp.Outputs = append([]OutputError(nil), t.cmp.Outputs...)
	for i := range cmp.Outputs {
		o := &cmp.Outputs[i]
		switch {
		case o.sumSqRef > 0:
			o.RelL2 = math.Sqrt(o.sumSqErr / o.sumSqRef)
		case o.sumSqErr > 0:
			o.RelL2 = math.Inf(1)
		}
		if t.argmaxRows[i] > 0 {
			o.Top1Agreement = float64(t.agree[i]) / float64(t.argmaxRows[i])
		}
	}
	cmp.Rows = t.rows
	cmp.Top1Agreement = cmp.Outputs[0].Top1Agreement
	if withLabels {
		cmp.Accuracy = &Accuracy{Original: float64(t.rightA) / float64(t.rows), Rewritten: float64(t.rightB) / float64(t.rows)}
	}
	return &cmp
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
