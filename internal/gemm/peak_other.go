//go:build !amd64 || noasm

package gemm

// peakProbe: no assembly FMA loop in this build, so the peak is unknown.
func peakProbe() (probe func(iters int), bits, flopsPerIter int) { return nil, 0, 0 }
