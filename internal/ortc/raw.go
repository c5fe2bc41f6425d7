package ortc

import (
	"fmt"
	"unsafe"

	"github.com/actswap/actswap/tensor"
)

// rawBytes is a tensor's data as the little-endian bytes onnxruntime reads and writes.
func rawBytes(t *tensor.Tensor) ([]byte, error) {
	switch d := t.Data.(type) {
	case []float32:
		return asBytes(d), nil
	case []float64:
		return asBytes(d), nil
	case []int64:
		return asBytes(d), nil
	case []int32:
		return asBytes(d), nil
	case []uint8:
		return d, nil
	case []int8:
		return asBytes(d), nil
	case []bool:
		return asBytes(d), nil
	case []tensor.Float16Bits:
		return asBytes(d), nil
	case []tensor.BFloat16Bits:
		return asBytes(d), nil
	}
	return nil, fmt.Errorf("element type %v is not supported here", t.DType)
}

func asBytes[E any](s []E) []byte {
	if len(s) == 0 {
		return nil
	}
	var e E
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(e)))
}
