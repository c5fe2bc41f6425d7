package ops

import (
	"sync/atomic"
	"unsafe"
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
	base  unsafe.Pointer // the source's first element
	n     int            // the source's length
	spans []subViewSpan  // by output index
}

type subViewSpan struct {
	lo, hi int
	data   any
}

// of returns data[lo:hi] as output i's Data, reusing the last box for the same source and
// range; ok is false for element types subData does not slice (strings).
func (v *subViews) of(data any, i, lo, hi int) (any, bool) {
	base, n := sliceBase(data)
	set := v.last.Load()
	if set != nil && set.base == base && set.n == n && base != nil && i < len(set.spans) {
		if sp := set.spans[i]; sp.lo == lo && sp.hi == hi && sp.data != nil {
			return sp.data, true
		}
	}
	view, ok := subData(data, lo, hi)
	if !ok || base == nil {
		return view, ok
	}
	// Record the new box in a fresh set (sets are immutable once published).
	next := &subViewSet{base: base, n: n}
	if set != nil && set.base == base && set.n == n {
		next.spans = append(next.spans, set.spans...)
	}
	for len(next.spans) <= i {
		next.spans = append(next.spans, subViewSpan{})
	}
	next.spans[i] = subViewSpan{lo: lo, hi: hi, data: view}
	v.last.Store(next)
	return view, true
}

// sliceBase returns the address of a numeric slice's first element and its length.
func sliceBase(data any) (unsafe.Pointer, int) {
	switch d := data.(type) {
	case []float32:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d)
	case []float64:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d)
	case []int64:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d)
	case []int32:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d)
	}
	return nil, 0
}
