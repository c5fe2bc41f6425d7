// Package tensor is actswap's n-dimensional array: a shape, an element type and a typed Go slice,
// with conversions to and from ONNX TensorProto and NumPy's .npy/.npz files.
package tensor

import "fmt"

// DType is an element type. Its values are ONNX's TensorProto.DataType numbers, so a dtype read
// from a model needs no translation table.
type DType int32

const (
	Undefined DType = 0
	Float32   DType = 1
	Uint8     DType = 2
	Int8      DType = 3
	Uint16    DType = 4
	Int16     DType = 5
	Int32     DType = 6
	Int64     DType = 7
	String    DType = 8
	Bool      DType = 9
	Float16   DType = 10
	Float64   DType = 11
	Uint32    DType = 12
	Uint64    DType = 13
	BFloat16  DType = 16

	Float8E4M3FN   DType = 17
	Float8E4M3FNUZ DType = 18
	Float8E5M2     DType = 19
	Float8E5M2FNUZ DType = 20
	Uint4          DType = 21
	Int4           DType = 22
	Float4E2M1     DType = 23
	Float8E8M0     DType = 24
	Uint2          DType = 25
	Int2           DType = 26
)

// Float16Bits and BFloat16Bits hold half-precision values as their IEEE bit patterns; distinct named
// types keep the two 16-bit float formats from being mixed up with each other or with uint16.
type (
	Float16Bits  uint16
	BFloat16Bits uint16
)

var dtypeNames = map[DType]string{
	Float32: "float32", Uint8: "uint8", Int8: "int8", Uint16: "uint16", Int16: "int16",
	Int32: "int32", Int64: "int64", String: "string", Bool: "bool", Float16: "float16",
	Float64: "float64", Uint32: "uint32", Uint64: "uint64", BFloat16: "bfloat16",
	Float8E4M3FN: "float8e4m3fn", Float8E4M3FNUZ: "float8e4m3fnuz", Float8E5M2: "float8e5m2",
	Float8E5M2FNUZ: "float8e5m2fnuz", Float8E8M0: "float8e8m0", Float4E2M1: "float4e2m1",
	Uint4: "uint4", Int4: "int4", Uint2: "uint2", Int2: "int2",
}

func (d DType) String() string {
	if n, ok := dtypeNames[d]; ok {
		return n
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Supported reports whether actswap can hold tensors of this type.
func (d DType) Supported() bool { _, ok := dtypeNames[d]; return ok }

// ParseDType maps a name such as "float32" back to its DType.
func ParseDType(name string) (DType, error) {
	for d, n := range dtypeNames {
		if n == name {
			return d, nil
		}
	}
	return Undefined, fmt.Errorf("unknown dtype %q", name)
}

// Size is the number of bytes one element takes in raw little-endian form: 0 for strings and for
// the sub-byte types, which TensorProto packs several to a byte (see Bits and RawLen).
func (d DType) Size() int {
	switch d {
	case Uint8, Int8, Bool, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float8E8M0:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Int32, Uint32, Float32:
		return 4
	case Int64, Uint64, Float64:
		return 8
	}
	return 0
}

// Bits is the width of one element in raw form (0 for strings).
func (d DType) Bits() int {
	switch d {
	case Int4, Uint4, Float4E2M1:
		return 4
	case Int2, Uint2:
		return 2
	}
	return 8 * d.Size()
}

// RawLen is the number of raw_data bytes n elements of d take, sub-byte types packed from the
// low bits of each byte up.
func (d DType) RawLen(n int) int { return (n*d.Bits() + 7) / 8 }

// IsFloat reports whether d is a floating-point type that kernels compute in (float32, float64
// and the 16-bit types); the float8/float4 storage formats are not (IsStorageFloat).
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float64 || d == Float16 || d == BFloat16
}

// IsStorageFloat reports whether d is one of the float8/float4 formats, which tensors store as
// bit patterns and kernels convert from and to wider floats.
func (d DType) IsStorageFloat() bool {
	switch d {
	case Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float8E8M0, Float4E2M1:
		return true
	}
	return false
}

// Elem is the set of Go element types a Tensor can hold.
type Elem interface {
	float32 | float64 | Float16Bits | BFloat16Bits |
		int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | bool | string |
		Float8E4M3FNBits | Float8E4M3FNUZBits | Float8E5M2Bits | Float8E5M2FNUZBits | Float8E8M0Bits |
		Float4E2M1Bits | Int4Value | Uint4Value | Int2Value | Uint2Value
}

// DTypeOf returns the DType matching the Go element type T.
func DTypeOf[T Elem]() DType {
	var z T
	switch any(z).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case Float16Bits:
		return Float16
	case BFloat16Bits:
		return BFloat16
	case int8:
		return Int8
	case int16:
		return Int16
	case int32:
		return Int32
	case int64:
		return Int64
	case uint8:
		return Uint8
	case uint16:
		return Uint16
	case uint32:
		return Uint32
	case uint64:
		return Uint64
	case bool:
		return Bool
	case string:
		return String
	case Float8E4M3FNBits:
		return Float8E4M3FN
	case Float8E4M3FNUZBits:
		return Float8E4M3FNUZ
	case Float8E5M2Bits:
		return Float8E5M2
	case Float8E5M2FNUZBits:
		return Float8E5M2FNUZ
	case Float8E8M0Bits:
		return Float8E8M0
	case Float4E2M1Bits:
		return Float4E2M1
	case Int4Value:
		return Int4
	case Uint4Value:
		return Uint4
	case Int2Value:
		return Int2
	case Uint2Value:
		return Uint2
	}
	panic("unreachable")
}
