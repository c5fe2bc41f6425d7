//go:build workerpath

package workers

import (
	"runtime"
	"testing"
	"time"
)

func TestMakespan(t *testing.T) {
	for _, c := range []struct {
		took    []int64
		threads int
		want    int64
	}{
		{[]int64{4, 4}, 2, 4},
		{[]int64{4, 4}, 1, 8},
		{[]int64{5, 1, 1, 1, 1}, 2, 5},    // the four short ones go to the second thread
		{[]int64{1, 1, 1, 1, 5}, 2, 7},    // claimed in order: the long one comes last
		{[]int64{3, 3, 3}, 2, 6},          // three equal chunks on two threads
		{[]int64{2, 3, 4, 1, 2, 2}, 3, 5}, // 2+1+2, 3+2, 4
	} {
		if got := makespan(c.took, c.threads); got != c.want {
			t.Errorf("makespan(%v, %d) = %d, want %d", c.took, c.threads, got, c.want)
		}
	}
}

// TestPathClock checks that a loop of equal chunks on two threads advances PathClock by about
// half of the thread CPU it takes one after another, and that every chunk still runs once.
func TestPathClock(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	spin := func(d time.Duration) {
		t0, _ := threadCPU()
		for t1 := t0; t1-t0 < int64(d); t1, _ = threadCPU() {
		}
	}
	ran := make([]int, 4)
	c0, t0 := PathClock(), time.Duration(must(threadCPU()))
	RunTaskOn(4, 4, 2, chunkFunc(func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ran[i]++
		}
		spin(5 * time.Millisecond)
	}))
	path, cpu := PathClock()-c0, time.Duration(must(threadCPU()))-t0
	for i, n := range ran {
		if n != 1 {
			t.Fatalf("chunk %d ran %d times", i, n)
		}
	}
	if cpu < 20*time.Millisecond || path < cpu*4/10 || path > cpu*6/10 {
		t.Errorf("4 chunks of 5 ms on 2 threads: path clock moved %v for %v of thread CPU, want about half", path, cpu)
	}
}

type chunkFunc func(lo, hi int)

func (f chunkFunc) Chunk(lo, hi int) { f(lo, hi) }

func must(ns int64, _ int) int64 { return ns }

// TestPathClockLeavesOutItsReadings checks that reading PathClock many times in a row moves it
// by much less than the thread CPU those readings take (system calls of about a microsecond).
func TestPathClockLeavesOutItsReadings(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0, t0 := PathClock(), must(threadCPU())
	for range 10000 {
		PathClock()
	}
	path, cpu := PathClock()-c0, time.Duration(must(threadCPU())-t0)
	if path > cpu/4 {
		t.Errorf("10000 readings moved the path clock %v for %v of thread CPU", path, cpu)
	}
}
