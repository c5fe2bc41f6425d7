package onnxops

var asmAvailable = false

// useAsm selects the assembly kernels; tests switch it off to check the pure-Go loops too.
var useAsm = asmAvailable

func crreluF32(dst, src []float32, eps float32) { crreluGo(dst, src, eps) }

func pwluF32(dst, src []float32, c *[pwluConsts]float32, ys, bs, ks []float32) {
	pwluGo(dst, src, c, ys, bs, ks)
}

func zorroF32(dst, src []float32, c *[zorroConsts]float32) { zorroGo(dst, src, c) }

// Accelerated reports whether the float32 kernels run the generated assembly.
func Accelerated() bool { return useAsm }
