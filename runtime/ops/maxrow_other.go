//go:build !amd64

package ops

var useMaxRowAVX = false

// maxRow sets dst[i] = max(dst[i], src[i]) (NaN when either is NaN, as Go's max).
func maxRow(dst, src []float32) { maxRowGo(dst, src) }
