package onnxops

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// asmAvailable: the generated kernels need AVX2 and FMA (VGATHERDPS, VPERMPS, VFMADD…PS).
var asmAvailable = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useAsm selects the assembly kernels; tests switch it off to check the pure-Go loops too.
var useAsm = asmAvailable

// streamMinElems is the call size from which outputs are written with non-temporal stores: far
// beyond the caches, reading each destination line in before overwriting it only costs bandwidth.
var streamMinElems = 4 << 20

// asmPlan splits n elements into a pure-Go head (to align dst for streaming stores), whole
// blocks of 8 for the assembly, and a pure-Go tail.
func asmPlan(dst []float32, n int) (head, body int, stream bool) {
	if !useAsm {
		return 0, 0, false
	}
	if n >= streamMinElems {
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(dst)))
		head = int((32-addr%32)%32) / 4
		return head, (n - head) &^ 7, true
	}
	return 0, n &^ 7, false
}

func crreluF32(dst, src []float32, eps float32) {
	dst = dst[:len(src)]
	h, b, stream := asmPlan(dst, len(src))
	crreluGo(dst[:h], src[:h], eps)
	if b > 0 {
		crreluAVX2(dst[h:h+b], src[h:h+b], eps, stream)
	}
	crreluGo(dst[h+b:], src[h+b:], eps)
}

func pwluF32(dst, src []float32, c *pwluChannel) {
	dst = dst[:len(src)]
	h, b, stream := asmPlan(dst, len(src))
	pwluGo(dst[:h], src[:h], c)
	if b > 0 {
		d, s := dst[h:h+b], src[h:h+b]
		switch len(c.es) {
		case 8:
			pwluPerm8AVX2(d, s, &c.wide, c.es, c.ds, stream)
		case 16:
			pwluPerm16AVX2(d, s, &c.wide, c.es, c.ds, stream)
		case 32:
			pwluPerm32AVX2(d, s, &c.wide, c.es, c.ds, stream)
		case 64:
			pwluPerm64AVX2(d, s, &c.wide, c.es, c.ds, stream)
		default:
			pwluGatherAVX2(d, s, &c.wide, c.es, c.ds, stream)
		}
	}
	pwluGo(dst[h+b:], src[h+b:], c)
}

func zorroF32(dst, src []float32, c *zorroChannel) {
	dst = dst[:len(src)]
	h, b, stream := asmPlan(dst, len(src))
	zorroGo(dst[:h], src[:h], c)
	if b > 0 {
		zorroAVX2(dst[h:h+b], src[h:h+b], &c.wide, stream)
	}
	zorroGo(dst[h+b:], src[h+b:], c)
}

func geluF32(dst, src []float32) {
	dst = dst[:len(src)]
	h, b, stream := asmPlan(dst, len(src))
	geluGo(dst[:h], src[:h])
	if b > 0 {
		geluAVX2(dst[h:h+b], src[h:h+b], stream)
	}
	geluGo(dst[h+b:], src[h+b:])
}

// Accelerated reports whether the float32 kernels run the generated assembly.
func Accelerated() bool { return useAsm }
