package ops

import (
	"context"
	"runtime"
	"sync"

	"github.com/actswap/actswap/internal/workers"
	"github.com/actswap/actswap/tensor"
)

// Context is what a kernel gets on each Run: the parallelism it may use, an allocator for its
// outputs (so the runtime can plan and reuse buffers), and the values of enclosing scopes for
// subgraph-carrying ops.
type Context struct {
	// Threads is the number of goroutines a kernel may use; 1 means run inline.
	Threads int
	// Outer resolves a value name from the enclosing scopes of a subgraph; nil at top level.
	Outer func(name string) (*tensor.Tensor, bool)
	// Run carries the executor's run-scoped state (a calibration's value watch) into the
	// subgraphs that If, Loop and Scan run with this Context; kernels do not read it.
	Run context.Context
	// Allocator, when set, provides Alloc's buffers (the runtime recycles dead values' buffers).
	Allocator Allocator
	// ReuseResults lets Result hand out the context's own one-element slice: set by an executor
	// that copies each kernel's results out before it runs the next kernel on this context.
	ReuseResults bool
	result       [8]*tensor.Tensor
	// dims carries a shape across the Allocator interface (alloc.go); dimsBusy guards it.
	dims     [8]int
	dimsBusy int32
}

// Result returns t as a kernel's one-element result: the context's own slice when the executor
// allows it (no allocation per node and Run), a new one otherwise.
func (c *Context) Result(t *tensor.Tensor) []*tensor.Tensor {
	if c != nil && c.ReuseResults {
		c.result[0] = t
		return c.result[:1]
	}
	return []*tensor.Tensor{t}
}

// Results returns a slice for n results, filled by the kernel: the context's own when the
// executor allows it and n is small, a new one otherwise.
func (c *Context) Results(n int) []*tensor.Tensor {
	if c != nil && c.ReuseResults && n <= len(c.result) {
		clear(c.result[:n])
		return c.result[:n]
	}
	return make([]*tensor.Tensor, n)
}

// NewContext returns a context that uses up to threads goroutines (GOMAXPROCS when ≤ 0).
func NewContext(threads int) *Context {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Context{Threads: threads}
}

// Inline reports whether Parallel(n, minChunk, …) would run its function inline, in one chunk.
// Hot kernels test it first and call their body directly: a function literal handed to Parallel
// escapes (the workers are goroutines), so it costs an allocation per call even when Parallel
// then runs it inline.
func (c *Context) Inline(n, minChunk int) bool {
	return c.chunks(n, minChunk) <= 1
}

// chunks is the number of pieces Parallel cuts [0, n) into.
func (c *Context) chunks(n, minChunk int) int {
	threads := 1
	if c != nil {
		threads = c.Threads
	}
	if minChunk < 1 {
		minChunk = 1
	}
	return min(n/minChunk, threads)
}

// Parallel splits [0, n) into at most c.Threads contiguous chunks of at least minChunk items and
// runs fn on each, waiting for all: on the calling goroutine and on idle workers of the
// process's pool (internal/workers), so a loop costs no goroutine or allocation beyond fn.
// With one thread or little work it runs inline. A panic in a chunk is re-raised in the
// caller's goroutine, where the runtime turns it into a node error (a panic left in a worker
// goroutine would end the whole process).
func (c *Context) Parallel(n, minChunk int, fn func(lo, hi int)) {
	workers.Run(n, c.chunks(n, minChunk), fn)
}

// ParallelTask is Parallel with the body given as a workers.Task: a kernel that hands over a
// pooled work description instead of a function literal allocates nothing per call.
func (c *Context) ParallelTask(n, minChunk int, t workers.Task) {
	workers.RunTask(n, c.chunks(n, minChunk), t)
}

// TaskPool recycles the heap copies of a kernel's parallel work description T (whose pointer is
// a workers.Task): the kernel fills a T on its stack and, when the work is split across
// threads, Run copies it into a pooled T for the workers, so a multi-threaded Run allocates
// nothing for it. Kernels still test Inline first and call their body directly on one thread.
type TaskPool[T any, PT interface {
	*T
	workers.Task
}] struct {
	pool sync.Pool
}

// Run runs the work v describes over [0, n) with ctx's threads (see Parallel).
func (p *TaskPool[T, PT]) Run(ctx *Context, n, minChunk int, v *T) {
	shared, _ := p.pool.Get().(PT)
	if shared == nil {
		shared = PT(new(T))
	}
	*shared = *v
	ctx.ParallelTask(n, minChunk, shared)
	var zero T
	*shared = zero // drop the references to this run's buffers
	p.pool.Put(shared)
}
