package tensor

import (
	"encoding/json"
	"fmt"
	"math"
)

// Float64s returns t's values widened to float64 (bool as 0 and 1), and false for string
// tensors, which have no numeric value.
func Float64s(t *Tensor) ([]float64, bool) {
	out := make([]float64, t.Len())
	switch d := t.Data.(type) {
	case []float32:
		widen(out, d)
	case []float64:
		copy(out, d)
	case []Float16Bits:
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
	case []BFloat16Bits:
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
	case []int8:
		widen(out, d)
	case []int16:
		widen(out, d)
	case []int32:
		widen(out, d)
	case []int64:
		widen(out, d)
	case []uint8:
		widen(out, d)
	case []uint16:
		widen(out, d)
	case []uint32:
		widen(out, d)
	case []uint64:
		widen(out, d)
	case []bool:
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
	default:
		if !lowBitFloat64s(out, t.Data) {
			return nil, false
		}
	}
	return out, true
}

// ScalarValue returns the value of a one-element numeric tensor of any rank widened to float64,
// and false for anything else: more elements, strings, bools. Graph rewrites and fusions read
// the constants of the patterns they match with it.
func ScalarValue(t *Tensor) (float64, bool) {
	if t == nil || t.Len() != 1 {
		return 0, false
	}
	if _, isBool := t.Data.([]bool); isBool {
		return 0, false
	}
	v, ok := Float64s(t)
	if !ok {
		return 0, false
	}
	return v[0], true
}

func widen[T float32 | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](dst []float64, src []T) {
	for i, v := range src {
		dst[i] = float64(v)
	}
}

// AllClose checks got against want the way the ONNX backend tests do: same dtype and shape, and
// |got − want| ≤ atol + rtol·|want| elementwise, where NaN matches only NaN and an infinity only
// itself. Strings must be equal. It returns nil, or an error naming the first mismatch and how
// many elements differ.
func AllClose(got, want *Tensor, rtol, atol float64) error {
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if !SameShape(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if ws, ok := want.Data.([]string); ok {
		gs := got.Data.([]string)
		for i := range ws {
			if gs[i] != ws[i] {
				return fmt.Errorf("element %d = %q, want %q", i, gs[i], ws[i])
			}
		}
		return nil
	}
	g, _ := Float64s(got)
	w, _ := Float64s(want)
	bad, first := 0, -1
	for i := range w {
		if !closeTo(g[i], w[i], rtol, atol) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements differ; first, element %d = %g, want %g", bad, len(w), first, g[first], w[first])
	}
	return nil
}

func closeTo(g, w, rtol, atol float64) bool {
	switch {
	case math.IsNaN(w):
		return math.IsNaN(g)
	case math.IsInf(w, 0):
		return g == w
	}
	return math.Abs(g-w) <= atol+rtol*math.Abs(w)
}

// Float32s returns a float tensor's values as float32: the tensor's own slice for float32 (not a
// copy), a converted copy for float64, float16 and bfloat16, and false for other types.
func Float32s(t *Tensor) ([]float32, bool) {
	switch d := t.Data.(type) {
	case []float32:
		return d, true
	case []float64:
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = float32(v)
		}
		return out, true
	case []Float16Bits:
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = v.Float32()
		}
		return out, true
	case []BFloat16Bits:
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = v.Float32()
		}
		return out, true
	}
	return nil, false
}

// JSONFloat is f as encoding/json can write it: the number itself when finite, else the string
// "NaN", "Infinity" or "-Infinity" (JSON has no literal for them; V2 inference servers spell
// them so).
func JSONFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// JSONFloat64 is a float64 field of a report that may be NaN or ±Inf: encoding/json writes it as
// JSONFloat spells it, and reads back both numbers and those spellings, so a struct needs no
// hand-written MarshalJSON for one such field.
type JSONFloat64 float64

// MarshalJSON writes f as JSONFloat spells it.
func (f JSONFloat64) MarshalJSON() ([]byte, error) { return json.Marshal(JSONFloat(float64(f))) }

// UnmarshalJSON reads a number or one of the strings "NaN", "Infinity" and "-Infinity".
func (f *JSONFloat64) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			if JSONFloat(v) == s {
				*f = JSONFloat64(v)
				return nil
			}
		}
		return fmt.Errorf("%q is not a number, NaN, Infinity or -Infinity", s)
	}
	return json.Unmarshal(b, (*float64)(f))
}
