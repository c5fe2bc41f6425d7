package serve

import (
	"fmt"

	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// runMemory is the working set of one run of a model (inputs, intermediate values, outputs;
// not the weights, held once by the session), estimated at load from the model's declared
// shapes by runtime's EstimateMemory: first bytes for a run on one row, perRow for each
// further row along the leading dimension. It is unknown (known false) when an input has a
// variable dimension other than the leading one, whose size no shape predicts, or when the
// probe runs on zero inputs fail; such a model's runs are charged only their decode allowance.
type runMemory struct {
	first, perRow int64
	known         bool
}

// estimateRunMemory probes sess on zero inputs of 1 and 2 rows shaped as declared.
func estimateRunMemory(sess *runtime.Session, inputs []runtime.ValueInfo) (runMemory, error) {
	for _, vi := range inputs {
		for i, d := range vi.Shape {
			if i > 0 && (d.Value < 0 || d.Param != "") {
				return runMemory{}, fmt.Errorf("input %q: dimension %d is variable, so its size is not known before a request", vi.Name, i)
			}
		}
	}
	probe := func(rows int) (map[string]*tensor.Tensor, error) {
		feed := make(map[string]*tensor.Tensor, len(inputs))
		for _, vi := range inputs {
			shape := make([]int, len(vi.Shape))
			for i, d := range vi.Shape {
				shape[i] = d.Value
				if i == 0 && (d.Value < 0 || d.Param != "") {
					shape[i] = rows
				}
			}
			feed[vi.Name] = tensor.Zeros(vi.DType, shape)
		}
		return feed, nil
	}
	one, err := sess.EstimateMemory(1, probe)
	if err != nil {
		return runMemory{}, err
	}
	two, err := sess.EstimateMemory(2, probe)
	if err != nil {
		return runMemory{}, err
	}
	return runMemory{first: one, perRow: max(two-one, 0), known: true}, nil
}

// bytes is the estimated working set of a run on rows rows (0 when unknown).
func (r runMemory) bytes(rows int) int64 {
	if !r.known {
		return 0
	}
	return r.first + r.perRow*int64(max(rows-1, 0))
}

// maxRows is the most rows a run can have within budget bytes (0: not even one; -1: no limit).
func (r runMemory) maxRows(budget int64) int {
	switch {
	case !r.known:
		return -1
	case r.first > budget:
		return 0
	case r.perRow == 0:
		return -1
	}
	return int(1 + (budget-r.first)/r.perRow)
}

// runRows is the rows a validated feed has along the leading dimension of the inputs that
// declare it variable (1 when none does).
func (m *Model) runRows(feed map[string]*tensor.Tensor) int {
	for _, vi := range m.Inputs {
		if len(vi.Shape) > 0 && (vi.Shape[0].Value < 0 || vi.Shape[0].Param != "") {
			return feed[vi.Name].Shape[0]
		}
	}
	return 1
}

// reserveRun grows the request's reservation to the working set of its run, before it is
// queued: 413 when the budget could never hold it, 429 while other requests hold too much.
func (m *Model) reserveRun(held *reservation, feed map[string]*tensor.Tensor) error {
	rows := m.runRows(feed)
	need := m.memory.bytes(rows)
	return held.grow(need, func() string {
		return fmt.Sprintf("model %q: a run on %d row(s) needs about %d bytes for its tensors (estimated at load from runs on 1 and 2 rows: %d + %d per further row)",
			m.Name, rows, need, m.memory.first, m.memory.perRow)
	})
}
