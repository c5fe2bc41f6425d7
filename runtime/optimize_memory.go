package runtime

import (
	"sync"
	"unsafe"

	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// Buffer reuse. Kernels get their outputs from ops.Context.Alloc; for the main graph that is a
// per-Run arena which draws tensors from the session's pool. The executor tells the arena when a
// value is produced (adopt) and when its last reader has run (release); a tensor goes back to the
// pool once no live value points into its buffer. Views (Reshape, Squeeze, Identity passing a
// tensor through) point into their input's buffer, so ownership is decided by address range,
// not by tensor identity. Values returned to the caller are never released. The pool keeps whole
// tensors, not just buffers: a tensor header and its boxed slice cost as much to allocate as a
// small buffer, and a transformer computes many small shape tensors per run.

func clearData(data any) {
	switch d := data.(type) {
	case []float32:
		clear(d)
	case []float64:
		clear(d)
	case []int64:
		clear(d)
	case []int32:
		clear(d)
	case []bool:
		clear(d)
	case []uint8:
		clear(d)
	case []int8:
		clear(d)
	case []tensor.Float16Bits:
		clear(d)
	case []tensor.BFloat16Bits:
		clear(d)
	}
}

// arenaBuf is a tensor handed out during one run and how many live values point into it.
type arenaBuf struct {
	t        *pooledTensor
	lo, hi   uintptr
	refs     int32
	released bool
}

// runArena is one Run's view of the pool; it implements ops.Allocator.
type runArena struct {
	pool  *bufferPool
	mu    sync.Mutex // kernels may allocate from parallel workers
	bufs  []arenaBuf
	owner []int32 // per slot: index into bufs, or -1
	// shapes is the run's use of the session's shape cache (optimize_shapes.go), nil for none.
	shapes   *shapeRun
	shapeRun shapeRun         // what shapes points to, when it is not nil
	feeds    []*tensor.Tensor // the run's bound inputs (bindInputs)
	views    viewHeaders      // this run's view headers (View)
	ctx      ops.Context      // the run's kernel context
	scratch  runScratch       // the executor's bookkeeping (exec.go)
}

// arena returns a fresh arena for a run over nslots values.
func (p *bufferPool) arena(nslots int) *runArena {
	a := p.spare.Swap(nil)
	if a == nil {
		a, _ = p.arenas.Get().(*runArena)
	}
	if a == nil {
		a = &runArena{pool: p}
	}
	if cap(a.owner) < nslots {
		a.owner = make([]int32, nslots)
	}
	a.owner = a.owner[:nslots]
	for i := range a.owner {
		a.owner[i] = -1
	}
	return a
}

// done ends the run: tensors still referenced belong to the caller now.
func (a *runArena) done() {
	clear(a.bufs)
	a.bufs = a.bufs[:0]
	a.views.reset()
	if !a.pool.spare.CompareAndSwap(nil, a) {
		a.pool.arenas.Put(a)
	}
}

// Alloc implements ops.Allocator.
func (a *runArena) Alloc(dt tensor.DType, shape []int) *tensor.Tensor {
	return a.alloc(dt, shape, true)
}

// AllocOverwrite implements ops.OverwriteAllocator: a recycled buffer is not cleared.
func (a *runArena) AllocOverwrite(dt tensor.DType, shape []int) *tensor.Tensor {
	return a.alloc(dt, shape, false)
}

func (a *runArena) alloc(dt tensor.DType, shape []int, zero bool) *tensor.Tensor {
	n := tensor.NumElements(shape)
	if n == 0 || dt == tensor.String {
		return tensor.Zeros(dt, shape)
	}
	pt := a.pool.get(dt, n, zero)
	if pt == nil {
		pt = newPooled(dt, n)
	}
	t := &pt.t
	lo, hi, ok := tensor.DataRange(t.Data)
	a.mu.Lock()
	// A fresh shape from the arena's slab, also for a recycled tensor: a kernel may have given
	// another tensor the Shape slice it had last time.
	t.Shape = a.views.dimsOf(shape)
	if ok {
		a.bufs = append(a.bufs, arenaBuf{t: pt, lo: lo, hi: hi})
	}
	a.mu.Unlock()
	return t
}

// View implements ops.ViewAllocator: the header and its shape come from the arena and are reused
// by its next run, so RunContext copies any that it returns (ownsView).
func (a *runArena) View(dt tensor.DType, shape []int, data any) *tensor.Tensor {
	a.mu.Lock()
	t := a.views.take(dt, shape, data)
	a.mu.Unlock()
	return t
}

// ownsView reports whether t is one of this run's view headers.
func (a *runArena) ownsView(t *tensor.Tensor) bool {
	return a != nil && a.views.owns(t)
}

// ownsShape reports whether t's shape is in this run's slab (every tensor the arena handed out).
func (a *runArena) ownsShape(t *tensor.Tensor) bool {
	return a != nil && a.views.ownsDims(t.Shape)
}

// viewHeaders hands out tensor headers for views, and the shapes of views and of the arena's
// tensors, from two slabs that are reused run after run. A slab that fills up is replaced by one
// twice its size (what was handed out keeps the old one alive and is never rewritten), so after
// the first runs a run allocates neither.
type viewHeaders struct {
	hdrs []tensor.Tensor
	dims []int
	n    int // headers handed out from hdrs
	nd   int // dims handed out
}

func (v *viewHeaders) take(dt tensor.DType, shape []int, data any) *tensor.Tensor {
	if v.n == len(v.hdrs) {
		v.hdrs, v.n = make([]tensor.Tensor, max(32, 2*len(v.hdrs))), 0
	}
	dims := v.dimsOf(shape)
	if dims == nil {
		dims = []int{} // a scalar view keeps a non-nil empty shape, like a cloned one
	}
	t := &v.hdrs[v.n]
	v.n++
	*t = tensor.Tensor{DType: dt, Shape: dims, Data: data}
	return t
}

// dimsOf copies shape into the dims slab (nil for a scalar, as tensor.Zeros gives). Copies are
// capped at their length, so an append cannot run into a neighbour.
func (v *viewHeaders) dimsOf(shape []int) []int {
	n := len(shape)
	if n == 0 {
		return nil
	}
	if v.nd+n > len(v.dims) {
		v.dims, v.nd = make([]int, max(128, 2*len(v.dims), n)), 0
	}
	d := v.dims[v.nd : v.nd+n : v.nd+n]
	copy(d, shape)
	v.nd += n
	return d
}

// ownsDims reports whether shape lies in the current dims slab.
func (v *viewHeaders) ownsDims(shape []int) bool {
	return len(shape) > 0 && inSlab(v.dims, &shape[0])
}

// owns reports whether t is a header of the current slab.
func (v *viewHeaders) owns(t *tensor.Tensor) bool { return inSlab(v.hdrs, t) }

// inSlab reports whether p points into slab's elements.
func inSlab[T any](slab []T, p *T) bool {
	if len(slab) == 0 {
		return false
	}
	at, lo := uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&slab[0]))
	return at >= lo && at < lo+uintptr(len(slab))*unsafe.Sizeof(slab[0])
}

