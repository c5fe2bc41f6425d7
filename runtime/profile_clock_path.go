//go:build workerpath

package runtime

import (
	"time"

	"github.com/actswap/actswap/internal/workers"
)

// nodeClock, built with -tags workerpath, is workers.PathClock: a profile then gives each node's
// estimated time on the run's threads of an idle machine, in thread CPU (the caller keeps to
// one OS thread, as bench --profile does), instead of its wall time on a shared one.
func nodeClock() time.Duration { return workers.PathClock() }
