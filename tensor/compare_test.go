package tensor

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestAllClose(t *testing.T) {
	t.Parallel()
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

func TestScalarValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		t    *Tensor
		want float64
		ok   bool
	}{
		{"float32 rank 0", Scalar(float32(0.5)), 0.5, true},
		{"float64 rank 1", New([]int{1}, []float64{1.4142135623730951}), 1.4142135623730951, true},
		{"int64 rank 2", New([]int{1, 1}, []int64{-3}), -3, true},
		{"float16", Scalar(Float16FromFloat32(0.044715)), float64(Float16FromFloat32(0.044715).Float32()), true},
		{"two elements", New([]int{2}, []float32{1, 2}), 0, false},
		{"bool", Scalar(true), 0, false},
		{"string", New([]int{}, []string{"1"}), 0, false},
		{"nil", nil, 0, false},
	} {
		got, ok := ScalarValue(c.t)
		if ok != c.ok || got != c.want {
			t.Errorf("%s: ScalarValue = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// TestJSONFloat64RoundTrip: a report field written as JSONFloat spells it reads back the same,
// NaN included, and a string that is not one of the spellings is refused.
func TestJSONFloat64RoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{0, -1.5, 1e-300, math.NaN(), math.Inf(1), math.Inf(-1)} {
		b, err := json.Marshal(JSONFloat64(f))
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		want, _ := json.Marshal(JSONFloat(f))
		if string(b) != string(want) {
			t.Errorf("%v written as %s, JSONFloat spells it %s", f, b, want)
		}
		var back JSONFloat64
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if float64(back) != f && !(math.IsNaN(f) && math.IsNaN(float64(back))) {
			t.Errorf("%s read back as %v, want %v", b, back, f)
		}
	}
	var v JSONFloat64
	if err := json.Unmarshal([]byte(`"inf"`), &v); err == nil || !strings.Contains(err.Error(), `"inf"`) {
		t.Errorf(`"inf": %v`, err)
	}
}
