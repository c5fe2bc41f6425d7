// Package gemm is actswap's single-precision matrix multiply: C = alpha·op(A)·op(B) + beta·C on
// row-major matrices, packed and cache-blocked in the Goto/BLIS style around a 6×16 register tile.
// On amd64 with AVX2 and FMA the tile is computed by an avo-generated assembly kernel; everywhere
// else (and on older x86) by a pure-Go kernel over the same packed layout.
package gemm

//go:generate go run ./asm -out gemm_amd64.s -stubs stub_amd64.go
