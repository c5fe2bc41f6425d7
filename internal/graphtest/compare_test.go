package graphtest

import (
	"math"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	f := func(v ...float32) *tensor.Tensor { return tensor.New([]int{len(v)}, v) }
	cases := []struct {
		name      string
		got, want *tensor.Tensor
		ok        bool
	}{
		{"equal", f(1, 2, 3), f(1, 2, 3), true},
		{"within rtol", f(1000.05), f(1000), true},
		{"within atol near zero", f(5e-6), f(0), true},
		{"beyond", f(1.001), f(1), false},
		{"nan matches nan", f(nan, 1), f(nan, 1), true},
		{"nan where a number is wanted", f(nan), f(1), false},
		{"number where nan is wanted", f(0), f(nan), false},
		{"infinities", f(inf), f(inf), true},
		{"finite for infinity", f(-3.4e38), f(inf), false},
		{"shape", f(1, 2), tensor.New([]int{2, 1}, []float32{1, 2}), false},
		{"type", tensor.New([]int{1}, []float64{1}), f(1), false},
		{"missing", nil, f(1), false},
		{"int64", tensor.New([]int{2}, []int64{3, 4}), tensor.New([]int{2}, []int64{3, 4}), true},
		{"bool differs", tensor.New([]int{1}, []bool{true}), tensor.New([]int{1}, []bool{false}), false},
	}
	for _, tc := range cases {
		err := Diff(tc.got, tc.want, RTol, ATol)
		if (err == nil) != tc.ok {
			t.Errorf("%s: Diff = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
