//go:build !workerpath

package runtime

import "time"

// clockOrigin anchors nodeClock.
var clockOrigin = time.Now()

// nodeClock is what a profile times nodes with: the wall clock, or with the workerpath build tag
// the estimated critical path on the run's threads (profile_clock_path.go).
func nodeClock() time.Duration { return time.Since(clockOrigin) }
