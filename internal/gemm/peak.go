package gemm

import (
	"runtime"
	"slices"
	"time"
)

// Peak is one core's float32 FMA throughput as measured by a loop of independent FMAs at the
// widest vector width this build's kernels use: the ceiling every "% of peak" is a share of.
type Peak struct {
	GFLOPs     float64 `json:"gflops"`      // per second of the probing thread's CPU time; 0 when unknown
	VectorBits int     `json:"vector_bits"` // 512 (zmm), 256 (ymm), 0 without an assembly probe
}

// MeasurePeak runs the FMA probe on one locked OS thread for about 20 ms and returns the median
// of seven rounds. It times the thread's CPU time, not the wall clock, so on a shared machine
// the peak is not lowered by other tenants (which would push shares above 100%).
func MeasurePeak() Peak {
	probe, bits, flopsPerIter := peakProbe()
	if probe == nil {
		return Peak{}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const iters = 1 << 20
	probe(iters) // let the clock settle
	rounds := make([]time.Duration, 7)
	for i := range rounds {
		start := threadCPU()
		probe(iters)
		rounds[i] = threadCPU() - start
	}
	slices.Sort(rounds)
	if rounds[3] <= 0 {
		return Peak{VectorBits: bits}
	}
	return Peak{GFLOPs: float64(flopsPerIter) * iters / rounds[3].Seconds() / 1e9, VectorBits: bits}
}
