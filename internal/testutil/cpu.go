package testutil

import (
	"testing"
	"time"
)

// ReportCPU adds cpu-ns/op and CPU-time GFLOP/s for flops per iteration to b, measured since
// start (a ProcessCPU reading): on a shared, busy machine wall-clock benchmarks mostly measure
// the other tenants, CPU time mostly measures the benchmark.
func ReportCPU(b *testing.B, start time.Duration, flops float64) {
	cpu := ProcessCPU() - start
	if cpu <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "cpu-GFLOP/s")
}
