package onnxops

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// asmAvailable: the generated kernels need AVX2 and FMA (VGATHERDPS, VPERMPS, VFMADD…PS).
var asmAvailable = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useAsm selects the assembly kernels; tests switch it off to check the pure-Go loops too.
var useAsm = asmAvailable

// useAVX512 selects the AVX-512 PWLU kernels (16 lanes, one-instruction table lookups) where the
// CPU has AVX-512F; the other kernels gain little from it.
var useAVX512 = asmAvailable && cpu.X86.HasAVX512F

// streamMinElems is the call size from which outputs are written with non-temporal stores: far
// beyond the caches, reading each destination line in before overwriting it only costs bandwidth.
var streamMinElems = 4 << 20

// asmPlan splits n elements into a pure-Go head (to align dst to 64 bytes for streaming
// stores), whole blocks of lanes (8 or 16) for the assembly, and a pure-Go tail.
func asmPlan(dst []float32, n, lanes int) (head, body int, stream bool) {
	if !useAsm {
		return 0, 0, false
	}
	if n >= streamMinElems {
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(dst)))
		head = min(int((64-addr%64)%64)/4, n)
		return head, (n - head) / lanes * lanes, true
	}
	return 0, n / lanes * lanes, false
}

func crreluF32(dst, src []float32, eps float32) {
	dst = dst[:len(src)]
	h, b, stream := asmPlan(dst, len(src), 8)
	crreluGo(dst[:h], src[:h], eps)
	if b > 0 {
		crreluAVX2(dst[h:h+b], src[h:h+b], eps, stream)
	}
	crreluGo(dst[h+b:], src[h+b:], eps)
}

func pwluF32(dst, src []float32, c *pwluChannel) {
	dst = dst[:len(src)]
	if useAVX512 && c.n <= 64 {
		h, b, stream := asmPlan(dst, len(src), 16)
		pwluGo(dst[:h], src[:h], c)
		if b > 0 {
			d, s := dst[h:h+b], src[h:h+b]
			switch len(c.es) {
			case 16:
				pwluPerm16AVX512(d, s, &c.consts, c.es, c.ds, stream)
			case 32:
				pwluPerm32AVX512(d, s, &c.consts, c.es, c.ds, stream)
			default:
				pwluPerm64AVX512(d, s, &c.consts, c.es, c.ds, stream)
			}
		}
		pwluGo(dst[h+b:], src[h+b:], c)
		return
	}
	h, b, stream := asmPlan(dst, len(src), 8)
	pwluGo(dst[:h], src[:h], c)
	if b > 0 {
		d, s := dst[h:h+b], src[h:h+b]
		switch {
		case c.n <= 8:
			pwluPerm8AVX2(d, s, &c.wide, c.es, c.ds, stream)
		case c.n <= 16:
			pwluPerm16AVX2(d, s, &c.wide, c.es, c.ds, stream)
		case c.n <= 32:
			pwluPerm32AVX2(d, s, &c.wide, c.es, c.ds, stream)
		case c.n <= 64:
			pwluPerm64AVX2(d, s, &c.wide, c.es, c.ds, stream)
		default:
			pwluGatherAVX2(d, s, &c.wide, c.es, c.ds, stream)
		}
	}
	pwluGo(dst[h+b:], src[h+b:], c)
}

func zorroF32(dst, src []float32, c *zorroChannel) {
	dst = dst[:len(src)]
	h, b, stream := asmPlan(dst, len(src), 8)
	zorroGo(dst[:h], src[:h], c)
	if b > 0 {
		zorroAVX2(dst[h:h+b], src[h:h+b], &c.wide, stream)
	}
	zorroGo(dst[h+b:], src[h+b:], c)
}

func geluF32(dst, src []float32) {
	dst = dst[:len(src)]
	h, b, stream := asmPlan(dst, len(src), 8)
	geluGo(dst[:h], src[:h])
	if b > 0 {
		geluAVX2(dst[h:h+b], src[h:h+b], stream)
	}
	geluGo(dst[h+b:], src[h+b:])
}

// Accelerated reports whether the float32 kernels run the generated assembly.
func Accelerated() bool { return useAsm }
