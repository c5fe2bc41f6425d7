//go:build linux

package plugintest

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPUTime is the CPU time the calling OS thread has used (CLOCK_THREAD_CPUTIME_ID, in
// nanoseconds). With one intra-op thread onnxruntime runs a session's nodes on the caller's
// thread, so on a shared machine this counts the run's work without the time other processes
// held the core.
func threadCPUTime() (time.Duration, bool) {
	const clockThreadCPUTime = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
