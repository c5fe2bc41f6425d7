package vecmath

import "golang.org/x/sys/cpu"

// useAsm selects the avo-generated AVX2/FMA kernels; tests turn it off to check the Go ones.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA
