//go:build workerstats

package workers

import (
	"sync"
	"time"
)

// statsEnabled: built with -tags workerstats, every parallel loop records the thread CPU time
// its caller and helpers spent in chunks (one clock_gettime system call before and after each
// participant's share) and how its helpers were reached. Thread CPU time counts only while the
// thread is on a CPU, so the split of a loop that two threads shared does not depend on how
// loaded the machine is, where wall times on a shared machine do.
const statsEnabled = true

// Stats sums what the parallel loops did since the process started.
type Stats struct {
	Loops  int64 // parallel loops run (loops of one chunk run inline and are not counted)
	Alone  int64 // loops that no worker joined: the caller ran every chunk
	Polled int64 // helpers that took a job while polling for one
	Woken  int64 // helpers that had parked and were woken for a job
	// Late counts loops that a helper joined only after the caller had claimed every chunk (on
	// a loaded machine, a helper whose thread was not on a CPU).
	Late int64
	// Shared counts the loops whose chunks ran on more than one thread. For those, SharedCPU is
	// the thread CPU time in chunks of all participants together and CriticalCPU the sum of the
	// busiest participant's: CriticalCPU − SharedCPU/threads is the time lost to imbalance.
	Shared                 int64
	SharedCPU, CriticalCPU time.Duration
	// Migrated counts shared loops left out of SharedCPU and CriticalCPU because a participant's
	// goroutine moved to another thread during its chunks (so its thread CPU time is unknown).
	Migrated int64
}

var (
	statsMu sync.Mutex
	stats   Stats
)

// ReadStats returns the totals so far.
func ReadStats() Stats {
	statsMu.Lock()
	defer statsMu.Unlock()
	return stats
}

// addShare records the chunks a participant ran since thread CPU time t0 on thread tid.
func (j *job) addShare(t0 int64, tid int) {
	j.workedOn.Add(1)
	t1, tid1 := threadCPU()
	if tid1 != tid {
		j.migrated.Store(true)
		return
	}
	cpu := t1 - t0
	j.cpuSum.Add(cpu)
	for old := j.cpuMax.Load(); cpu > old && !j.cpuMax.CompareAndSwap(old, cpu); old = j.cpuMax.Load() {
	}
}

func recordLoop(j *job) {
	statsMu.Lock()
	defer statsMu.Unlock()
	stats.Loops++
	helpers := j.polled + j.woken
	switch worked := j.workedOn.Load(); {
	case helpers == 0:
		stats.Alone++
	case worked == 1:
		stats.Late++
	case j.migrated.Load():
		stats.Shared++
		stats.Migrated++
	default:
		stats.Shared++
		stats.SharedCPU += time.Duration(j.cpuSum.Load())
		stats.CriticalCPU += time.Duration(j.cpuMax.Load())
	}
	stats.Polled += int64(j.polled)
	stats.Woken += int64(j.woken)
}
