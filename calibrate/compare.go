package calibrate

import (
	"encoding/json"
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

// OutputError compares one output over the whole data set. MaxAbs and RelL2 are measured over
// the elements that are finite in both models; an element that is finite in one model and not in
// the other, or NaN against ±Inf, makes both +Inf; when no element is finite in both, nothing was
// measured and both are NaN — never 0, which would read as a perfect match.
type OutputError struct {
	Name      string          `json:"name"`
	MaxAbs    float64         `json:"max_abs_err"`
	RelL2     float64         `json:"rel_l2_err"` // ‖rewritten − original‖₂ / ‖original‖₂
	NonFinite NonFiniteCounts `json:"non_finite"`
	// Top1Agreement is the fraction of rows whose argmax over this output's last axis is the same
	// in both models (a row holding NaN agrees with nothing).
	Top1Agreement float64 `json:"top1_agreement"`
	sumSqErr      float64
	sumSqRef      float64
	compared      int // elements finite in both models
}

// NonFiniteCounts counts the NaN and ±Inf elements of one output in each model.
type NonFiniteCounts struct {
	OriginalNaN  int `json:"original_nan"`
	OriginalInf  int `json:"original_inf"`
	RewrittenNaN int `json:"rewritten_nan"`
	RewrittenInf int `json:"rewritten_inf"`
	// Introduced counts the elements finite in the original and NaN or ±Inf in the rewritten model.
	Introduced int `json:"introduced"`
}

// MarshalJSON writes the errors as numbers when finite and as the strings "NaN", "Infinity" and
// "-Infinity" otherwise (encoding/json refuses non-finite numbers). The other fields are written
// as their tags say: the outer fields shadow the embedded ones of the same JSON name.
func (o OutputError) MarshalJSON() ([]byte, error) {
	type fields OutputError // without this method
	return json.Marshal(struct {
		fields
		MaxAbs tensor.JSONFloat64 `json:"max_abs_err"`
		RelL2  tensor.JSONFloat64 `json:"rel_l2_err"`
	}{fields(o), tensor.JSONFloat64(o.MaxAbs), tensor.JSONFloat64(o.RelL2)})
}

// CheckFinite returns an error naming the first output in which the rewritten model gives NaN or
// ±Inf where the original is finite, or in which no element is finite in both models (nothing
// was measured); nil when every output was measured on finite values.
func (c *Comparison) CheckFinite() error {
	for _, o := range c.Outputs {
		if n := o.NonFinite.Introduced; n > 0 {
			return fmt.Errorf("output %q: the rewritten model gives NaN or Inf in %d element(s) where the original is finite", o.Name, n)
		}
	}
	for _, o := range c.Outputs {
		if math.IsNaN(o.RelL2) {
			return fmt.Errorf("output %q: no element is finite in both models (original: %d NaN, %d Inf); nothing was compared", o.Name, o.NonFinite.OriginalNaN, o.NonFinite.OriginalInf)
		}
	}
	return nil
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
	taken  int // labels returned since Reset, to name a bad row
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
	l.taken = 0
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
	v := t.I64()
	for i, c := range v {
		if c < 0 {
			return nil, fmt.Errorf("%s: row %d: label %d is negative; labels are class indices 0, 1, ...", l.path, l.taken+i, c)
		}
	}
	l.taken += n
	return v, nil
}

// checkClasses refuses labels (the last batch Take returned) that name no class of an output
// with classes entries on its last axis.
func (l *Labels) checkClasses(labels []int64, classes int) error {
	first := l.taken - len(labels)
	for i, c := range labels {
		if c >= int64(classes) {
			return fmt.Errorf("%s: row %d: label %d is out of range: the model's first output has %d classes (0 to %d)", l.path, first+i, c, classes, classes-1)
		}
	}
	return nil
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
		n := rowsOf(batch)
		var want []int64
		if labels != nil {
			if want, err = labels.Take(n); err != nil {
				return nil, nil, nil, err
			}
			if out := ra[names[0]]; out.Rank() > 0 {
				if err := labels.checkClasses(want, out.Shape[out.Rank()-1]); err != nil {
					return nil, nil, nil, err
				}
			}
		}
		if err := tAll.add(ra, rb, want); err != nil {
			return nil, nil, nil, fmt.Errorf("batch %d: %w", batchNo, err)
		}
		if rule == nil {
			continue
		}
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
			if ta[r] >= 0 && ta[r] == tb[r] {
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
		o.finish()
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
	nf := &o.NonFinite
	for i := range x {
		finiteX, finiteY := isFinite(x[i]), isFinite(y[i])
		if finiteX && finiteY {
			d := y[i] - x[i]
			o.MaxAbs = math.Max(o.MaxAbs, math.Abs(d))
			o.sumSqErr += d * d
			o.sumSqRef += x[i] * x[i]
			o.compared++
			continue
		}
		countNonFinite(x[i], &nf.OriginalNaN, &nf.OriginalInf)
		countNonFinite(y[i], &nf.RewrittenNaN, &nf.RewrittenInf)
		if finiteX {
			nf.Introduced++
		}
		bothNaN := math.IsNaN(x[i]) && math.IsNaN(y[i])
		if !bothNaN && x[i] != y[i] { // the same infinity agrees; anything else differs without bound
			o.MaxAbs = math.Inf(1)
			o.sumSqErr = math.Inf(1)
		}
	}
	return nil
}

// finish turns the sums into the relative L2 error.
func (o *OutputError) finish() {
	switch {
	case o.compared == 0 && o.NonFinite.any() && !math.IsInf(o.sumSqErr, 1):
		o.MaxAbs, o.RelL2 = math.NaN(), math.NaN()
	case o.sumSqRef > 0:
		o.RelL2 = math.Sqrt(o.sumSqErr / o.sumSqRef)
	case o.sumSqErr > 0:
		o.RelL2 = math.Inf(1)
	}
}

func (n NonFiniteCounts) any() bool {
	return n.OriginalNaN+n.OriginalInf+n.RewrittenNaN+n.RewrittenInf > 0
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func countNonFinite(x float64, nan, inf *int) {
	switch {
	case math.IsNaN(x):
		*nan++
	case math.IsInf(x, 0):
		*inf++
	}
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

// argmaxLast returns, for each row (every index but the last axis), the index of the largest value,
// or -1 when the row holds a NaN.
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
			if math.IsNaN(x) {
				best = -1 // a row with NaN has no top-1: it agrees with nothing and matches no label
				break
			}
			if x > row[best] {
				best = j
			}
		}
		out[r] = best
	}
	return out, nil
}
