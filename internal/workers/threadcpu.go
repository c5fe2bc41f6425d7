//go:build workerstats || workerpath

package workers

import (
	"syscall"
	"unsafe"
)

// threadCPU returns the calling thread's CPU time and its id.
func threadCPU() (ns int64, tid int) {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano(), syscall.Gettid()
}
