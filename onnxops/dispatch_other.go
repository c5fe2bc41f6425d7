//go:build !amd64

package onnxops

const asmAvailable = false

var useAsm = false

// useAVX512 has no effect without the assembly kernels.
var useAVX512 = false

// streamMinElems has no effect without the assembly kernels.
var streamMinElems = 0

func crreluF32(dst, src []float32, eps float32) { crreluGo(dst, src, eps) }

func pwluF32(dst, src []float32, c *pwluChannel) { pwluGo(dst, src, c) }

func zorroF32(dst, src []float32, c *zorroChannel) { zorroGo(dst, src, c) }

func geluF32(dst, src []float32) { geluGo(dst, src) }

// Accelerated reports whether the float32 kernels run the generated assembly.
func Accelerated() bool { return false }
