//go:build !race

package testutil

// RaceEnabled lets heavy tests and allocation counts step aside under the race detector, which
// slows kernels ~20× and allocates on its own.
const RaceEnabled = false
