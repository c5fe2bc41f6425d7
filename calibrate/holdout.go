package calibrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// DefaultHeldOut is the share of the calibration rows held out for validation when no separate
// validation data are given: every 4th row. A quarter keeps 64 of the 256 digits rows (and 8 of
// 32 vit_tiny rows) out of the fit, enough to see over-fitting, while the fit keeps 3/4 of the data.
const DefaultHeldOut = 0.25

// HoldOut is a deterministic split of a data set's rows: with fraction f, row r (counted from 0
// over the whole data set) is held out when ⌊(r+1)·f⌋ > ⌊r·f⌋, which spreads the held-out rows
// evenly (f = 0.25: rows 3, 7, 11, …), so an ordered file (sorted by class, by time) is split
// fairly. With WholeBatches the unit is a batch instead of a row, for models whose batch size is
// fixed (a batch cut in two would not fit them).
type HoldOut struct {
	Fraction     float64 `json:"fraction"`
	WholeBatches bool    `json:"whole_batches,omitempty"`
}

// Validate refuses fractions a split cannot honour: both parts must be able to hold rows.
func (h HoldOut) Validate() error {
	if !(h.Fraction >= 0 && h.Fraction < 1) {
		return fmt.Errorf("held-out fraction %g: want 0 ≤ f < 1", h.Fraction)
	}
	return nil
}

// heldOut says whether unit u (row, or batch with WholeBatches) is held out.
func (h HoldOut) heldOut(u int) bool {
	// The tiny offset keeps ⌊k·f⌋ exact where k·f is an integer that floating point rounds down.
	return int(float64(u+1)*h.Fraction+1e-9) > int(float64(u)*h.Fraction+1e-9)
}

// Describe says which rows of source are held out, for reports.
func (h HoldOut) Describe(source string) string {
	unit := "rows"
	if h.WholeBatches {
		unit = "batches"
	}
	if h.Fraction == 0 {
		return fmt.Sprintf("no %s of %s held out", unit, source)
	}
	return fmt.Sprintf("%g%% of the %s of %s, spread evenly", 100*h.Fraction, unit, source)
}

// Split returns two views of data: the rows the fit may use and the rows it must not. Both share
// data, so they are used one pass at a time (every pass starts with Reset, as the calibrator's do);
// a view read after the other was reset reports an error instead of returning the wrong rows.
// Closing a view does not close data.
func (h HoldOut) Split(data Reader) (fit, heldOut Reader) {
	s := &sharedSplit{data: data, rule: h}
	return &splitView{shared: s, held: false}, &splitView{shared: s, held: true}
}

// sharedSplit is the state both views of a split read through.
type sharedSplit struct {
	data    Reader
	rule    HoldOut
	owner   *splitView // the view that last reset data
	unit    int        // next row (or batch) number of data
	batches int
}

// splitView yields the rows of one side of a split, in batches of at most the source's size
// (batches left empty by the split are skipped).
type splitView struct {
	shared *sharedSplit
	held   bool
	rows   int // rows this view has yielded since its Reset
}

var errSplitInterleaved = errors.New("the two sides of a held-out split were read in the same pass")

func (v *splitView) Reset() error {
	s := v.shared
	s.owner, s.unit, s.batches, v.rows = v, 0, 0, 0
	return s.data.Reset()
}

func (v *splitView) Next() (map[string]*tensor.Tensor, error) {
	s := v.shared
	if s.owner != v {
		return nil, errSplitInterleaved
	}
	for {
		batch, err := s.data.Next()
		if err != nil {
			return nil, err // io.EOF included
		}
		n := rowsOf(batch)
		var keep []int
		if s.rule.WholeBatches {
			if s.rule.heldOut(s.batches) == v.held {
				keep = allRows(n)
			}
		} else {
			for r := range n {
				if s.rule.heldOut(s.unit+r) == v.held {
					keep = append(keep, r)
				}
			}
		}
		s.unit += n
		s.batches++
		if len(keep) == 0 {
			continue
		}
		v.rows += len(keep)
		if len(keep) == n {
			return batch, nil
		}
		out := make(map[string]*tensor.Tensor, len(batch))
		for name, t := range batch {
			sel, err := selectRows(t, n, keep)
			if err != nil {
				return nil, fmt.Errorf("input %q: %w", name, err)
			}
			out[name] = sel
		}
		return out, nil
	}
}

// Close does nothing: the views borrow data, whose owner closes it.
func (v *splitView) Close() error { return nil }

func allRows(n int) []int {
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	return rows
}

// selectRows copies the given rows of t, whose first axis holds n rows.
func selectRows(t *tensor.Tensor, n int, rows []int) (*tensor.Tensor, error) {
	if t.Rank() == 0 || t.Shape[0] != n {
		return nil, fmt.Errorf("shape %v does not have the batch's %d rows on its first axis", t.Shape, n)
	}
	shape := append([]int(nil), t.Shape...)
	shape[0] = len(rows)
	out := tensor.Zeros(t.DType, shape)
	row := tensor.NumElements(t.Shape[1:])
	for i, r := range rows {
		tensor.CopyRange(out, i*row, t, r*row, row)
	}
	return out, nil
}

// countRows streams data once and counts its rows.
func countRows(data Reader) (int, error) {
	if err := data.Reset(); err != nil {
		return 0, err
	}
	rows := 0
	for {
		batch, err := data.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return 0, err
		}
		rows += rowsOf(batch)
	}
}

// provenanceKey is the metadata entry in which a calibrated model records which rows its
// parameters were fitted on, so that `actswap compare` can label rows in sample or held out.
const provenanceKey = "actswap.calibration"

// Provenance says which rows a calibrated model's parameters were fitted on: the rows of the file
// named Data (base name) that HeldOut does not hold out (every row when HeldOut is nil).
type Provenance struct {
	Data    string   `json:"data,omitempty"`
	HeldOut *HoldOut `json:"held_out,omitempty"`
	// Uncalibrated, for a rewrite without data, says what its default parameters assume.
	Uncalibrated string `json:"uncalibrated,omitempty"`
}

// SetProvenance records p in m's metadata, replacing an earlier record.
func SetProvenance(m *onnx.ModelProto, p Provenance) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var props []*onnx.StringStringEntryProto
	for _, e := range m.GetMetadataProps() {
		if e.GetKey() != provenanceKey {
			props = append(props, e)
		}
	}
	m.MetadataProps = append(props, &onnx.StringStringEntryProto{Key: proto.String(provenanceKey), Value: proto.String(string(b))})
	return nil
}

// ProvenanceOf reads the record SetProvenance left; ok is false when there is none.
func ProvenanceOf(m *onnx.ModelProto) (p Provenance, ok bool, err error) {
	for _, e := range m.GetMetadataProps() {
		if e.GetKey() == provenanceKey {
			if err := json.Unmarshal([]byte(e.GetValue()), &p); err != nil {
				return p, false, fmt.Errorf("metadata %q: %w", provenanceKey, err)
			}
			return p, true, nil
		}
	}
	return p, false, nil
}
