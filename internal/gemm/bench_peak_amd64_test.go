package gemm

import (
	"github.com/actswap/actswap/internal/testutil"
	"slices"
	"sync"
	"time"
)

// fmaPeakGFLOPs is one core's float32 FMA rate in GFLOP/s of CPU time, from the loop
// BenchmarkFMAPeak runs: the median of seven rounds, measured once per test binary, as the
// GEMM it is compared with is an average over many runs too.
var fmaPeakGFLOPs = sync.OnceValue(func() float64 {
	if !useAsm {
		return 0
	}
	const iters = 1 << 20
	fmaPeak(iters) // let the clock settle
	var rounds []time.Duration
	for range 7 {
		start := testutil.ProcessCPU()
		fmaPeak(iters)
		rounds = append(rounds, testutil.ProcessCPU()-start)
	}
	slices.Sort(rounds)
	if rounds[3] <= 0 {
		return 0
	}
	return 192 * iters / rounds[3].Seconds() / 1e9
})
