//go:build !linux

package plugintest

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }
