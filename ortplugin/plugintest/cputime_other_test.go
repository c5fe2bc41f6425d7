//go:build !linux

package plugintest

import "time"

func threadCPUTime() (time.Duration, bool) { return 0, false }
