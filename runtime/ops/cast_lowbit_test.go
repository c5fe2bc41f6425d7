package ops

import (
	"math"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// The two ways floats become 4- and 2-bit integers: Cast truncates and wraps like the wider
// integer casts (the suite's goldens: −9 → 7, 8 → −8), QuantizeLinear rounds half to even and
// clamps to the type's range.
func TestSubByteCastWrapsQuantizeClamps(t *testing.T) {
	t.Parallel()
	x := f32t([]int{6}, -9, 8, 2.7, -2.7, 17, float32(math.NaN()))
	got := runKernel(t, "Cast", 21, kattr{"to": int64(tensor.Int4)}, 1, x)[0]
	if want := []tensor.Int4Value{7, -8, 2, -2, 1, 0}; !equalValues(got.Data.([]tensor.Int4Value), want) {
		t.Errorf("Cast to int4 = %v, want %v", got.Data, want)
	}
	got = runKernel(t, "Cast", 25, kattr{"to": int64(tensor.Uint2)}, 1, x)[0]
	if want := []tensor.Uint2Value{3, 0, 2, 2, 1, 0}; !equalValues(got.Data.([]tensor.Uint2Value), want) {
		t.Errorf("Cast to uint2 = %v, want %v", got.Data, want)
	}
	q := runKernel(t, "QuantizeLinear", 21, nil, 1, x, f32t([]int{}, 1), tensor.Scalar(tensor.Int4Value(0)))[0]
	if want := []tensor.Int4Value{-8, 7, 3, -3, 7, 0}; !equalValues(q.Data.([]tensor.Int4Value), want) {
		t.Errorf("QuantizeLinear to int4 = %v, want %v", q.Data, want)
	}
	// And back: DequantizeLinear of int4 with a zero point.
	dq := runKernel(t, "DequantizeLinear", 21, nil, 1, tensor.New([]int{3}, []tensor.Int4Value{-8, 0, 7}), f32t([]int{}, 0.5), tensor.Scalar(tensor.Int4Value(-1)))[0]
	wantClose(t, "DequantizeLinear int4", dq, []int{3}, []float64{-3.5, 0.5, 4}, 0)
}

// Cast to float8 honours saturate: out of range is ±max with it, NaN (e4m3fn) or ±Inf (e5m2)
// without it.
func TestCastFloat8Saturate(t *testing.T) {
	t.Parallel()
	x := f32t([]int{2}, 1000, -1e6)
	for _, c := range []struct {
		to       tensor.DType
		saturate int64
		want     []float64
	}{
		{tensor.Float8E4M3FN, 1, []float64{448, -448}},
		{tensor.Float8E4M3FN, 0, []float64{math.NaN(), math.NaN()}},
		{tensor.Float8E5M2, 1, []float64{1024, -57344}}, // 1000 rounds to 1024
		{tensor.Float8E5M2, 0, []float64{1024, math.Inf(-1)}},
	} {
		got := runKernel(t, "Cast", 19, kattr{"to": int64(c.to), "saturate": c.saturate}, 1, x)[0]
		v, _ := tensor.Float64s(got)
		for i := range c.want {
			if !(v[i] == c.want[i] || math.IsNaN(v[i]) && math.IsNaN(c.want[i])) {
				t.Errorf("Cast 1000, -1e6 to %v saturate=%d: %v, want %v", c.to, c.saturate, v, c.want)
				break
			}
		}
	}
}

func equalValues[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
