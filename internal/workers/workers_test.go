package workers

import (
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunCoversEveryIndexOnce checks that the chunks of [0, n) are disjoint, contiguous and
// cover it, for chunk counts below, at and above n.
func TestRunCoversEveryIndexOnce(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 7, 100} {
		for _, chunks := range []int{1, 2, 3, 8, 150} {
			seen := make([]atomic.Int32, n)
			Run(n, chunks, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					seen[i].Add(1)
				}
			})
			for i := range seen {
				if c := seen[i].Load(); c != 1 {
					t.Fatalf("n %d, chunks %d: index %d run %d times", n, chunks, i, c)
				}
			}
		}
	}
}

// TestRunNestedAndConcurrent runs loops inside loops from many goroutines at once: every inner
// index must run exactly once and nothing may deadlock, however few workers are idle.
func TestRunNestedAndConcurrent(t *testing.T) {
	t.Parallel()
	var total atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				Run(4, 4, func(lo, hi int) {
					for range hi - lo {
						Run(10, 3, func(lo, hi int) { total.Add(int64(hi - lo)) })
					}
				})
			}
		})
	}
	wg.Wait()
	if want := int64(8 * 20 * 4 * 10); total.Load() != want {
		t.Fatalf("ran %d inner indices, want %d", total.Load(), want)
	}
}

// TestRunRaisesPanicInCaller checks that a chunk's panic reaches the caller after the other
// chunks have finished, and that the pool still works afterwards.
func TestRunRaisesPanicInCaller(t *testing.T) {
	t.Parallel()
	var finished atomic.Int32
	func() {
		defer func() {
			if r := recover(); fmt.Sprint(r) != "chunk 2" {
				t.Errorf("recovered %v, want the chunk's panic", r)
			}
			if finished.Load() != 3 {
				t.Errorf("%d other chunks had finished when the panic was raised, want 3", finished.Load())
			}
		}()
		Run(4, 4, func(lo, hi int) {
			if lo == 2 {
				panic("chunk 2")
			}
			finished.Add(1)
		})
	}()
	var sum atomic.Int64
	Run(100, 4, func(lo, hi int) { sum.Add(int64(hi - lo)) })
	if sum.Load() != 100 {
		t.Fatalf("after a panic, a loop covered %d of 100", sum.Load())
	}
}

// counter is a Task summing the lengths of its chunks.
type counter struct{ sum atomic.Int64 }

func (c *counter) Chunk(lo, hi int) { c.sum.Add(int64(hi - lo)) }

// TestRunAllocatesNothing checks that a loop costs no allocation beyond its function value
// once the pool is warm, and a Task loop none at all.
func TestRunAllocatesNothing(t *testing.T) {
	var sink atomic.Int64
	fn := func(lo, hi int) { sink.Add(int64(hi - lo)) }
	Run(64, 2, fn)
	if a := testing.AllocsPerRun(50, func() { Run(64, 2, fn) }); a != 0 {
		t.Errorf("%.1f allocations per loop, want 0", a)
	}
	c := &counter{}
	if a := testing.AllocsPerRun(50, func() { RunTask(64, 3, c) }); a != 0 {
		t.Errorf("%.1f allocations per Task loop, want 0", a)
	}
	if got := c.sum.Load(); got != 51*64 { // AllocsPerRun runs the function once more to warm up
		t.Errorf("Task loops covered %d indices, want %d", got, 51*64)
	}
}

// TestRunReachesPollingAndParkedWorkers runs two-chunk loops whose chunks wait for each other,
// so each completes only if a worker joins the caller: back to back (the worker is still
// polling from the previous loop) and after a pause far longer than spinFor (it has parked and
// must be woken).
func TestRunReachesPollingAndParkedWorkers(t *testing.T) {
	for _, pause := range []time.Duration{0, 50 * spinFor} {
		for round := range 20 {
			time.Sleep(pause)
			var arrived atomic.Int32
			var stuck atomic.Bool
			Run(2, 2, func(lo, hi int) {
				arrived.Add(1)
				deadline := time.Now().Add(10 * time.Second)
				for arrived.Load() < 2 {
					if time.Now().After(deadline) {
						stuck.Store(true)
						return
					}
					goruntime.Gosched()
				}
			})
			if stuck.Load() {
				t.Fatalf("pause %v, round %d: no worker joined the loop within 10 s", pause, round)
			}
		}
	}
}

