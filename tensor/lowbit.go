package tensor

import (
	"math"
	"unsafe"
)

// The 4- and 2-bit integers of ONNX (int4/uint4 opset 21+, int2/uint2 opset 25+). A tensor holds
// one value per byte (sign-extended for the signed types); TensorProto packs them, two or four to
// a byte, first element in the lowest bits.
type (
	Int4Value  int8  // −8…7
	Uint4Value uint8 // 0…15
	Int2Value  int8  // −2…1
	Uint2Value uint8 // 0…3
)

// IntRange is the smallest and largest value of an integer dtype of at most 32 bits (ok is false
// for other types).
func IntRange(d DType) (lo, hi int64, ok bool) {
	switch d {
	case Int2:
		return -2, 1, true
	case Uint2:
		return 0, 3, true
	case Int4:
		return -8, 7, true
	case Uint4:
		return 0, 15, true
	case Int8:
		return math.MinInt8, math.MaxInt8, true
	case Uint8:
		return 0, math.MaxUint8, true
	case Int16:
		return math.MinInt16, math.MaxInt16, true
	case Uint16:
		return 0, math.MaxUint16, true
	case Int32:
		return math.MinInt32, math.MaxInt32, true
	case Uint32:
		return 0, math.MaxUint32, true
	}
	return 0, 0, false
}

// SaturateInt rounds x half to even and clamps it to [lo, hi]; NaN becomes 0. It is how floats
// become the sub-byte integers (ONNX's Cast and QuantizeLinear).
func SaturateInt(x float64, lo, hi int64) int64 {
	if x != x {
		return 0
	}
	return int64(math.Max(float64(lo), math.Min(float64(hi), math.RoundToEven(x))))
}

// byteElems views the data of the one-byte element types added with the float8 and sub-byte
// formats as bytes (their bit patterns, or two's-complement values); ok is false for others.
func byteElems(data any) ([]byte, bool) {
	switch d := data.(type) {
	case []Float8E4M3FNBits:
		return asBytes(d), true
	case []Float8E4M3FNUZBits:
		return asBytes(d), true
	case []Float8E5M2Bits:
		return asBytes(d), true
	case []Float8E5M2FNUZBits:
		return asBytes(d), true
	case []Float8E8M0Bits:
		return asBytes(d), true
	case []Float4E2M1Bits:
		return asBytes(d), true
	case []Int4Value:
		return asBytes(d), true
	case []Uint4Value:
		return asBytes(d), true
	case []Int2Value:
		return asBytes(d), true
	case []Uint2Value:
		return asBytes(d), true
	}
	return nil, false
}

func asBytes[T ~uint8 | ~int8](s []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// newByteData allocates n elements of a one-byte type of byteElems (nil for other dtypes).
func newByteData(dt DType, n int) any {
	switch dt {
	case Float8E4M3FN:
		return make([]Float8E4M3FNBits, n)
	case Float8E4M3FNUZ:
		return make([]Float8E4M3FNUZBits, n)
	case Float8E5M2:
		return make([]Float8E5M2Bits, n)
	case Float8E5M2FNUZ:
		return make([]Float8E5M2FNUZBits, n)
	case Float8E8M0:
		return make([]Float8E8M0Bits, n)
	case Float4E2M1:
		return make([]Float4E2M1Bits, n)
	case Int4:
		return make([]Int4Value, n)
	case Uint4:
		return make([]Uint4Value, n)
	case Int2:
		return make([]Int2Value, n)
	case Uint2:
		return make([]Uint2Value, n)
	}
	return nil
}

// subByteData returns data[lo:hi] for the byteElems types.
func subByteData(data any, lo, hi int) (any, bool) {
	switch d := data.(type) {
	case []Float8E4M3FNBits:
		return d[lo:hi], true
	case []Float8E4M3FNUZBits:
		return d[lo:hi], true
	case []Float8E5M2Bits:
		return d[lo:hi], true
	case []Float8E5M2FNUZBits:
		return d[lo:hi], true
	case []Float8E8M0Bits:
		return d[lo:hi], true
	case []Float4E2M1Bits:
		return d[lo:hi], true
	case []Int4Value:
		return d[lo:hi], true
	case []Uint4Value:
		return d[lo:hi], true
	case []Int2Value:
		return d[lo:hi], true
	case []Uint2Value:
		return d[lo:hi], true
	}
	return nil, false
}

// lowBitFloat64s widens the byteElems types to their values.
func lowBitFloat64s(out []float64, data any) bool {
	switch d := data.(type) {
	case []Float8E4M3FNBits:
		for i, v := range d {
			out[i] = v.Float64()
		}
	case []Float8E4M3FNUZBits:
		for i, v := range d {
			out[i] = v.Float64()
		}
	case []Float8E5M2Bits:
		for i, v := range d {
			out[i] = v.Float64()
		}
	case []Float8E5M2FNUZBits:
		for i, v := range d {
			out[i] = v.Float64()
		}
	case []Float8E8M0Bits:
		for i, v := range d {
			out[i] = v.Float64()
		}
	case []Float4E2M1Bits:
		for i, v := range d {
			out[i] = v.Float64()
		}
	case []Int4Value:
		widen(out, asInt8s(d))
	case []Int2Value:
		widen(out, asInt8s(d))
	case []Uint4Value:
		widen(out, asBytes(d))
	case []Uint2Value:
		widen(out, asBytes(d))
	default:
		return false
	}
	return true
}

func asInt8s[T ~int8](s []T) []int8 {
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// packBits packs elements of the given width (4 or 2 bits; 8 copies) into raw bytes, first
// element lowest.
func packBits(elems []byte, bits int) []byte {
	if bits == 8 {
		return append([]byte(nil), elems...)
	}
	per := 8 / bits
	mask := byte(1)<<bits - 1
	raw := make([]byte, (len(elems)+per-1)/per)
	for i, v := range elems {
		raw[i/per] |= (v & mask) << (bits * (i % per))
	}
	return raw
}

// unpackBits is packBits' inverse, sign-extending when signed.
func unpackBits(dst, raw []byte, bits int, signed bool) {
	if bits == 8 {
		copy(dst, raw)
		return
	}
	per := 8 / bits
	mask := byte(1)<<bits - 1
	for i := range dst {
		v := raw[i/per] >> (bits * (i % per)) & mask
		if signed && v&(1<<(bits-1)) != 0 {
			v |= ^mask
		}
		dst[i] = v
	}
}

// isSignedLowBit reports whether d is int4 or int2, whose packed values are sign-extended.
func isSignedLowBit(d DType) bool { return d == Int4 || d == Int2 }

// LowBitDataType returns the length and dtype of data of one of the float8/float4 and sub-byte
// integer Go types (ok is false for others).
func LowBitDataType(data any) (n int, dt DType, ok bool) {
	b, ok := byteElems(data)
	if !ok {
		return 0, Undefined, false
	}
	switch data.(type) {
	case []Float8E4M3FNBits:
		dt = Float8E4M3FN
	case []Float8E4M3FNUZBits:
		dt = Float8E4M3FNUZ
	case []Float8E5M2Bits:
		dt = Float8E5M2
	case []Float8E5M2FNUZBits:
		dt = Float8E5M2FNUZ
	case []Float8E8M0Bits:
		dt = Float8E8M0
	case []Float4E2M1Bits:
		dt = Float4E2M1
	case []Int4Value:
		dt = Int4
	case []Uint4Value:
		dt = Uint4
	case []Int2Value:
		dt = Int2
	case []Uint2Value:
		dt = Uint2
	}
	return len(b), dt, true
}
