package runtime

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// compareValues checks got against want with ONNX's |got−want| ≤ atol + rtol·|want| (NaN equals
// NaN), recursing into sequences; it returns "" when they agree, else what differs.
func compareValues(got, want *tensor.Tensor, rtol, atol float64) string {
	if got == nil {
		return "not produced"
	}
	if ops.IsEmptyOptional(want) || ops.IsEmptyOptional(got) {
		if ops.IsEmptyOptional(want) != ops.IsEmptyOptional(got) {
			return fmt.Sprintf("got %s, want %s", describe(got), describe(want))
		}
		return ""
	}
	if ws, ok := ops.AsSequence(want); ok {
		gs, ok := ops.AsSequence(got)
		if !ok || len(gs) != len(ws) {
			return fmt.Sprintf("got %s, want %s", describe(got), describe(want))
		}
		for i := range ws {
			if msg := compareValues(gs[i], ws[i], rtol, atol); msg != "" {
				return fmt.Sprintf("element %d: %s", i, msg)
			}
		}
		return ""
	}
	if got.DType != want.DType {
		return fmt.Sprintf("dtype %v, want %v", got.DType, want.DType)
	}
	if !tensor.SameShape(got.Shape, want.Shape) {
		return fmt.Sprintf("shape %v, want %v", got.Shape, want.Shape)
	}
	g, w := float64s(got), float64s(want)
	if g == nil {
		if fmt.Sprint(got.Data) != fmt.Sprint(want.Data) {
			return "values differ"
		}
		return ""
	}
	for i := range g {
		if g[i] == w[i] || math.IsNaN(g[i]) && math.IsNaN(w[i]) {
			continue
		}
		if math.IsNaN(g[i]) || math.IsNaN(w[i]) || math.Abs(g[i]-w[i]) > atol+rtol*math.Abs(w[i]) {
			return fmt.Sprintf("element %d = %g, want %g", i, g[i], w[i])
		}
	}
	return ""
}

// float64s widens numeric data (nil for bool and string).
func float64s(t *tensor.Tensor) []float64 {
	out := make([]float64, t.Len())
	switch d := t.Data.(type) {
	case []float32:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []float64:
		copy(out, d)
	case []tensor.Float16Bits:
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
	case []tensor.BFloat16Bits:
		for i, v := range d {
			out[i] = float64(v.Float32())
		}
	case []int8:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []int16:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []int32:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []int64:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []uint8:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []uint16:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []uint32:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []uint64:
		for i, v := range d {
			out[i] = float64(v)
		}
	default:
		return nil
	}
	return out
}
