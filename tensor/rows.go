package tensor

// ConcatRows stacks tensors along axis 0. They must share dtype and trailing dims; callers check.
func ConcatRows(parts []*Tensor) *Tensor {
	shape := append([]int(nil), parts[0].Shape...)
	shape[0] = 0
	for _, p := range parts {
		shape[0] += p.Shape[0]
	}
	out := Zeros(parts[0].DType, shape)
	offset := 0
	for _, p := range parts {
		CopyRange(out, offset, p, 0, p.Len())
		offset += p.Len()
	}
	return out
}

// SliceRows copies rows [lo, hi) of t's leading dimension into a new tensor.
func SliceRows(t *Tensor, lo, hi int) *Tensor {
	shape := append([]int(nil), t.Shape...)
	shape[0] = hi - lo
	row := NumElements(t.Shape[1:])
	out := Zeros(t.DType, shape)
	CopyRange(out, 0, t, lo*row, (hi-lo)*row)
	return out
}

// CopyRange copies n elements of src, starting at element from, into dst starting at element at.
// The tensors must share a dtype.
func CopyRange(dst *Tensor, at int, src *Tensor, from, n int) {
	switch d := dst.Data.(type) {
	case []float32:
		copy(d[at:at+n], src.Data.([]float32)[from:from+n])
	case []float64:
		copy(d[at:at+n], src.Data.([]float64)[from:from+n])
	case []Float16Bits:
		copy(d[at:at+n], src.Data.([]Float16Bits)[from:from+n])
	case []BFloat16Bits:
		copy(d[at:at+n], src.Data.([]BFloat16Bits)[from:from+n])
	case []int8:
		copy(d[at:at+n], src.Data.([]int8)[from:from+n])
	case []int16:
		copy(d[at:at+n], src.Data.([]int16)[from:from+n])
	case []int32:
		copy(d[at:at+n], src.Data.([]int32)[from:from+n])
	case []int64:
		copy(d[at:at+n], src.Data.([]int64)[from:from+n])
	case []uint8:
		copy(d[at:at+n], src.Data.([]uint8)[from:from+n])
	case []uint16:
		copy(d[at:at+n], src.Data.([]uint16)[from:from+n])
	case []uint32:
		copy(d[at:at+n], src.Data.([]uint32)[from:from+n])
	case []uint64:
		copy(d[at:at+n], src.Data.([]uint64)[from:from+n])
	case []bool:
		copy(d[at:at+n], src.Data.([]bool)[from:from+n])
	case []string:
		copy(d[at:at+n], src.Data.([]string)[from:from+n])
	default:
		db, _ := byteElems(dst.Data)
		sb, _ := byteElems(src.Data)
		copy(db[at:at+n], sb[from:from+n])
	}
}
