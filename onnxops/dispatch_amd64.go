package onnxops

import "golang.org/x/sys/cpu"

// asmAvailable: the generated kernels need AVX2 and FMA (VGATHERDPS, VFMADD…PS).
var asmAvailable = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useAsm selects the assembly kernels; tests switch it off to check the pure-Go loops too.
var useAsm = asmAvailable

// Each wrapper runs the assembly over whole blocks of 8 and the pure-Go loop over the rest.

func crreluF32(dst, src []float32, eps float32) {
	dst = dst[:len(src)]
	n := 0
	if useAsm {
		n = len(src) &^ 7
		crreluAVX2(dst[:n], src[:n], eps)
	}
	crreluGo(dst[n:], src[n:], eps)
}

func pwluF32(dst, src []float32, c *pwluChannel) {
	dst = dst[:len(src)]
	n := 0
	if useAsm {
		n = len(src) &^ 7
		pwluAVX2(dst[:n], src[:n], &c.wide, c.ys, c.bs, c.ks)
	}
	pwluGo(dst[n:], src[n:], c)
}

func zorroF32(dst, src []float32, c *zorroChannel) {
	dst = dst[:len(src)]
	n := 0
	if useAsm {
		n = len(src) &^ 7
		zorroAVX2(dst[:n], src[:n], &c.wide)
	}
	zorroGo(dst[n:], src[n:], c)
}

// Accelerated reports whether the float32 kernels run the generated assembly.
func Accelerated() bool { return useAsm }
