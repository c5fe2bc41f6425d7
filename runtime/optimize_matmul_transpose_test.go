package runtime

import (
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// TestMatMulTransposeFusion checks that a MatMul reading a Transpose that swaps the last two
// axes (attention's Q·Kᵀ, and a plain 2-D transpose) reads its operand in place, that other
// permutations and a transpose read elsewhere are left alone, that a scale between the two
// (scaled-dot-product attention) is fused too, and that every variant computes what the
// unoptimized session and onnxruntime compute, for float32 and int64.
func TestMatMulTransposeFusion(t *testing.T) {
	for _, tc := range []struct {
		name       string
		a, k       []int // shapes of A and of the tensor that is transposed
		perm       []int64
		dt         tensor.DType
		keepOutput bool  // the transpose is also a graph output
		scale      []int // when set, Kᵀ is multiplied by a fed tensor of this shape first
		scaleFirst bool  // Mul(s, Kᵀ) rather than Mul(Kᵀ, s)
		want       int
	}{
		// PyTorch's scaled-dot-product attention: Kᵀ·s with s computed at run time.
		{name: "sdpa_scale", a: []int{2, 3, 5, 8}, k: []int{2, 3, 7, 8}, perm: []int64{0, 1, 3, 2}, dt: tensor.Float32, scale: []int{}, want: 1},
		{name: "sdpa_scale_first", a: []int{2, 3, 5, 8}, k: []int{2, 3, 7, 8}, perm: []int64{0, 1, 3, 2}, dt: tensor.Float32, scale: []int{1}, scaleFirst: true, want: 1},
		// Scales that are not one element, or that raise the rank, are applied as written.
		{name: "scale_per_token", a: []int{3, 5, 8}, k: []int{3, 7, 8}, perm: []int64{0, 2, 1}, dt: tensor.Float32, scale: []int{7}, want: 1},
		{name: "scale_raises_rank", a: []int{5, 8}, k: []int{7, 8}, perm: []int64{1, 0}, dt: tensor.Float32, scale: []int{1, 1, 1}, want: 1},
		{name: "scale_int64", a: []int{2, 5, 8}, k: []int{2, 7, 8}, perm: []int64{0, 2, 1}, dt: tensor.Int64, scale: []int{}, want: 1},
		{name: "attention", a: []int{2, 3, 5, 8}, k: []int{2, 3, 7, 8}, perm: []int64{0, 1, 3, 2}, dt: tensor.Float32, want: 1},
		{name: "matrix", a: []int{5, 8}, k: []int{7, 8}, perm: []int64{1, 0}, dt: tensor.Float32, want: 1},
		{name: "broadcast_batch", a: []int{4, 5, 8}, k: []int{7, 8}, perm: []int64{1, 0}, dt: tensor.Float32, want: 1},
		{name: "int64", a: []int{2, 5, 8}, k: []int{2, 7, 8}, perm: []int64{0, 2, 1}, dt: tensor.Int64, want: 1},
		{name: "other_perm", a: []int{3, 5, 8}, k: []int{8, 3, 7}, perm: []int64{1, 0, 2}, dt: tensor.Float32, want: 0},
		{name: "transpose_escapes", a: []int{5, 8}, k: []int{7, 8}, perm: []int64{1, 0}, dt: tensor.Float32, keepOutput: true, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := graphtest.Seeded(31)
			b := graphtest.New("mm_t_"+tc.name, 17)
			a := b.Input("a", tc.dt, anyDims(tc.a)...)
			k := b.Input("k", tc.dt, anyDims(tc.k)...)
			kt := b.Op("Transpose", []string{k}, graphtest.A("perm", tc.perm))
			if tc.scale != nil {
				sc := b.Input("s", tc.dt, anyDims(tc.scale)...)
				if tc.scaleFirst {
					kt = b.Op("Mul", []string{sc, kt})
				} else {
					kt = b.Op("Mul", []string{kt, sc})
				}
			}
			b.Output(b.Op("MatMul", []string{a, kt}), tc.dt)
			if tc.keepOutput {
				b.Output(kt, tc.dt)
			}
			m := b.Model()
			feeds := map[string]*tensor.Tensor{}
			if tc.dt == tensor.Int64 {
				feeds["a"], feeds["k"] = graphtest.RandI64(r, -9, 9, tc.a...), graphtest.RandI64(r, -9, 9, tc.k...)
				if tc.scale != nil {
					feeds["s"] = graphtest.RandI64(r, -3, 3, tc.scale...)
				}
			} else {
				feeds["a"], feeds["k"] = graphtest.RandF32(r, 1, tc.a...), graphtest.RandF32(r, 1, tc.k...)
				if tc.scale != nil {
					feeds["s"] = graphtest.RandF32(r, 1, tc.scale...)
				}
			}
			checkOptimized(t, m, map[string]int{"matmul_transpose_fusion": tc.want}, feeds, 1e-5)
			if tc.dt == tensor.Float32 {
				graphtest.AgreeWithORT(t, m, "mm_t_"+tc.name, feeds, runOptimized, graphtest.RTol, graphtest.ATol)
			}
		})
	}
}

func anyDims(shape []int) []any {
	out := make([]any, len(shape))
	for i, d := range shape {
		out[i] = d
	}
	return out
}
