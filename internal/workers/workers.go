// Package workers runs the chunks of the runtime's parallel loops on long-lived goroutines.
//
// A kernel splits its work into a few contiguous chunks (one per thread it may use). Starting a
// goroutine per chunk cost an allocation or two and a scheduler round trip each time, hundreds
// of times per model run; here the calling goroutine takes chunks itself and hands the job to
// pool workers that are idle at that moment. A hand-off is a send on an unbuffered channel, so
// it only ever reaches a worker already waiting: a job never sits queued behind busy workers,
// and a caller waits only for helpers that are running its chunks. Nested loops (a chunk that
// itself runs a parallel loop) and concurrent callers therefore cannot deadlock; when no worker
// is free the caller simply runs the remaining chunks alone.
package workers

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"
)

// Task is a parallel loop's body as a value: RunTask with a pointer the caller already holds
// (a pooled work description) costs no allocation, where a function literal that captures the
// work escapes to the heap.
type Task interface {
	Chunk(lo, hi int)
}

// job is one parallel loop: chunks of [0, n) claimed in order by the caller and its helpers.
type job struct {
	fn        func(lo, hi int)
	task      Task // instead of fn (RunTask)
	n, chunks int
	next      atomic.Int64 // the next chunk to claim
	// holders counts the caller and the helpers that have joined and not yet left; whoever
	// brings it to zero signals done, which the caller waits on unless it was that one.
	holders atomic.Int32
	done    chan struct{}
	mu      sync.Mutex
	failure any // the first panic of a chunk
}

var (
	jobs    = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}
	handoff = make(chan *job) // unbuffered: a send succeeds only to a waiting worker
	started atomic.Int32
	startMu sync.Mutex
)

// Run splits [0, n) into chunks contiguous ranges, chunk i being [n·i/chunks, n·(i+1)/chunks),
// calls fn on each, from the calling goroutine and from idle workers, and returns when every
// chunk has finished. A panic in a chunk is re-raised in the caller once all have finished.
func Run(n, chunks int, fn func(lo, hi int)) {
	if chunks <= 1 {
		fn(0, n)
		return
	}
	j := jobs.Get().(*job)
	j.fn = fn
	j.start(n, chunks)
}

// RunTask is Run with the body given as a Task.
func RunTask(n, chunks int, t Task) {
	if chunks <= 1 {
		t.Chunk(0, n)
		return
	}
	j := jobs.Get().(*job)
	j.task = t
	j.start(n, chunks)
}

// start runs the loop set up in j and returns j to the pool.
func (j *job) start(n, chunks int) {
	j.n, j.chunks, j.failure = n, chunks, nil
	j.next.Store(0)
	j.holders.Store(1)
	// Twice the helpers one loop can use: workers that have just finished another job may not be
	// waiting again yet.
	grow(2 * (chunks - 1))
offer:
	for range chunks - 1 {
		j.holders.Add(1)
		select {
		case handoff <- j:
		default:
			j.holders.Add(-1) // cannot reach zero: the caller still holds the job
			break offer
		}
	}
	if j.holders.Load() > 1 {
		// The helpers were made runnable on this thread's run queue, whose next slot other
		// threads steal from only after a pause: yield once so that one starts here at once
		// and the caller is taken up by an idle thread.
		goruntime.Gosched()
	}
	j.work()
	if j.holders.Add(-1) != 0 {
		<-j.done
	}
	failure := j.failure
	j.fn, j.task, j.failure = nil, nil, nil
	jobs.Put(j)
	if failure != nil {
		panic(failure)
	}
}

// grow starts workers until there are at least want.
func grow(want int) {
	if int(started.Load()) >= want {
		return
	}
	startMu.Lock()
	for int(started.Load()) < want {
		started.Add(1)
		go worker()
	}
	startMu.Unlock()
}

func worker() {
	for j := range handoff {
		j.work()
		if j.holders.Add(-1) == 0 {
			j.done <- struct{}{}
		}
	}
}

// work claims and runs chunks until none are left.
func (j *job) work() {
	for {
		i := int(j.next.Add(1) - 1)
		if i >= j.chunks {
			return
		}
		j.run(j.n*i/j.chunks, j.n*(i+1)/j.chunks)
	}
}

// run calls fn on one chunk, keeping its panic (the first of the job) for the caller.
func (j *job) run(lo, hi int) {
	defer func() {
		if r := recover(); r != nil {
			j.mu.Lock()
			if j.failure == nil {
				j.failure = r
			}
			j.mu.Unlock()
		}
	}()
	if j.task != nil {
		j.task.Chunk(lo, hi)
		return
	}
	j.fn(lo, hi)
}
