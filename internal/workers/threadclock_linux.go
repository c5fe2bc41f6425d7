package workers

import (
	"syscall"
	"time"
	"unsafe"
)

// ThreadCPU returns the CPU time the calling OS thread has used; ok is false where there is no
// such clock. Between two readings the goroutine must stay on its thread (runtime.LockOSThread).
// Unlike wall time it leaves out the time the thread was off the CPU, so on a loaded machine it
// still says which of two computations costs less.
func ThreadCPU() (d time.Duration, ok bool) {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
