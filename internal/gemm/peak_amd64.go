//go:build amd64 && !noasm

package gemm

import "github.com/actswap/actswap/internal/simd"

// peakProbe picks the widest FMA loop the kernels use: zmm where the AVX-512 tiles run (a core
// with two 512-bit pipes peaks at twice its ymm rate), ymm otherwise.
func peakProbe() (probe func(iters int), bits, flopsPerIter int) {
	switch {
	case simd.Host().Wide():
		return fmaPeak512, 512, 16 * 2 * 16
	case simd.Host().Asm():
		return fmaPeak, 256, 16 * 2 * 8
	}
	return nil, 0, 0
}
