//go:build linux

package actkernel

import (
	"syscall"
	"time"
)

// threadCPUTime is the CPU time the calling OS thread has used. Benchmarks lock their goroutine
// to one thread and report GB/s over it beside the wall-clock figure, which on a shared machine
// also counts the time other processes held the core.
func threadCPUTime() (time.Duration, bool) {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
