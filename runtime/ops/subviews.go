package ops

import (
	"sync/atomic"

	"github.com/actswap/actswap/tensor"
)

// subViews remembers the sub-slices a kernel (Split) last handed out as views, boxed as Data
// values. Converting a sub-slice to an interface allocates its box, and the runtime's buffer pool
// gives a node the same input buffer run after run, so the boxes of the last run usually fit the
// next one. A box is never modified, only reused for the same array range, so Runs on several
// goroutines can share them.
type subViews struct {
	last atomic.Pointer[subViewSet]
}

type subViewSet struct {
	lo, hi uintptr       // the source's address range
	spans  []subViewSpan // by output index
}

type subViewSpan struct {
	lo, hi int
	data   any
}

// of returns data[lo:hi] as output i's Data, reusing the last box for the same source and
// range; ok is false for element types tensor.SubData does not slice (strings).
func (v *subViews) of(data any, i, lo, hi int) (any, bool) {
	base, end, known := tensor.DataRange(data)
	set := v.last.Load()
	if set != nil && known && set.lo == base && set.hi == end && i < len(set.spans) {
		if sp := set.spans[i]; sp.lo == lo && sp.hi == hi && sp.data != nil {
			return sp.data, true
		}
	}
	view, ok := tensor.SubData(data, lo, hi)
	if !ok || !known {
		return view, ok
	}
	// Record the new box in a fresh set (sets are immutable once published).
	next := &subViewSet{lo: base, hi: end}
	if set != nil && set.lo == base && set.hi == end {
		next.spans = append(next.spans, set.spans...)
	}
	for len(next.spans) <= i {
		next.spans = append(next.spans, subViewSpan{})
	}
	next.spans[i] = subViewSpan{lo: lo, hi: hi, data: view}
	v.last.Store(next)
	return view, true
}
