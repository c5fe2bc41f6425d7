//go:build !amd64 || noasm

package simd

// Host is Go off amd64 and under the noasm build tag: there are only the Go loops.
func Host() Level { return Go }
