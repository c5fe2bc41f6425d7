package tensor

import "unsafe"

// SubData returns data[lo:hi] for the numeric element types, sharing the array: ok is false for
// others (strings), which callers copy.
func SubData(data any, lo, hi int) (any, bool) {
	switch d := data.(type) {
	case []float32:
		return d[lo:hi], true
	case []float64:
		return d[lo:hi], true
	case []Float16Bits:
		return d[lo:hi], true
	case []BFloat16Bits:
		return d[lo:hi], true
	case []int64:
		return d[lo:hi], true
	case []int32:
		return d[lo:hi], true
	case []int8:
		return d[lo:hi], true
	case []uint8:
		return d[lo:hi], true
	case []bool:
		return d[lo:hi], true
	}
	return subByteData(data, lo, hi)
}

// DataRange returns the address range of a tensor's elements, for telling which tensors share
// storage; ok is false for empty data and for element types other than the numeric ones that
// SubData shares (strings).
func DataRange(data any) (lo, hi uintptr, ok bool) {
	switch d := data.(type) {
	case []float32:
		return sliceRange(d)
	case []float64:
		return sliceRange(d)
	case []int64:
		return sliceRange(d)
	case []int32:
		return sliceRange(d)
	case []bool:
		return sliceRange(d)
	case []uint8:
		return sliceRange(d)
	case []int8:
		return sliceRange(d)
	case []Float16Bits:
		return sliceRange(d)
	case []BFloat16Bits:
		return sliceRange(d)
	}
	if b, ok := byteElems(data); ok {
		return sliceRange(b)
	}
	return 0, 0, false
}

func sliceRange[T any](s []T) (lo, hi uintptr, ok bool) {
	if len(s) == 0 {
		return 0, 0, false
	}
	var zero T
	lo = uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return lo, lo + uintptr(len(s))*unsafe.Sizeof(zero), true
}
