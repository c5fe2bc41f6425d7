package ops

import "golang.org/x/sys/cpu"

var useMaxRowAVX = cpu.X86.HasAVX

//go:noescape
func maxRowAVX(dst, src *float32, n int)

// maxRow sets dst[i] = max(dst[i], src[i]) (NaN when either is NaN, as Go's max).
func maxRow(dst, src []float32) {
	if len(dst) == 0 {
		return
	}
	_ = src[len(dst)-1]
	if useMaxRowAVX {
		maxRowAVX(&dst[0], &src[0], len(dst))
		return
	}
	maxRowGo(dst, src)
}
