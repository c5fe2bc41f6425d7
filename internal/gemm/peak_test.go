package gemm

import (
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// TestMeasurePeakUsesTheWidestKernelVectors: the peak that shares are taken of must come from
// the widest vectors the kernels run (a ymm probe on a core with two 512-bit FMA pipes measured
// half the peak, and SGEMM showed 170% of it).
func TestMeasurePeakUsesTheWidestKernelVectors(t *testing.T) {
	t.Parallel()
	p := MeasurePeak()
	want := 0
	switch {
	case simd.Host().Wide():
		want = 512
	case simd.Host().Asm():
		want = 256
	}
	if p.VectorBits != want {
		t.Fatalf("peak measured with %d-bit vectors, the kernels use %d", p.VectorBits, want)
	}
	if want > 0 && !(p.GFLOPs > 0) {
		t.Fatalf("peak %v GFLOP/s", p.GFLOPs)
	}
	t.Logf("FMA peak %.1f GFLOP/s with %d-bit vectors", p.GFLOPs, p.VectorBits)
}