// TestRetractFromAbsentHelper hands a job to a worker whose goroutine never runs (a helper whose
// thread is off the CPU): once the caller has run every chunk it must take the job back, leaving
// the worker idle with an empty mailbox and the caller the job's only holder, so that it does not
// wait for that helper.
func TestRetractFromAbsentHelper(t *testing.T) {
	w := &worker{wake: make(chan struct{}, 1)} // no loop: never takes its job
	var covered atomic.Int64
	j := &job{done: make(chan struct{}, 1), fn: func(lo, hi int) { covered.Add(int64(hi - lo)) }}
	j.n, j.chunks = 10, 2
	j.holders.Store(1)
	if j.offer([]*worker{w}, 1); j.holders.Load() != 2 || w.state.Load() != claimed {
		t.Fatalf("offer: holders %d, state %d; want 2 and claimed", j.holders.Load(), w.state.Load())
	}
	j.work(false)
	j.retract()
	if covered.Load() != 10 {
		t.Errorf("the caller covered %d of 10", covered.Load())
	}
	if j.holders.Load() != 1 || w.state.Load() != idle || w.job.Load() != nil {
		t.Errorf("after retract: holders %d, state %d, mailbox %p; want 1, idle, empty", j.holders.Load(), w.state.Load(), w.job.Load())
	}
}

// chunkRecorder is a Task that counts how often each index runs and the most chunks that ran
// at once.
type chunkRecorder struct {
	seen                []atomic.Int32
	running, mostAtOnce atomic.Int32
	hold                time.Duration
}

func (r *chunkRecorder) Chunk(lo, hi int) {
	now := r.running.Add(1)
	for old := r.mostAtOnce.Load(); now > old && !r.mostAtOnce.CompareAndSwap(old, now); old = r.mostAtOnce.Load() {
	}
	time.Sleep(r.hold)
	for i := lo; i < hi; i++ {
		r.seen[i].Add(1)
	}
	r.running.Add(-1)
}

// TestRunTaskOnBoundsThreads checks that RunTaskOn covers every index once with more chunks
// than threads, and that no more than threads goroutines run its chunks at once: the chunks
// sleep, so any extra helper offered the job would overlap them.
func TestRunTaskOnBoundsThreads(t *testing.T) {
	t.Parallel()
	for _, threads := range []int{1, 2, 3} {
		for _, chunks := range []int{1, 2, 8, 16} {
			r := &chunkRecorder{seen: make([]atomic.Int32, 40), hold: 2 * time.Millisecond}
			RunTaskOn(len(r.seen), chunks, threads, r)
			for i := range r.seen {
				if c := r.seen[i].Load(); c != 1 {
					t.Fatalf("threads %d, chunks %d: index %d run %d times", threads, chunks, i, c)
				}
			}
			if most := int(r.mostAtOnce.Load()); most > threads {
				t.Fatalf("threads %d, chunks %d: %d chunks ran at once", threads, chunks, most)
			}
		}
	}
}

// TestCallerWaitsForASlowHelper runs two-chunk loops whose caller, in its own chunk, waits for
// the helper to join, and whose helper then takes 10 µs (its caller, polling, sees it leave) or
// far longer than spinFor (its caller stops polling and blocks until it leaves), alternately:
// every loop must return, and only once both chunks have finished (a signal left over from a
// loop whose caller never blocked would release a later one early).
func TestCallerWaitsForASlowHelper(t *testing.T) {
	finishedEarly := make(chan int, 1)
	go func() {
		caller := goroutineID()
		for round := range 40 {
			var arrived, finished atomic.Int32
			hold := spinFor / 10
			if round%2 == 1 {
				hold = 20 * spinFor
			}
			Run(2, 2, func(lo, hi int) {
				arrived.Add(1)
				if goroutineID() != caller {
					time.Sleep(hold)
				} else {
					for deadline := time.Now().Add(10 * time.Second); arrived.Load() < 2 && time.Now().Before(deadline); {
						goruntime.Gosched()
					}
				}
				finished.Add(1)
			})
			if finished.Load() != 2 {
				finishedEarly <- round
				return
			}
		}
		finishedEarly <- -1
	}()
	select {
	case round := <-finishedEarly:
		if round >= 0 {
			t.Fatalf("round %d: Run returned before its helper's chunk finished", round)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a caller still waits for its helper after 20 s")
	}
}

// goroutineID is the calling goroutine's number, from the first line of its stack trace.
func goroutineID() string {
	buf := make([]byte, 64)
	return strings.Fields(string(buf[:goruntime.Stack(buf, false)]))[1]
}

// TestCallerRunsTheFirstChunk checks that a loop's first chunk always runs on the caller's
// goroutine, whether its helper was polling (loops back to back) or had parked and was woken
// (the caller then yields its processor to it), with as many chunks as threads and with more.
func TestCallerRunsTheFirstChunk(t *testing.T) {
	caller := goroutineID()
	for _, pause := range []time.Duration{0, 50 * spinFor} {
		for _, chunks := range []int{2, 8} {
			for round := range 20 {
				time.Sleep(pause)
				var first atomic.Value
				RunTaskOn(16, chunks, 2, TaskFunc(func(lo, hi int) {
					if lo == 0 {
						first.Store(goroutineID())
					}
					time.Sleep(spinFor / 10)
				}))
				if got := first.Load(); got != caller {
					t.Fatalf("pause %v, %d chunks, round %d: chunk 0 ran on goroutine %v, the caller is %s", pause, chunks, round, got, caller)
				}
			}
		}
	}
}
