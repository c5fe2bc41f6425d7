package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/tensor"
)

// TestReduceTrailingAxes checks ReduceSum and ReduceMean over trailing axes (one vector sum per
// output, sumContiguous) against float64 sums, with and without keepdims, and that other axis
// sets do not take that path.
func TestReduceTrailingAxes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(71, 72))
	x := randTensor(r, 3, 5, 4, 7)
	for _, tc := range []struct {
		axes     []int64
		trailing bool
	}{{[]int64{2, 3}, true}, {[]int64{-1}, true}, {[]int64{1, 2, 3}, true}, {[]int64{1, 3}, false}, {[]int64{0}, false}} {
		var maskBuf [4]bool
		mask, err := reductionAxesInto(maskBuf[:], tc.axes, 4)
		if err != nil {
			t.Fatal(err)
		}
		if got := trailingAxes(mask); got != tc.trailing {
			t.Errorf("axes %v: trailingAxes = %v, want %v", tc.axes, got, tc.trailing)
		}
		for _, kind := range []reduceKind{reduceSum, reduceMean} {
			for _, keepdims := range []bool{true, false} {
				out, err := reduce(NewContext(1), kind, x, mask, keepdims)
				if err != nil {
					t.Fatal(err)
				}
				kept, outShape := reduceShapes(x.Shape, mask, keepdims)
				if !tensor.SameShape(out.Shape, outShape) {
					t.Fatalf("axes %v: shape %v, want %v", tc.axes, out.Shape, outShape)
				}
				want := make([]float64, tensor.NumElements(kept))
				count := x.Len() / len(want)
				for i, v := range x.F32() {
					slot, rest := 0, i
					idx := make([]int, len(x.Shape))
					for d := len(x.Shape) - 1; d >= 0; d-- {
						idx[d], rest = rest%x.Shape[d], rest/x.Shape[d]
					}
					for d, n := range kept {
						if n > 1 {
							slot = slot*n + idx[d]
						}
					}
					want[slot] += float64(v)
				}
				for i, v := range out.F32() {
					w := want[i]
					if kind == reduceMean {
						w /= float64(count)
					}
					if math.Abs(float64(v)-w) > 1e-6*(1+math.Abs(w)) {
						t.Fatalf("axes %v kind %d: out[%d] = %g, want %g", tc.axes, kind, i, v, w)
					}
				}
			}
		}
	}
}

// BenchmarkReduceMeanPlanes is digits_cnn's global average: ReduceMean over the 4×4 planes of
// 16 × 64 channels.
func BenchmarkReduceMeanPlanes(b *testing.B) {
	x := randTensor(rand.New(rand.NewPCG(1, 2)), 16, 64, 4, 4)
	mask := []bool{false, false, true, true}
	ctx := &Context{Threads: 1, Allocator: reusedOutput{}}
	start := testutil.ProcessCPU()
	for b.Loop() {
		if _, err := reduce(ctx, reduceMean, x, mask, false); err != nil {
			b.Fatal(err)
		}
	}
	testutil.ReportCPU(b, start, float64(x.Len()))
}
