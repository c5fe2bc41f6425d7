// Package simd names the instruction-set levels of the assembly kernels (pure Go, AVX2/FMA,
// AVX-512) and reports the one this machine and build run. The kernel packages (gemm, vecmath,
// actkernel) take a Level as an argument, not from a global switch: their exported functions
// pass Host(), and their tests pass every level up to it, so one test binary checks each
// kernel set side by side, in parallel. The noasm build tag makes Host() Go, as gonum's does.
package simd

// Level is a set of kernels, each a superset of the one before.
type Level uint8

const (
	Go     Level = iota // portable Go loops; the only level off amd64 or under the noasm tag
	AVX2                // the avo-generated AVX2/FMA kernels
	AVX512              // plus the AVX-512 (zmm) kernels where a package has them
)

// Asm reports whether l runs assembly kernels at all.
func (l Level) Asm() bool { return l >= AVX2 }

// Wide reports whether l runs the AVX-512 kernels.
func (l Level) Wide() bool { return l >= AVX512 }

// String is the level's name as the kernel packages' subtests and benchmarks use it.
func (l Level) String() string {
	switch l {
	case Go:
		return "go"
	case AVX2:
		return "avx2"
	}
	return "avx512"
}

// Levels lists the levels up to and including top, narrowest first.
func Levels(top Level) []Level {
	out := make([]Level, 0, top+1)
	for l := Go; l <= top; l++ {
		out = append(out, l)
	}
	return out
}
