//go:build workerstats || workerpath

package workers

import "syscall"

// threadCPU returns the calling thread's CPU time and its id.
func threadCPU() (ns int64, tid int) {
	d, _ := ThreadCPU()
	return int64(d), syscall.Gettid()
}
