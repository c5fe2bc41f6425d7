//go:build amd64

#include "textflag.h"

// func maxRowAVX(dst, src *float32, n int)
// dst[i] = max(dst[i], src[i]), NaN if either is NaN. VMAXPS alone returns its second source
// when either operand is NaN, so lanes where dst is NaN are blended back in.
TEXT ·maxRowAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

by8:
	CMPQ      CX, $8
	JL        by1
	VMOVUPS   (DI), Y0
	VMOVUPS   (SI), Y1
	VMAXPS    Y1, Y0, Y2          // Y2 = Y0 > Y1 ? Y0 : Y1 (Y1 when either is NaN)
	VCMPPS    $3, Y0, Y0, Y3      // lanes where dst is NaN (unordered)
	VBLENDVPS Y3, Y0, Y2, Y2      // take dst there
	VMOVUPS   Y2, (DI)
	ADDQ      $32, DI
	ADDQ      $32, SI
	SUBQ      $8, CX
	JMP       by8

by1:
	TESTQ     CX, CX
	JZ        done
	VMOVSS    (DI), X0
	VMOVSS    (SI), X1
	VMAXSS    X1, X0, X2
	VCMPSS    $3, X0, X0, X3
	VBLENDVPS X3, X0, X2, X2
	VMOVSS    X2, (DI)
	ADDQ      $4, DI
	ADDQ      $4, SI
	DECQ      CX
	JMP       by1

done:
	VZEROUPPER
	RET
