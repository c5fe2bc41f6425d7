//go:build !linux

package actkernel

import "time"

// threadCPUTime is not measured off Linux; benchmarks then report wall-clock GB/s only.
func threadCPUTime() (time.Duration, bool) { return 0, false }
