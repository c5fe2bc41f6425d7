//go:build workerpath

package workers

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// pathEnabled: built with -tags workerpath, every parallel loop runs its chunks one after
// another on the calling goroutine, timing each in thread CPU, and PathClock counts the loop as
// the time its chunks would take claimed in order by its threads (each next chunk to the thread
// that is free first, as the pool's threads claim them). Differences of PathClock around a piece
// of work done on one OS thread then estimate its critical path on that many threads of an idle
// machine, hand-offs and cache effects left out: a measure that does not move with the load of
// a shared machine, where wall-clock times on several threads do. A loop nested in another's
// chunk counts in the outer chunk's time as run serially.
const pathEnabled = true

// pathSkew sums, over the loops run so far, their estimated time on their threads minus the
// thread CPU their chunks took one after another.
var pathSkew atomic.Int64

// PathClock is the calling thread's CPU time with every parallel loop it ran counted as its
// estimated time on the loop's threads, and without the cost of reading it. The caller keeps
// to one OS thread between two readings (runtime.LockOSThread).
func PathClock() time.Duration {
	ns, _ := threadCPU()
	// Each reading's own cost (a system call) is taken off, as for a chunk in runTimed: a
	// profile reads the clock around every node, a few microseconds each.
	return time.Duration(ns + pathSkew.Add(-clockCost()))
}

// runTimed runs j's chunks in order on the caller and counts the loop, from the first clock
// reading to the last, as its chunks' makespan on threads threads. Reading the thread CPU clock
// is a system call (about 1–2 µs on a virtual machine, as much as a small chunk): each chunk's
// time has one reading's cost (clockCost) taken off, and the readings themselves count in the
// loop's span that the makespan replaces.
func (j *job) runTimed(threads int) {
	took := make([]int64, j.chunks)
	start, _ := threadCPU()
	t0 := start
	for i := range took {
		j.run(j.n*i/j.chunks, j.n*(i+1)/j.chunks)
		t1, _ := threadCPU()
		took[i] = max(t1-t0-clockCost(), 0)
		t0 = t1
	}
	pathSkew.Add(makespan(took, threads) - (t0 - start))
}

// clockCost is the median thread CPU between two back-to-back readings of the clock.
var clockCost = sync.OnceValue(func() int64 {
	d := make([]int64, 201)
	for i := range d {
		t0, _ := threadCPU()
		t1, _ := threadCPU()
		d[i] = t1 - t0
	}
	slices.Sort(d)
	return d[len(d)/2]
})

// makespan is how long chunks that take the given times last on threads threads that claim
// them in order, each next chunk going to the thread that is free first.
func makespan(took []int64, threads int) int64 {
	free := make([]int64, max(threads, 1)) // when each thread is next free
	for _, d := range took {
		first := slices.Index(free, slices.Min(free))
		free[first] += d
	}
	return slices.Max(free)
}
