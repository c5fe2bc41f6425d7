//go:build !amd64

package onnxops

const asmAvailable = false

var useAsm = false

// useAVX512 has no effect without the assembly kernels.
var useAVX512 = false

func crreluF32(dst, src []float32, eps float32, _ bool) { crreluGo(dst, src, eps) }

func pwluF32(dst, src []float32, c *pwluChannel, _ bool) { pwluGo(dst, src, c) }

func zorroF32(dst, src []float32, c *zorroChannel, _ bool) { zorroGo(dst, src, c) }

func geluF32(dst, src []float32, _ bool) { geluGo(dst, src) }

// Accelerated reports whether the float32 kernels run the generated assembly.
func Accelerated() bool { return false }
