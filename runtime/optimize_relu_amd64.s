#include "textflag.h"

// func reluAVX2(dst []float32)
// dst[i] = max(0, dst[i]) for every element: 32, then 8, then 4 at a time, then one by one (GEMM
// epilogues hand it short rows, where a Go tail loop cost as much as the vector part). NaN stays
// NaN (VMAXPS/VMAXSS return their second source when either is NaN, and that source is x).
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	VXORPS Y1, Y1, Y1

loop:
	CMPQ CX, $32
	JLT  tail8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y2
	VMOVUPS 64(DI), Y3
	VMOVUPS 96(DI), Y4
	VMAXPS  Y0, Y1, Y0
	VMAXPS  Y2, Y1, Y2
	VMAXPS  Y3, Y1, Y3
	VMAXPS  Y4, Y1, Y4
	VMOVUPS Y0, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     loop

tail8:
	CMPQ CX, $8
	JLT  tail4
	VMOVUPS (DI), Y0
	VMAXPS  Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     tail8

tail4:
	CMPQ CX, $4
	JLT  tail1
	VMOVUPS (DI), X0
	VMAXPS  X0, X1, X0
	VMOVUPS X0, (DI)
	ADDQ    $16, DI
	SUBQ    $4, CX

tail1:
	TESTQ CX, CX
	JEQ   done
	VMOVSS (DI), X0
	VMAXSS X0, X1, X0
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	DECQ   CX
	JMP    tail1

done:
	VZEROUPPER
	RET
