//go:build !unix

package testutil

import "time"

// ProcessCPU is unknown off unix: 0, which ReportCPU skips.
func ProcessCPU() time.Duration { return 0 }
