//go:build amd64 && !noasm

package simd

import "golang.org/x/sys/cpu"

// host is fixed at start-up: the generated kernels need AVX2 and FMA (VGATHERDPS, VPERMPS,
// VFMADD…PS) and F16C (VCVTPH2PS, VCVTPS2PH; every CPU with FMA has it); the AVX-512 ones need
// AVX512F, and GEMM's zmm VXORPS AVX512DQ as well (every AVX-512 CPU but the Xeon Phi has both).
var host = detect()

func detect() Level {
	switch {
	case !cpu.X86.HasAVX2 || !cpu.X86.HasFMA || !cpu.X86.HasF16C:
		return Go
	case !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512DQ:
		return AVX2
	}
	return AVX512
}

// Host is the widest level this machine runs.
func Host() Level { return host }