// reset drops the run's references to its views' data and starts handing out from the front.
func (v *viewHeaders) reset() {
	clear(v.hdrs[:v.n])
	v.n, v.nd = 0, 0
}

// adopt records that value slot holds t; if t points into a tensor of this run, that tensor
// stays out of the pool until the value is released.
func (a *runArena) adopt(slot int, t *tensor.Tensor) {
	if a == nil || t == nil {
		return
	}
	p, _, ok := tensor.DataRange(t.Data)
	if !ok {
		return
	}
	for i := len(a.bufs) - 1; i >= 0; i-- {
		b := &a.bufs[i]
		if !b.released && p >= b.lo && p < b.hi {
			b.refs++
			a.owner[slot] = int32(i)
			return
		}
	}
}

// release is called when value slot is dropped.
func (a *runArena) release(slot int) {
	if a == nil || a.owner[slot] < 0 {
		return
	}
	b := &a.bufs[a.owner[slot]]
	a.owner[slot] = -1
	if b.refs--; b.refs == 0 {
		b.released = true
		a.pool.put(b.t)
		b.t = nil
	}
}

// runContext returns the kernel context for one run of g on threads threads and the run's arena
// (buffers from pool), nil when the run
// recycles no buffers; the caller ends the run with arena.finish. The context lives in the
// (pooled) arena, so a run with an arena allocates neither.
func (s *Session) runContext(g *graph, threads int, pool *bufferPool) (*ops.Context, *runArena) {
	if g != s.main || pool == nil {
		return ops.NewContext(threads), nil
	}
	a := pool.arena(len(g.slotNames))
	// graph.run copies each kernel's results out before the next kernel runs on this context.
	a.ctx = ops.Context{Threads: threads, Allocator: a, ReuseResults: true}
	return &a.ctx, a
}

// feedSlice returns the arena's zeroed slice for n bound inputs, nil when there is no arena.
func (a *runArena) feedSlice(n int) []*tensor.Tensor {
	if a == nil {
		return nil
	}
	a.feeds = resized(a.feeds, n)
	return a.feeds
}

// beginShapes starts the run's use of the session's shape cache for plan p and inputs feeds.
func (a *runArena) beginShapes(c *shapeCache, p *plan, feeds []*tensor.Tensor) {
	if a != nil {
		a.shapes = c.begin(&a.shapeRun, p, feeds)
	}
}

// finish ends a run begun by runContext; a nil arena has nothing to end.
func (a *runArena) finish() {
	if a == nil {
		return
	}
	a.shapes.end()
	a.shapes = nil
	a.shapeRun = shapeRun{}
	clear(a.feeds)
	a.ctx = ops.Context{}
	clear(a.scratch.vals) // drop references to this run's tensors
	clear(a.scratch.out)
	clear(a.scratch.inputs[:cap(a.scratch.inputs)])
	a.done()
}

// arenaOf returns the run's arena, nil when the context has none.
func arenaOf(ctx *ops.Context) *runArena {
	if ctx == nil {
		return nil
	}
	a, _ := ctx.Allocator.(*runArena)
	return a
}
