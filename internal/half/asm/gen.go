// Command asm generates package half's conversion kernels (convert_amd64.s, convert_amd64_stubs.go)
// with avo. Run `go generate ./internal/half` after changing it; the output is committed.
//
// Each kernel converts the first len(src)/lanes·lanes elements and leaves the tail to the Go loop.
// VCVTPH2PS is exact; VCVTPS2PH runs with immediate 0, round to nearest even whatever MXCSR says,
// which is what tensor.Float16FromFloat32 does, so every level gives the same bits.
package main

import (
	"fmt"

	"github.com/actswap/actswap/internal/asmgen"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!noasm")
	convert("toFloat32AVX2", "F16C on ymm", 8, false)
	convert("toFloat32AVX512", "AVX-512F on zmm", 16, false)
	convert("fromFloat32AVX2", "F16C on ymm", 8, true)
	convert("fromFloat32AVX512", "AVX-512F on zmm", 16, true)
	Generate()
}

// unroll is how many vectors one iteration of the main loop converts: independent conversions
// keep the pipes busy where one per iteration would wait on the loop's own overhead.
const unroll = 4

func convert(name, isa string, lanes int, narrow bool) {
	sig, what := "func(dst []float32, src []uint16)", "float16 to float32"
	if narrow {
		sig, what = "func(dst []uint16, src []float32)", "float32 to float16 (to nearest even)"
	}
	asmgen.Kernel(name, sig, fmt.Sprintf("%s converts the first len(src)/%d*%d elements of src from %s; %s.", name, lanes, lanes, what, isa))
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	// Element sizes: the float32 side is 4 bytes, the float16 side 2.
	wideP, halfP := src, dst
	if !narrow {
		wideP, halfP = dst, src
	}
	big, one := GP64(), GP64()
	MOVQ(n, big)
	ANDQ(I32(^(unroll*lanes - 1)), big)
	MOVQ(n, one)
	ANDQ(I32(^(lanes - 1)), one)
	i := GP64()
	XORQ(i, i)
	vec := func() VecVirtual {
		if lanes == 16 {
			return ZMM()
		}
		return YMM()
	}
	step := func(k int) {
		regs := make([]VecVirtual, k)
		for u := range regs {
			regs[u] = vec()
			wide := Mem{Base: wideP, Index: i, Scale: 4, Disp: 4 * lanes * u}
			half := Mem{Base: halfP, Index: i, Scale: 2, Disp: 2 * lanes * u}
			if narrow {
				VMOVUPS(wide, regs[u])
				VCVTPS2PH(U8(0), regs[u], half)
			} else {
				VCVTPH2PS(half, regs[u])
				VMOVUPS(regs[u], wide)
			}
		}
		ADDQ(U32(k*lanes), i)
	}
	Label(name + "_big")
	CMPQ(i, big)
	JAE(LabelRef(name + "_one"))
	step(unroll)
	JMP(LabelRef(name + "_big"))
	Label(name + "_one")
	CMPQ(i, one)
	JAE(LabelRef(name + "_done"))
	step(1)
	JMP(LabelRef(name + "_one"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
