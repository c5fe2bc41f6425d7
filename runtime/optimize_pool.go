package runtime

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/actswap/actswap/tensor"
)

// The buffer pool. A value's buffer is recycled once its last reader has run (runArena.release),
// and a later allocation takes the free buffer released most recently among those that fit
// (pooledFits: for large tensors, big enough and not too big): the one most likely still in cache. Matching sizes exactly instead
// would give each large tensor last run's buffer of its size, long out of cache — measured on
// MobileNet's 112×112 layers, a 1×1 convolution runs 1.5–2× slower into a cold output than into a
// warm one, and onnxruntime's offset-planned arena gives it warm memory.

// maxPooledPerType bounds how many free tensors of one element type a session keeps.
const maxPooledPerType = 256

// pooledTensor is a tensor the arena allocated, with the whole buffer it was allocated with.
// Handing it out for a shorter length uses a prefix of the buffer, boxed once per length (an
// interface conversion allocates) and kept for the next time.
type pooledTensor struct {
	t      tensor.Tensor
	full   any         // the whole buffer
	capN   int         // its length
	prefix map[int]any // boxed prefixes by length
	seq    uint64      // when it was released, for the most-recent choice
}

// pooledFits reports whether a free buffer of capN elements may hold a tensor of n: for a large
// tensor, big enough and at most four times as big (a small tensor in a large buffer keeps it from
// a large one); for a small one (under 256 KiB, which the caches keep anyway), the same length, so
// that the many small buffers are drawn the same way every run and need no new prefix boxes.
func pooledFits(capN, n int) bool {
	if n < flexiblePoolFloats {
		return capN == n
	}
	return capN >= n && capN <= 4*n
}

// flexiblePoolFloats is the size from which a tensor may take a longer free buffer.
const flexiblePoolFloats = 1 << 16

// bufferPool holds a session's free tensors by element type. Runs share it.
type bufferPool struct {
	mu     sync.Mutex
	free   map[tensor.DType][]*pooledTensor
	seq    uint64
	arenas sync.Pool
	// spare keeps one arena outside arenas, which a garbage collection empties: a session run on
	// one goroutine at a time then never builds a new arena (scratch, slabs) in steady state.
	spare atomic.Pointer[runArena]
}

// newBufferPool returns a pool for g, or nil when g may hold tensors where the executor cannot
// see them (sequences, optionals, subgraphs): their buffers must never be recycled under them.
func newBufferPool(g *graph) *bufferPool {
	for _, n := range g.nodes {
		if n.subgraph || strings.Contains(n.opType, "Sequence") || strings.Contains(n.opType, "Optional") {
			return nil
		}
	}
	return &bufferPool{free: map[tensor.DType][]*pooledTensor{}}
}

// get returns a free tensor of dt and length n, zeroed unless the caller will overwrite every
// element anyway, or nil when there is none. The caller gives it its shape.
func (p *bufferPool) get(dt tensor.DType, n int, zero bool) *pooledTensor {
	p.mu.Lock()
	list := p.free[dt]
	best := -1
	for i, pt := range list {
		if pooledFits(pt.capN, n) && (best < 0 || pt.seq > list[best].seq) {
			best = i
		}
	}
	if best < 0 {
		p.mu.Unlock()
		return nil
	}
	pt := list[best]
	list[best] = list[len(list)-1]
	list[len(list)-1] = nil
	p.free[dt] = list[:len(list)-1]
	p.mu.Unlock()
	pt.t.Data = pt.lengthOf(n)
	if zero {
		clearData(pt.t.Data)
	}
	return pt
}

// lengthOf returns the buffer's first n elements, boxed.
func (pt *pooledTensor) lengthOf(n int) any {
	if n == pt.capN {
		return pt.full
	}
	if d, ok := pt.prefix[n]; ok {
		return d
	}
	if pt.prefix == nil {
		pt.prefix = map[int]any{}
	}
	d, _ := tensor.SubData(pt.full, 0, n) // the pool holds only the types SubData slices
	pt.prefix[n] = d
	return d
}

// put returns a released tensor to the pool, dropping the oldest free one of its type when the
// pool is full.
func (p *bufferPool) put(pt *pooledTensor) {
	p.mu.Lock()
	p.seq++
	pt.seq = p.seq
	list := p.free[pt.t.DType]
	if len(list) >= maxPooledPerType {
		oldest := 0
		for i, q := range list {
			if q.seq < list[oldest].seq {
				oldest = i
			}
		}
		list[oldest] = list[len(list)-1]
		list = list[:len(list)-1]
	}
	p.free[pt.t.DType] = append(list, pt)
	p.mu.Unlock()
}

// newPooled allocates a tensor of dt and length n for the arena, zero-filled.
func newPooled(dt tensor.DType, n int) *pooledTensor {
	data := tensor.NewData(dt, n) // not tensor.Zeros, which would also allocate a header and shape
	return &pooledTensor{t: tensor.Tensor{DType: dt, Data: data}, full: data, capN: n}
}

// Recycle hands the results of one Run back to the session, whose later runs may write into
// their buffers: the caller must not use them, nor anything sharing their data, afterwards.
// Without it every result's buffer is left to the garbage collector and each run draws its
// replacement from memory never touched before, whose page faults land in whichever kernel first
// writes it (bert_tiny: 0.35–0.57 ms of a 7.5 ms run on one Transpose, for its 128 KiB output).
// onnxruntime's callers release their outputs the same way. Results whose data overlap another's
// (two names for one value, a view and its base) are left to the garbage collector.
func (s *Session) Recycle(results map[string]*tensor.Tensor) {
	if s.buffers == nil {
		return
	}
	for name, t := range results {
		if t == nil {
			continue
		}
		// Only a buffer that holds exactly its shape's whole-byte elements (the pool hands it out
		// by element count) and that no other result shares.
		n := t.Len()
		lo, hi, ok := tensor.DataRange(t.Data)
		if !ok || t.DType.Bits()%8 != 0 || hi-lo != uintptr(n*t.DType.Size()) || resultSharesData(results, name, lo, hi) {
			continue
		}
		s.buffers.put(&pooledTensor{t: tensor.Tensor{DType: t.DType, Data: t.Data}, full: t.Data, capN: n})
	}
}

// resultSharesData reports whether the elements [lo, hi) of result name overlap those of another
// entry of results.
func resultSharesData(results map[string]*tensor.Tensor, name string, lo, hi uintptr) bool {
	for other, u := range results {
		if other == name || u == nil {
			continue
		}
		if ulo, uhi, ok := tensor.DataRange(u.Data); ok && ulo < hi && lo < uhi {
			return true
		}
	}
	return false
}
