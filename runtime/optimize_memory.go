package runtime

import (
	"sync"
	"unsafe"

	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// Buffer reuse. Kernels get their outputs from ops.Context.Alloc; for the main graph that is a
// per-Run arena which draws float32 buffers from the session's pool. The executor tells the arena
// when a value is produced (adopt) and when its last reader has run (release); a buffer goes back
// to the pool once no live value points into it. Views (Reshape, Squeeze, Identity passing a
// tensor through) point into their input's buffer, so ownership is decided by address range,
// not by tensor identity. Values returned to the caller are never released.

// minPooledElems: smaller buffers cost less to allocate than to track.
const minPooledElems = 64

// maxPooledPerSize bounds how many free buffers of one size a session keeps.
const maxPooledPerSize = 32

// bufferPool holds a session's free float32 buffers by length. Runs share it.
type bufferPool struct {
	mu     sync.Mutex
	free   map[int][][]float32
	arenas sync.Pool
}

// newBufferPool returns a pool for g, or nil when g may hold tensors where the executor cannot
// see them (sequences, optionals, subgraphs): their buffers must never be recycled under them.
func newBufferPool(g *graph) *bufferPool {
	for _, n := range g.nodes {
		if n.subgraph || containsAny(n.opType, "Sequence", "Optional") {
			return nil
		}
	}
	return &bufferPool{free: map[int][][]float32{}}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
	}
	return false
}

func (p *bufferPool) get(n int) []float32 {
	p.mu.Lock()
	list := p.free[n]
	if len(list) == 0 {
		p.mu.Unlock()
		return make([]float32, n)
	}
	buf := list[len(list)-1]
	p.free[n] = list[:len(list)-1]
	p.mu.Unlock()
	clear(buf)
	return buf
}

func (p *bufferPool) put(buf []float32) {
	p.mu.Lock()
	if list := p.free[len(buf)]; len(list) < maxPooledPerSize {
		p.free[len(buf)] = append(list, buf)
	}
	p.mu.Unlock()
}

// arenaBuf is a buffer handed out during one run and how many live values point into it.
type arenaBuf struct {
	data     []float32
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
}

// arena returns a fresh arena for a run over nslots values.
func (p *bufferPool) arena(nslots int) *runArena {
	a, _ := p.arenas.Get().(*runArena)
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

// done ends the run: buffers still referenced belong to the caller now.
func (a *runArena) done() {
	clear(a.bufs)
	a.bufs = a.bufs[:0]
	a.pool.arenas.Put(a)
}

// Alloc implements ops.Allocator.
func (a *runArena) Alloc(dt tensor.DType, shape []int) *tensor.Tensor {
	n := tensor.NumElements(shape)
	if dt != tensor.Float32 || n < minPooledElems {
		return tensor.Zeros(dt, shape)
	}
	buf := a.pool.get(n)
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	a.mu.Lock()
	a.bufs = append(a.bufs, arenaBuf{data: buf, lo: lo, hi: lo + uintptr(n)*4})
	a.mu.Unlock()
	return &tensor.Tensor{DType: tensor.Float32, Shape: append([]int(nil), shape...), Data: buf}
}

// adopt records that value slot holds t; if t points into a buffer of this run, that buffer
// stays out of the pool until the value is released.
func (a *runArena) adopt(slot int, t *tensor.Tensor) {
	if a == nil || t == nil {
		return
	}
	d, ok := t.Data.([]float32)
	if !ok || len(d) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(d)))
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
		a.pool.put(b.data)
		b.data = nil
	}
}

// runContext returns the kernel context for one run of g and the function that ends it.
func (s *Session) runContext(g *graph) (*ops.Context, func()) {
	ctx := ops.NewContext(s.threads)
	if g != s.main || s.buffers == nil {
		return ctx, func() {}
	}
	a := s.buffers.arena(len(g.slotNames))
	ctx.Allocator = a
	return ctx, a.done
}

// arenaOf returns the run's arena, nil when the context has none.
func arenaOf(ctx *ops.Context) *runArena {
	a, _ := ctx.Allocator.(*runArena)
	return a
}
