package runtime

import (
	"context"
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// memoryProbe follows the bytes of the tensors a run holds (its inputs and the values not yet
// released), and their peak. Views are counted as if they were copies, so the figure errs high.
type memoryProbe struct {
	live, peak int64
}

type memoryProbeKey struct{}

func withMemoryProbe(ctx context.Context, p *memoryProbe) context.Context {
	return context.WithValue(ctx, memoryProbeKey{}, p)
}

func memoryProbeOf(ctx context.Context) *memoryProbe {
	p, _ := ctx.Value(memoryProbeKey{}).(*memoryProbe)
	return p
}

func (p *memoryProbe) add(t *tensor.Tensor) {
	if p == nil || t == nil {
		return
	}
	p.live += tensorBytes(t)
	p.peak = max(p.peak, p.live)
}

func (p *memoryProbe) remove(t *tensor.Tensor) {
	if p == nil || t == nil {
		return
	}
	p.live -= tensorBytes(t)
}

func tensorBytes(t *tensor.Tensor) int64 {
	size := t.DType.Size()
	if size <= 0 {
		size = 16 // strings and other non-numeric elements: a header each
	}
	return int64(t.Len()) * int64(size)
}

// EstimateMemory estimates the peak bytes of tensors one Run holds (inputs, intermediate values and
// outputs; the weights are not counted, they are held once by the session) for inputs of the
// given number of rows, without allocating anything of that size: it runs the model on 1 and on 2
// rows, as probe returns them, and extrapolates linearly in the rows. Memory that grows faster
// than the rows (attention over a sequence length set to the rows, say) is underestimated. A
// caller compares the estimate with the memory it has before building inputs of that size; the
// server and the CLI's bench and run guard their runs with it.
func (s *Session) EstimateMemory(rows int, probe func(rows int) (map[string]*tensor.Tensor, error)) (int64, error) {
	if rows < 1 {
		return 0, fmt.Errorf("estimate memory: %d rows", rows)
	}
	var peaks [2]int64
	for i := range peaks {
		n := min(i+1, rows)
		inputs, err := probe(n)
		if err != nil {
			return 0, fmt.Errorf("estimate memory: inputs of %d row(s): %w", n, err)
		}
		var p memoryProbe
		if _, err := s.RunContext(withMemoryProbe(context.Background(), &p), inputs); err != nil {
			return 0, fmt.Errorf("estimate memory: a run on %d row(s): %w", n, err)
		}
		peaks[i] = p.peak
	}
	perRow := float64(max(peaks[1]-peaks[0], 0))
	estimate := float64(peaks[0]) + perRow*float64(rows-1)
	if estimate >= math.MaxInt64 {
		return math.MaxInt64, nil
	}
	return int64(estimate), nil
}
