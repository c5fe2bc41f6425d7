package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// Casts to and from the float8, float4 and sub-byte integer types. Their values are exact in
// float64, so every such cast goes through it: floats round to nearest even into the float
// formats (saturating or not per Cast's 'saturate'), float8e8m0 rounds per 'round_mode', and the
// 4- and 2-bit integers round half to even and clamp to their range, as ONNX's reference does.

// castOptions are Cast's attributes for the low-precision targets.
type castOptions struct {
	saturate bool
	e8m0     tensor.E8M0Rounding
}

var defaultCastOptions = castOptions{saturate: true, e8m0: tensor.E8M0RoundUp}

func readCastOptions(n *Node) (castOptions, error) {
	o := castOptions{saturate: n.AttrInt("saturate", 1) != 0}
	switch mode := n.AttrString("round_mode", "up"); mode {
	case "up":
		o.e8m0 = tensor.E8M0RoundUp
	case "down":
		o.e8m0 = tensor.E8M0RoundDown
	case "nearest":
		o.e8m0 = tensor.E8M0RoundNearest
	default:
		return o, fmt.Errorf("round_mode %q is not one of up, down, nearest", mode)
	}
	return o, nil
}

// isLowBit reports whether dt is one of the types this file converts.
func isLowBit(dt tensor.DType) bool {
	return dt.IsStorageFloat() || (dt.Bits() > 0 && dt.Bits() < 8)
}

// castLowBit converts t into out when either type is a low-precision one.
func castLowBit(t, out *tensor.Tensor, o castOptions) error {
	var vals []float64
	if s, ok := t.Data.([]string); ok {
		parsed := tensor.Zeros(tensor.Float64, t.Shape)
		if err := castFromStrings(s, parsed); err != nil {
			return err
		}
		vals = parsed.Data.([]float64)
	} else if v, ok := tensor.Float64s(t); ok {
		vals = v
	} else {
		return fmt.Errorf("cannot cast %v to %v", t.DType, out.DType)
	}
	if !isLowBit(out.DType) {
		if out.DType == tensor.String {
			return fmt.Errorf("cannot cast %v to string", t.DType)
		}
		return storeFloats(vals, out)
	}
	return storeLowBit(vals, out, o)
}

// storeLowBit writes float64 values into a low-precision tensor.
func storeLowBit(vals []float64, out *tensor.Tensor, o castOptions) error {
	switch d := out.Data.(type) {
	case []tensor.Float8E4M3FNBits:
		for i, v := range vals {
			d[i] = tensor.Float8E4M3FNFromFloat64(v, o.saturate)
		}
	case []tensor.Float8E4M3FNUZBits:
		for i, v := range vals {
			d[i] = tensor.Float8E4M3FNUZFromFloat64(v, o.saturate)
		}
	case []tensor.Float8E5M2Bits:
		for i, v := range vals {
			d[i] = tensor.Float8E5M2FromFloat64(v, o.saturate)
		}
	case []tensor.Float8E5M2FNUZBits:
		for i, v := range vals {
			d[i] = tensor.Float8E5M2FNUZFromFloat64(v, o.saturate)
		}
	case []tensor.Float8E8M0Bits:
		for i, v := range vals {
			d[i] = tensor.Float8E8M0FromFloat64(v, o.saturate, o.e8m0)
		}
	case []tensor.Float4E2M1Bits:
		for i, v := range vals {
			d[i] = tensor.Float4E2M1FromFloat64(v)
		}
	case []tensor.Int4Value:
		wrapInts(vals, d, 4)
	case []tensor.Uint4Value:
		wrapInts(vals, d, 4)
	case []tensor.Int2Value:
		wrapInts(vals, d, 2)
	case []tensor.Uint2Value:
		wrapInts(vals, d, 2)
	default:
		return fmt.Errorf("cannot cast to %v", out.DType)
	}
	return nil
}

// wrapInts truncates toward zero (NaN to 0) and keeps the low bits, sign-extended for the signed
// types.
func wrapInts[T ~int8 | ~uint8](vals []float64, dst []T, bits int) {
	ints := make([]int64, len(vals))
	floatsToInts(vals, ints)
	var zero T
	one := zero + 1
	signed := zero-one < zero // false for the unsigned types, where 0−1 wraps to 255
	for i, v := range ints {
		low := v & (1<<bits - 1)
		if signed && low >= 1<<(bits-1) {
			low -= 1 << bits
		}
		dst[i] = T(low)
	}
}
