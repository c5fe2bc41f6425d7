#include "textflag.h"

// Constants of expShiftSumAVX2 (float32 bit patterns): the Cephes expf scheme.
DATA expc<>+0(SB)/4, $0xc2ae0000  // -87: lower clamp, keeps 2^n normal
DATA expc<>+4(SB)/4, $0x3fb8aa3b  // log2(e)
DATA expc<>+8(SB)/4, $0x3f000000  // 0.5 (rounding, and the last polynomial coefficient)
DATA expc<>+12(SB)/4, $0x3f318000 // ln2, high part
DATA expc<>+16(SB)/4, $0xb95e8083 // ln2, low part
DATA expc<>+20(SB)/4, $0x39506967 // p0
DATA expc<>+24(SB)/4, $0x3ab743ce // p1
DATA expc<>+28(SB)/4, $0x3c088908 // p2
DATA expc<>+32(SB)/4, $0x3d2aa9c1 // p3
DATA expc<>+36(SB)/4, $0x3e2aaaaa // p4
DATA expc<>+40(SB)/4, $0x3f800000 // 1
DATA expc<>+44(SB)/4, $127        // exponent bias
GLOBL expc<>(SB), RODATA|NOPTR, $48

// func expShiftSumAVX2(dst, src []float32, shift float32) float32
// dst[i] = e^(src[i]-shift) for the first len(src)/8*8 elements; returns their sum.
TEXT ·expShiftSumAVX2(SB), NOSPLIT, $0-60
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	VBROADCASTSS shift+48(FP), Y15
	VXORPS Y14, Y14, Y14
	VBROADCASTSS expc<>+0(SB), Y13
	VBROADCASTSS expc<>+4(SB), Y12
	VBROADCASTSS expc<>+8(SB), Y11
	VBROADCASTSS expc<>+12(SB), Y10
	VBROADCASTSS expc<>+16(SB), Y9
	VBROADCASTSS expc<>+40(SB), Y8
	VPBROADCASTD expc<>+44(SB), Y7

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0    // x = src - shift
	VMAXPS  Y0, Y13, Y0    // x = max(-87, x); a NaN x stays NaN
	VMOVAPS Y11, Y1
	VFMADD231PS Y12, Y0, Y1 // n = x·log2e + 0.5
	VROUNDPS $1, Y1, Y1     // floor
	VFNMADD231PS Y10, Y1, Y0 // r = x - n·ln2hi
	VFNMADD231PS Y9, Y1, Y0  // r -= n·ln2lo
	VMULPS  Y0, Y0, Y2      // r²
	VBROADCASTSS expc<>+20(SB), Y3
	VBROADCASTSS expc<>+24(SB), Y4
	VFMADD213PS Y4, Y0, Y3  // y = y·r + p1
	VBROADCASTSS expc<>+28(SB), Y4
	VFMADD213PS Y4, Y0, Y3
	VBROADCASTSS expc<>+32(SB), Y4
	VFMADD213PS Y4, Y0, Y3
	VBROADCASTSS expc<>+36(SB), Y4
	VFMADD213PS Y4, Y0, Y3
	VFMADD213PS Y11, Y0, Y3 // y = y·r + 0.5
	VFMADD213PS Y0, Y2, Y3  // y = y·r² + r
	VADDPS  Y8, Y3, Y3      // y += 1
	VCVTTPS2DQ Y1, Y1
	VPADDD  Y7, Y1, Y1
	VPSLLD  $23, Y1, Y1     // 2^n
	VMULPS  Y1, Y3, Y3
	VMOVUPS Y3, (DI)
	VADDPS  Y3, Y14, Y14
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	VEXTRACTF128 $1, Y14, X0
	VADDPS  X0, X14, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS   X0, ret+56(FP)
	RET

// func maxAVX2(src []float32) float32
// The largest of the first len(src)/8*8 elements (len(src) ≥ 8). A NaN may or may not win, which
// is fine for softmax: a NaN in a row makes the row's sum NaN either way.
TEXT ·maxAVX2(SB), NOSPLIT, $0-28
	MOVQ src_base+0(FP), SI
	MOVQ src_len+8(FP), CX
	VMOVUPS (SI), Y0
	ADDQ $32, SI
	SUBQ $8, CX

maxloop:
	CMPQ CX, $8
	JLT  maxdone
	VMAXPS (SI), Y0, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  maxloop

maxdone:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func scaleAVX2(dst []float32, s float32)
// dst[i] *= s for the first len(dst)/8*8 elements.
TEXT ·scaleAVX2(SB), NOSPLIT, $0-28
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	VBROADCASTSS s+24(FP), Y1

scaleloop:
	CMPQ CX, $8
	JLT  scaledone
	VMULPS (DI), Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  scaleloop

scaledone:
	VZEROUPPER
	RET
