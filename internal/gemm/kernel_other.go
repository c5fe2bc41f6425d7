//go:build !amd64

package gemm

// useAsm is false off amd64: there is only the Go kernel.
var useAsm = false

func microKernel(k int, a, b, c []float32, ldc int, accumulate bool) {
	kernelGeneric(k, a, b, c, ldc, accumulate)
}

func narrowKernel(k int, a, b, c []float32, ldc int) {
	kernelGeneric(k, a, b, c, ldc, false)
}

func indirectKernel(k int, a, b []float32, offs []int, c []float32, ldc int, accumulate bool) {
	kernelGenericIndirect(k, a, b, offs, c, ldc, accumulate)
}
