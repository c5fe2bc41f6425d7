//go:build amd64 && !noasm

package vecmath

import "golang.org/x/sys/cpu"

// useAsm selects the avo-generated AVX2/FMA kernels; tests turn it off to check the Go ones.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useAVX512 selects the AVX512F (zmm) versions of the softmax row helpers (Max, ExpSumShifted,
// Scale) and of the elementwise kernels (Exp, Sigmoid, Tanh, Erf, GELU, GELUTanh, HardSwish)
// over the AVX2 ones; tests turn it off to check those too.
var useAVX512 = useAsm && cpu.X86.HasAVX512F
