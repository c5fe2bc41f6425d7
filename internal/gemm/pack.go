package gemm

import (
	"fmt"
	"slices"

	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/vecmath"
)

// Packed layouts. The k dimension is cut into blocks of kBlock(k) (the last one shorter); within the
// block that starts at row p0 of op(B), the nr-column panel q is kcb×nr values, row by row, at
// offset p0·panels·nr + q·kcb·nr. PackedA is the same with mr-row panels stored column by
// column. Panels past the matrix edge are zero-padded, so the kernel never needs bounds.

// packA writes rows [i0, i0+mcb) × columns [p0, p0+kcb) of op(A), times scale, as mr-row panels.
func packA(dst, a []float32, lda int, trans bool, i0, mcb, p0, kcb int, scale float32) {
	for ir := 0; ir < mcb; ir += mr {
		panel := dst[(ir/mr)*kcb*mr : (ir/mr+1)*kcb*mr]
		rows := min(mr, mcb-ir)
		if rows == mr && !trans {
			packFullPanelA(panel, a, lda, i0+ir, p0, kcb, scale)
			continue
		}
		if rows < mr {
			clear(panel)
		}
		for r := 0; r < rows; r++ {
			i := i0 + ir + r
			if trans {
				for p := 0; p < kcb; p++ {
					panel[p*mr+r] = scale * a[(p0+p)*lda+i]
				}
				continue
			}
			src := a[i*lda+p0 : i*lda+p0+kcb]
			for p, v := range src {
				panel[p*mr+r] = scale * v
			}
		}
	}
}

