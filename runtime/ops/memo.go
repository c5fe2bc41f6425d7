package ops

import (
	"slices"
	"sync/atomic"
)

// shapeMemo remembers a kernel's geometry for the most recent input shapes: shapes rarely change
// between runs, and a geometry costs allocations and table building. It makes alloc.go's rule
// ("kernels that cache geometry must copy shapes") structural: the keys are copied when stored,
// so a caller that reuses or changes a shape slice afterwards cannot make a stale entry match. A
// stored value is immutable and shared by concurrent Runs; two racing misses each store a
// correct value and either wins.
type shapeMemo[V any] struct {
	last atomic.Pointer[shapeMemoEntry[V]]
}

type shapeMemoEntry[V any] struct {
	a, b  []int // the shapes the value was built for (b nil for a one-shape key)
	value V
}

// get returns the value for shapes a and b (b nil where one shape is the key), calling build on
// a miss.
func (m *shapeMemo[V]) get(a, b []int, build func() (V, error)) (V, error) {
	if e := m.last.Load(); e != nil && slices.Equal(e.a, a) && slices.Equal(e.b, b) {
		return e.value, nil
	}
	v, err := build()
	if err != nil {
		return v, err
	}
	m.put(a, b, v)
	return v, nil
}

// put replaces the remembered value with v for shapes a and b (a value found better later, such
// as a convolution's timed lowering).
func (m *shapeMemo[V]) put(a, b []int, v V) {
	m.last.Store(&shapeMemoEntry[V]{a: slices.Clone(a), b: slices.Clone(b), value: v})
}
