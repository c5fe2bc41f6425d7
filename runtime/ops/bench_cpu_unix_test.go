//go:build unix

package ops

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time this process has used: on a shared, busy machine wall-clock
// benchmarks mostly measure the other tenants, CPU time mostly measures us.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op and CPU-time GFLOP/s for flops per iteration, measured since start.
func reportCPU(b *testing.B, start time.Duration, flops float64) {
	cpu := processCPU() - start
	if cpu <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "cpu-GFLOP/s")
}