// packFullPanelA interleaves mr whole rows of a row-major A: one sequential pass over the
// panel instead of mr strided ones.
func packFullPanelA(panel, a []float32, lda, i, p0, kcb int, scale float32) {
	r0 := a[i*lda+p0 : i*lda+p0+kcb]
	r1 := a[(i+1)*lda+p0 : (i+1)*lda+p0+kcb]
	r2 := a[(i+2)*lda+p0 : (i+2)*lda+p0+kcb]
	r3 := a[(i+3)*lda+p0 : (i+3)*lda+p0+kcb]
	r4 := a[(i+4)*lda+p0 : (i+4)*lda+p0+kcb]
	r5 := a[(i+5)*lda+p0 : (i+5)*lda+p0+kcb]
	for p := range r0 {
		d := (*[mr]float32)(panel[p*mr : p*mr+mr])
		d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
	if scale != 1 {
		for q := range panel {
			panel[q] *= scale
		}
	}
}

// packB writes rows [p0, p0+kcb) × columns [j0, j0+ncb) of op(B), times scale, as nr-column panels.
func packB(x simd.Level, dst, b []float32, ldb int, trans bool, p0, kcb, j0, ncb int, scale float32) {
	if !trans {
		packRowsB(x, dst, b, ldb, p0, kcb, j0, ncb, scale)
		return
	}
	for jr := 0; jr < ncb; jr += nr {
		panel := dst[(jr/nr)*kcb*nr : (jr/nr+1)*kcb*nr]
		cols := min(nr, ncb-jr)
		if cols == nr && nr == ChannelBlock && x.Asm() {
			// A whole panel is 16 rows of the stored Bᵀ interleaved, Interleave16's
			// transposition (8×8 squares in registers; attention's Kᵀ is packed so per head).
			if err := interleave16On(x, panel, b[(j0+jr)*ldb+p0:], ldb, kcb); err != nil {
				panic(err) // the caller checked B's size: a bug
			}
			if scale != 1 {
				scaleF32(x, panel, scale)
			}
			continue
		}
		if cols < nr {
			clear(panel)
		}
		for q := 0; q < cols; q++ {
			src := b[(j0+jr+q)*ldb+p0 : (j0+jr+q)*ldb+p0+kcb]
			for p, v := range src {
				panel[p*nr+q] = scale * v
			}
		}
	}
}

// packRowsB packs a row-major B row by row, so B is read sequentially (walking a 16-column
// strip down B instead touches a new page every few rows), each full panel row being one
// fixed-size copy.
func packRowsB(x simd.Level, dst, b []float32, ldb, p0, kcb, j0, ncb int, scale float32) {
	full := ncb / nr
	for p := 0; p < kcb; p++ {
		src := b[(p0+p)*ldb+j0 : (p0+p)*ldb+j0+ncb]
		for q := 0; q < full; q++ {
			row := dst[(q*kcb+p)*nr : (q*kcb+p+1)*nr]
			from := src[q*nr : (q+1)*nr]
			// 16-byte array moves compile to register moves; a 64-byte one to a memmove call.
			*(*[4]float32)(row[0:4]) = *(*[4]float32)(from[0:4])
			*(*[4]float32)(row[4:8]) = *(*[4]float32)(from[4:8])
			*(*[4]float32)(row[8:12]) = *(*[4]float32)(from[8:12])
			*(*[4]float32)(row[12:16]) = *(*[4]float32)(from[12:16])
		}
		if rest := ncb - full*nr; rest > 0 {
			row := dst[(full*kcb+p)*nr : (full*kcb+p+1)*nr]
			copy(row, src[full*nr:])
			clear(row[rest:])
		}
	}
	if scale != 1 {
		scaleF32(x, dst[:ceilDiv(ncb, nr)*kcb*nr], scale)
	}
}

// PackedB is a k×n right operand packed once (constant weights) for SgemmPackedB.
type PackedB struct {
	k, n   int
	panels int
	kb     int        // k-block length the data is laid out in (kBlock at packing time)
	level  simd.Level // the level it was packed for, which products on it run
	data   []float32
}

// K and N are the dimensions of op(B).
func (p *PackedB) K() int { return p.k }
func (p *PackedB) N() int { return p.n }

// PackB packs op(B) (k×n; stored n×k when transB) with leading dimension ldb.
func PackB(transB bool, k, n int, b []float32, ldb int) (*PackedB, error) {
	return packBOn(simd.Host(), transB, k, n, b, ldb)
}

// packBOn is PackB with the kernels of level x.
func packBOn(x simd.Level, transB bool, k, n int, b []float32, ldb int) (*PackedB, error) {
	rows, cols := k, n
	if transB {
		rows, cols = n, k
	}
	if err := checkMatrix("B", b, rows, cols, ldb); err != nil {
		return nil, err
	}
	kb := kBlock(x, k)
	pb := &PackedB{level: x, k: k, n: n, panels: ceilDiv(n, nr), kb: kb}
	pb.data = make([]float32, k*pb.panels*nr)
	for pc := 0; pc < k; pc += kb {
		kcb := min(kb, k-pc)
		packB(x, pb.data[pc*pb.panels*nr:], b, ldb, transB, pc, kcb, 0, n, 1)
	}
	return pb, nil
}

// PackedA is an m×k left operand packed once (constant weights) for SgemmPackedA.
type PackedA struct {
	m, k   int
	panels int
	kb     int        // k-block length the data is laid out in (kBlock at packing time)
	level  simd.Level // the level it was packed for, which products on it run
	data   []float32
}

// M and K are the dimensions of op(A).
func (p *PackedA) M() int { return p.m }
func (p *PackedA) K() int { return p.k }

// PackA packs op(A) (m×k; stored k×m when transA) with leading dimension lda.
func PackA(transA bool, m, k int, a []float32, lda int) (*PackedA, error) {
	return packAOn(simd.Host(), transA, m, k, a, lda)
}

// packAOn is PackA with the kernels of level x.
func packAOn(x simd.Level, transA bool, m, k int, a []float32, lda int) (*PackedA, error) {
	rows, cols := m, k
	if transA {
		rows, cols = k, m
	}
	if err := checkMatrix("A", a, rows, cols, lda); err != nil {
		return nil, err
	}
	if m < 0 || k < 0 {
		return nil, fmt.Errorf("gemm: negative size %d×%d", m, k)
	}
	kb := kBlock(x, k)
	pa := &PackedA{level: x, m: m, k: k, panels: ceilDiv(m, mr), kb: kb}
	pa.data = make([]float32, k*pa.panels*mr)
	for pc := 0; pc < k; pc += kb {
		kcb := min(kb, k-pc)
		packA(pa.data[pc*pa.panels*mr:], a, lda, transA, 0, m, pc, kcb, 1)
	}
	return pa, nil
}

// ScaleColumnsInto writes into dst op(A)·diag(s), p's column j multiplied by s[j], packed as p
// is, reusing dst's storage where it has room: a convolution whose input channels are scaled
// per image (a squeeze-and-excitation's x·σ(·)) scales its M×K weights instead of its K×N
// input. Each value is the float32 product w·s[j], what packing the scaled matrix would store.
// scratch holds s widened to one value per packed element of a k-block row (grown as needed).
func (p *PackedA) ScaleColumnsInto(dst *PackedA, s []float32, scratch *[]float32) error {
	if len(s) != p.k {
		return fmt.Errorf("gemm: %d column scales for %d columns", len(s), p.k)
	}
	*dst = PackedA{m: p.m, k: p.k, panels: p.panels, kb: p.kb, level: p.level, data: slices.Grow(dst.data[:0], len(p.data))[:len(p.data)]}
	wide := slices.Grow((*scratch)[:0], p.k*mr)[:p.k*mr]
	*scratch = wide
	for j, v := range s {
		w := wide[j*mr : j*mr+mr]
		for r := range w {
			w[r] = v
		}
	}
	for pc := 0; pc < p.k; pc += p.kb {
		kcb := min(p.kb, p.k-pc)
		block := pc * p.panels * mr
		scales := wide[pc*mr : (pc+kcb)*mr]
		for i := 0; i < p.panels; i++ {
			at := block + i*kcb*mr
			vecmath.Arith(vecmath.OpMul, dst.data[at:at+kcb*mr], p.data[at:at+kcb*mr], scales)
		}
	}
	return nil
}
