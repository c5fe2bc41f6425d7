package tensor

import (
	"bytes"
	"math"
	"slices"
)

// sameTensor reports whether a and b have the same dtype, shape and element bits (so NaNs with
// equal payloads and signed zeros compare as stored).
func sameTensor(a, b *Tensor) bool {
	if a.DType != b.DType || !SameShape(a.Shape, b.Shape) || dataLen(a.Data) != dataLen(b.Data) {
		return false
	}
	if a.DType == String {
		return slices.Equal(a.Data.([]string), b.Data.([]string))
	}
	return bytes.Equal(RawBytes(a), RawBytes(b))
}

// sampleTensors has one small tensor of every dtype, with edge values.
func sampleTensors() []*Tensor {
	return []*Tensor{
		New([]int{2, 3}, []float32{0, -1.5, 3.25, float32(posInf()), float32(math.Copysign(0, -1)), 1e-40}),
		New([]int{3}, []float64{1, -2.5e300, 5e-324}),
		New([]int{2}, []Float16Bits{0x3c00, 0xfc00}),
		New([]int{2}, []BFloat16Bits{0x3f80, 0x7fc0}),
		New([]int{4}, []int8{-128, -1, 0, 127}),
		New([]int{2, 2}, []int16{-32768, -1, 0, 32767}),
		New([]int{3}, []int32{-2147483648, 0, 2147483647}),
		New([]int{3}, []int64{-9223372036854775808, 7, 9223372036854775807}),
		New([]int{3}, []uint8{0, 128, 255}),
		New([]int{2}, []uint16{0, 65535}),
		New([]int{2}, []uint32{0, 4294967295}),
		New([]int{2}, []uint64{0, 18446744073709551615}),
		New([]int{1, 3}, []bool{true, false, true}),
		New([]int{2}, []string{"relu", "gélu ∑"}),
		Scalar(float32(42)),
		New([]int{0, 3}, []float32{}),
	}
}
