#include "textflag.h"

// Horizontal sum of Y0 into X0's low lane.
#define HSUM \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0

// func lnSumAVX2(x []float32, shift float32) float32
// Sum of x[i]-shift over the first len(x)/8*8 elements.
TEXT ·lnSumAVX2(SB), NOSPLIT, $0-36
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	VBROADCASTSS shift+24(FP), Y5
	VXORPS Y0, Y0, Y0
	VXORPS Y2, Y2, Y2

sum16:
	CMPQ CX, $16
	JLT  sum8
	VMOVUPS (SI), Y3
	VMOVUPS 32(SI), Y4
	VSUBPS Y5, Y3, Y3
	VSUBPS Y5, Y4, Y4
	VADDPS Y3, Y0, Y0
	VADDPS Y4, Y2, Y2
	ADDQ $64, SI
	SUBQ $16, CX
	JMP  sum16

sum8:
	CMPQ CX, $8
	JLT  sumdone
	VMOVUPS (SI), Y3
	VSUBPS Y5, Y3, Y3
	VADDPS Y3, Y0, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  sum8

sumdone:
	VADDPS Y2, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func lnSqDevAVX2(x []float32, mean float32) float32
// Sum of (x[i]-mean)² over the first len(x)/8*8 elements.
TEXT ·lnSqDevAVX2(SB), NOSPLIT, $0-36
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	VBROADCASTSS mean+24(FP), Y5
	VXORPS Y0, Y0, Y0
	VXORPS Y2, Y2, Y2

sq16:
	CMPQ CX, $16
	JLT  sq8
	VMOVUPS (SI), Y3
	VMOVUPS 32(SI), Y4
	VSUBPS Y5, Y3, Y3
	VSUBPS Y5, Y4, Y4
	VFMADD231PS Y3, Y3, Y0
	VFMADD231PS Y4, Y4, Y2
	ADDQ $64, SI
	SUBQ $16, CX
	JMP  sq16

sq8:
	CMPQ CX, $8
	JLT  sqdone
	VMOVUPS (SI), Y3
	VSUBPS Y5, Y3, Y3
	VFMADD231PS Y3, Y3, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  sq8

sqdone:
	VADDPS Y2, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func lnAffineAVX2(dst, x, scale, bias []float32, mean, rest, inv float32)
// dst[i] = ((x[i]-mean)-rest)·inv·scale[i] + bias[i] for the first len(x)/8*8 elements; rest is
// what float32 mean lost of the exact mean.
TEXT ·lnAffineAVX2(SB), NOSPLIT, $0-108
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ scale_base+48(FP), R8
	MOVQ bias_base+72(FP), R9
	VBROADCASTSS mean+96(FP), Y5
	VBROADCASTSS rest+100(FP), Y7
	VBROADCASTSS inv+104(FP), Y6

aff:
	CMPQ CX, $8
	JLT  affdone
	VMOVUPS (SI), Y0
	VSUBPS Y5, Y0, Y0
	VSUBPS Y7, Y0, Y0
	VMULPS Y6, Y0, Y0
	VMOVUPS (R9), Y1
	VFMADD231PS (R8), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	SUBQ $8, CX
	JMP  aff

affdone:
	VZEROUPPER
	RET
