//go:build !amd64

package gemm

// fmaPeakGFLOPs is unknown without the assembly FMA loop.
func fmaPeakGFLOPs() float64 { return 0 }
