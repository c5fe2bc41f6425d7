//go:build race

package runtime

// raceEnabled lets heavy tests step aside under the race detector, which slows kernels ~20×.
const raceEnabled = true
