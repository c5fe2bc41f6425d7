package onnx

import (
	"fmt"
	"sort"
)

// OpKey names an op the way summaries and op tables do: the bare op type in the default domain,
// "domain:Op" elsewhere.
func OpKey(domain, opType string) string {
	if d := CanonicalDomain(domain); d != "" {
		return d + ":" + opType
	}
	return opType
}

// SortedOps returns the keys of op counts, most frequent first, then by name.
func SortedOps(counts map[string]int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// TypeString renders a value type: "float32" for a tensor, "sequence(float32)",
// "map(int64,float32)", "optional(...)", "sparse(float32)", or "?" when absent.
func TypeString(t *TypeProto) string {
	switch {
	case t.GetTensorType() != nil:
		return DataTypeName(t.GetTensorType().GetElemType())
	case t.GetSequenceType() != nil:
		return "sequence(" + TypeString(t.GetSequenceType().GetElemType()) + ")"
	case t.GetOptionalType() != nil:
		return "optional(" + TypeString(t.GetOptionalType().GetElemType()) + ")"
	case t.GetMapType() != nil:
		return "map(" + DataTypeName(t.GetMapType().GetKeyType()) + "," + TypeString(t.GetMapType().GetValueType()) + ")"
	case t.GetSparseTensorType() != nil:
		return "sparse(" + DataTypeName(t.GetSparseTensorType().GetElemType()) + ")"
	case t.GetOpaqueType() != nil:
		return "opaque(" + t.GetOpaqueType().GetDomain() + ":" + t.GetOpaqueType().GetName() + ")"
	}
	return "?"
}

// dataTypeNames are NumPy-style names for TensorProto.DataType values (the names the tensor
// package uses, plus the types it does not hold).
var dataTypeNames = map[TensorProto_DataType]string{
	TensorProto_FLOAT: "float32", TensorProto_UINT8: "uint8", TensorProto_INT8: "int8",
	TensorProto_UINT16: "uint16", TensorProto_INT16: "int16", TensorProto_INT32: "int32",
	TensorProto_INT64: "int64", TensorProto_STRING: "string", TensorProto_BOOL: "bool",
	TensorProto_FLOAT16: "float16", TensorProto_DOUBLE: "float64", TensorProto_UINT32: "uint32",
	TensorProto_UINT64: "uint64", TensorProto_COMPLEX64: "complex64", TensorProto_COMPLEX128: "complex128",
	TensorProto_BFLOAT16: "bfloat16", TensorProto_FLOAT8E4M3FN: "float8e4m3fn",
	TensorProto_FLOAT8E4M3FNUZ: "float8e4m3fnuz", TensorProto_FLOAT8E5M2: "float8e5m2",
	TensorProto_FLOAT8E5M2FNUZ: "float8e5m2fnuz", TensorProto_UINT4: "uint4", TensorProto_INT4: "int4",
	TensorProto_FLOAT4E2M1: "float4e2m1", TensorProto_FLOAT8E8M0: "float8e8m0",
	TensorProto_UINT2: "uint2", TensorProto_INT2: "int2",
}

// DataTypeName names a TensorProto.DataType value ("float32", "int64", …).
func DataTypeName(dt int32) string {
	if n, ok := dataTypeNames[TensorProto_DataType(dt)]; ok {
		return n
	}
	return fmt.Sprintf("dtype(%d)", dt)
}

// dataTypeBits is the storage width of one element, for counting initializer bytes.
func dataTypeBits(dt TensorProto_DataType) int64 {
	switch dt {
	case TensorProto_UINT2, TensorProto_INT2:
		return 2
	case TensorProto_UINT4, TensorProto_INT4, TensorProto_FLOAT4E2M1:
		return 4
	case TensorProto_UINT8, TensorProto_INT8, TensorProto_BOOL, TensorProto_FLOAT8E4M3FN,
		TensorProto_FLOAT8E4M3FNUZ, TensorProto_FLOAT8E5M2, TensorProto_FLOAT8E5M2FNUZ, TensorProto_FLOAT8E8M0:
		return 8
	case TensorProto_UINT16, TensorProto_INT16, TensorProto_FLOAT16, TensorProto_BFLOAT16:
		return 16
	case TensorProto_FLOAT, TensorProto_INT32, TensorProto_UINT32:
		return 32
	case TensorProto_INT64, TensorProto_UINT64, TensorProto_DOUBLE, TensorProto_COMPLEX64:
		return 64
	case TensorProto_COMPLEX128:
		return 128
	}
	return 0
}

// TensorBytes is the size of a tensor's data: raw_data or external length as stored, typed
// fields as element count × element size, strings by their byte lengths.
func TensorBytes(t *TensorProto) int64 {
	if t == nil {
		return 0
	}
	if t.RawData != nil {
		return int64(len(t.RawData))
	}
	if t.GetDataLocation() == TensorProto_EXTERNAL {
		if ref, err := parseExternalRef(t); err == nil && ref.length >= 0 {
			return ref.length
		}
	}
	if len(t.StringData) > 0 {
		var n int64
		for _, s := range t.StringData {
			n += int64(len(s))
		}
		return n
	}
	count := int64(len(t.FloatData) + len(t.Int32Data) + len(t.Int64Data) + len(t.DoubleData) + len(t.Uint64Data))
	if TensorProto_DataType(t.GetDataType()) == TensorProto_COMPLEX64 || TensorProto_DataType(t.GetDataType()) == TensorProto_COMPLEX128 {
		count /= 2 // complex values are stored as real, imaginary pairs
	}
	return (count*dataTypeBits(TensorProto_DataType(t.GetDataType())) + 7) / 8
}
