//go:build amd64 && !noasm

package half

import (
	"unsafe"

	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/tensor"
)

// toFloat32Asm converts the longest prefix of src that level x's kernel takes whole and returns
// its length (0 on the Go level).
func toFloat32Asm(x simd.Level, dst []float32, src []tensor.Float16Bits) int {
	bits := unsafe.Slice((*uint16)(unsafe.SliceData(src)), len(src))
	switch {
	case x.Wide():
		toFloat32AVX512(dst, bits)
		return len(src) &^ 15
	case x.Asm():
		toFloat32AVX2(dst, bits)
		return len(src) &^ 7
	}
	return 0
}

// fromFloat32Asm is toFloat32Asm the other way.
func fromFloat32Asm(x simd.Level, dst []tensor.Float16Bits, src []float32) int {
	bits := unsafe.Slice((*uint16)(unsafe.SliceData(dst)), len(dst))
	switch {
	case x.Wide():
		fromFloat32AVX512(bits, src)
		return len(src) &^ 15
	case x.Asm():
		fromFloat32AVX2(bits, src)
		return len(src) &^ 7
	}
	return 0
}
