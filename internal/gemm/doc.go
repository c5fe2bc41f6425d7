// Package gemm is actswap's single-precision matrix multiply: C = alpha·op(A)·op(B) + beta·C on
// row-major matrices, packed and cache-blocked in the Goto/BLIS style around a 6×16 register
// tile. On amd64 with AVX2 and FMA the tile is computed by avo-generated assembly (asm/gen.go →
// gemm_amd64.s); everywhere else, and on x86 without AVX2/FMA, by a pure-Go kernel over the
// same packed layout, tested against the same float64 reference. With AVX-512 the parts of C
// made of whole 12×32 tiles take a 24-zmm kernel over pairs of the same panels, which also
// reads a row-major, unscaled A in place (no packing of activations against packed weights);
// the rows left below the 12-row tiles take direct tiles of 3–11 rows (a batch of 16 is 8+8).
//
// Entry points, by how the operands arrive:
//   - Sgemm / SgemmFused: both operands as plain matrices (optionally transposed).
//   - PackB + SgemmPackedB: constant right operand (MatMul/Gemm weights) packed once.
//   - PackA + SgemmPackedA: constant left operand (convolution weights) packed once.
//   - SgemmPackedAWith: B produced block by block by a BPacker (a strided convolution packing
//     its patch matrix straight from the image).
//   - SgemmPackedAIndirect: B rows read in place through an offset table (a stride-1
//     convolution over its padded image, with no patch matrix at all).
//   - PackBTransposed + SgemmGather: A read in place through row and column offset tables
//     (a convolution's output pixels against its taps, any stride or dilation) by 6×64
//     and 7×64 AVX-512 tiles or a 6×16 AVX2 one; the product comes out pixel-major. SgemmDenseA and
//     PanelOf run it over a row-major A and a 64-wide B used as is (attention's values).
//     NewGatherPlan + SgemmGatherPlanned: the offset tables and row classes checked and sorted
//     once, for a product repeated over new data (a convolution's, run after run).
//
// Convolution building blocks beside the products: TapSum (a depthwise convolution's taps as
// shifted vector multiply-adds), TransposeBias (a pixel-major product into channel planes,
// 8×8 register transposes), Deinterleave (a row split into its even and odd columns for
// stride-2 phases).
//
// An Epilogue fuses a bias and an activation into the write of C while each block is in cache.
// All entry points split the work over up to `threads` goroutines and are safe for concurrent
// use; scratch buffers come from a sync.Pool.
package gemm

//go:generate go run ./asm -out gemm_amd64.s -stubs stub_amd64.go
