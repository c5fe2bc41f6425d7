package gemm

import "golang.org/x/sys/cpu"

// useAsm selects the avo-generated AVX2/FMA kernel; tests turn it off to check the Go kernel.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// microKernel computes one mr×nr tile; slices must hold k·mr, k·nr and (mr−1)·ldc+nr values.
func microKernel(k int, a, b, c []float32, ldc int, accumulate bool) {
	if useAsm {
		_ = a[k*mr-1]
		_ = b[k*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		kernel6x16(k, &a[0], &b[0], &c[0], ldc, accumulate)
		return
	}
	kernelGeneric(k, a, b, c, ldc, accumulate)
}

// narrowKernel stores the first nr/2 columns of an mr×nr tile (the rest of c's rows may be
// written too); used for a matrix's last panel when it holds ≤ nr/2 real columns.
func narrowKernel(k int, a, b, c []float32, ldc int) {
	if useAsm {
		_ = a[k*mr-1]
		_ = b[k*nr-1]
		_ = c[(mr-1)*ldc+nr/2-1]
		kernel6x8(k, &a[0], &b[0], &c[0], ldc)
		return
	}
	kernelGeneric(k, a, b, c, ldc, false)
}

// indirectKernel is microKernel with B row p read at b[offs[p]:]; the caller guarantees
// b[offs[p] : offs[p]+nr] is in range for every p (SgemmPackedAIndirect checks it once).
func indirectKernel(k int, a, b []float32, offs []int, c []float32, ldc int, accumulate bool) {
	if useAsm {
		_ = a[k*mr-1]
		_ = offs[k-1]
		_ = c[(mr-1)*ldc+nr-1]
		kernel6x16Indirect(k, &a[0], &b[0], &offs[0], &c[0], ldc, accumulate)
		return
	}
	kernelGenericIndirect(k, a, b, offs, c, ldc, accumulate)
}
