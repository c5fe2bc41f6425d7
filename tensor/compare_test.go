package tensor

import (
	"math"
	"strings"
	"testing"
)

func TestAllClose(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	f := func(v ...float32) *Tensor { return New([]int{len(v)}, v) }
	for _, c := range []struct {
		name      string
		got, want *Tensor
		ok        string // "" agree, else a fragment of the error
	}{
		{"equal", f(1, 2), f(1, 2), ""},
		{"within rtol", f(1.0005), f(1), ""},
		{"beyond rtol", f(1.002), f(1), "1 of 1 elements differ"},
		{"atol near zero", f(1e-8), f(0), ""},
		{"nan matches nan", f(nan), f(nan), ""},
		{"nan vs number", f(nan), f(1), "differ"},
		{"inf matches inf", f(inf), f(inf), ""},
		{"finite vs inf", f(3e38), f(inf), "differ"},
		{"shape", f(1, 2), New([]int{1, 2}, []float32{1, 2}), "shape"},
		{"dtype", f(1), New([]int{1}, []float64{1}), "dtype"},
		{"ints", New([]int{2}, []int64{3, 4}), New([]int{2}, []int64{3, 5}), "element 1"},
		{"bools", New([]int{1}, []bool{true}), New([]int{1}, []bool{true}), ""},
		{"strings", New([]int{1}, []string{"a"}), New([]int{1}, []string{"b"}), `"a"`},
	} {
		err := AllClose(c.got, c.want, 1e-3, 1e-7)
		switch {
		case c.ok == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.ok != "" && (err == nil || !strings.Contains(err.Error(), c.ok)):
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.ok)
		}
	}
}
