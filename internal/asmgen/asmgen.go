// Package asmgen holds what actswap's avo generators (internal/gemm/asm, internal/vecmath/asm,
// internal/actkernel/asm) share: how a kernel function starts, broadcast constants in read-only data, and
// VCMPPS predicates. Each generator is its own program writing one .s file, so the constant table
// below belongs to that program's output.
package asmgen

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// Kernel starts an assembly function that keeps no pointer past the call (so callers' buffers
// stay on their stacks), with its Go signature and doc comment.
func Kernel(name, signature, doc string) {
	TEXT(name, NOSPLIT, signature)
	Pragma("noescape")
	Doc(doc)
}

var consts = map[string]Mem{}

// ReadOnly returns the read-only global name, emitting it with fill (its DATA) the first time.
func ReadOnly(name string, fill func()) Mem {
	if m, ok := consts[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	fill()
	consts[name] = m
	return m
}

// VecU32 returns a 32-byte read-only constant holding v in each of its eight lanes.
func VecU32(name string, v uint32) Mem {
	return ReadOnly(name, func() {
		for i := 0; i < 8; i++ {
			DATA(4*i, U32(v))
		}
	})
}

// VecF32 is VecU32 of v's bits: as an F32 operand avo would print a whole-valued float as an
// integer literal, which the assembler would store as an integer.
func VecF32(name string, v float32) Mem { return VecU32(name, math.Float32bits(v)) }

// VCMPPS predicates.
const (
	CmpEQ    = 0x00
	CmpLT    = 0x01
	CmpUNORD = 0x03
	CmpNEQ   = 0x04 // not equal, or unordered (NaN)
	CmpORD   = 0x07
	CmpGE    = 0x0d
	CmpGT    = 0x0e
)
