//go:build !linux

package workers

import "time"

// ThreadCPU reports no clock: this platform's thread CPU time is not read.
func ThreadCPU() (d time.Duration, ok bool) { return 0, false }
