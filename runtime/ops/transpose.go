package ops

import (
	"fmt"
	"github.com/actswap/actswap/internal/gemm"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Transpose", 1, newTranspose)
}

func newTranspose(n *Node) (Kernel, error) {
	perm := n.AttrInts("perm", nil)
	hasPerm := n.HasAttr("perm")
	// A valid perm attribute is checked and converted once, not on every run.
	fixed, fixedOK := transposePerm(perm, len(perm))
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		rank := len(x.Shape)
		var p []int
		switch {
		case hasPerm && len(perm) != rank:
			return nil, fmt.Errorf("perm %v has %d entries for rank %d", perm, len(perm), rank)
		case hasPerm && fixedOK:
			p = fixed
		case hasPerm:
			return nil, fmt.Errorf("perm %v is not a permutation of 0..%d", perm, rank-1)
		default:
			var buf [8]int
			if rank <= len(buf) {
				p = buf[:rank]
			} else {
				p = make([]int, rank)
			}
			for i := range p {
				p[i] = rank - 1 - i
			}
		}
		out, err := transposeRun(ctx, x, p)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

// transposePerm converts a perm attribute for an input of the given rank; ok is false when it is
// not a permutation of 0..rank-1.
func transposePerm(perm []int64, rank int) (p []int, ok bool) {
	p = make([]int, rank)
	seen := make([]bool, rank)
	for i, v := range perm {
		a, err := moveAxis(v, rank)
		if err != nil || seen[a] {
			return nil, false
		}
		seen[a] = true
		p[i] = a
	}
	return p, true
}

// transposeRun returns x with its axes permuted: output axis i is input axis perm[i].
func transposeRun(ctx *Context, x *tensor.Tensor, perm []int) (*tensor.Tensor, error) {
	m, err := moverFor(x.DType)
	if err != nil {
		return nil, err
	}
	rank := len(x.Shape)
	var shapeBuf [8]int
	shape := shapeBuf[:0]
	if rank > len(shapeBuf) {
		shape = make([]int, rank)
	}
	shape = shape[:rank]
	for i, a := range perm {
		shape[i] = x.Shape[a]
	}
	out := ctx.AllocOverwrite(x.DType, shape) // a permutation writes every element
	if out.Len() == 0 {
		return out, nil
	}
	// A batch of matrix transposes ([B, M, N] → [B, N, M] after merging axes that stay together)
	// is the common case (attention, NCHW↔NHWC); it gets a cache-blocked loop.
	if b, rows, cols, ok := transposeAsBatched2D(x.Shape, perm); ok && rows > 1 && cols > 1 {
		if transposeBlocked(ctx, out.Data, x.Data, b, rows, cols) {
			return out, nil
		}
	}
	if xs, ok := x.Data.([]float32); ok && rank <= 8 {
		// Stride lists on the stack: the generic copy is called directly, not through the
		// mover's interface (which would make them escape).
		var buf [24]int
		in, src, dst := buf[:rank], buf[8:8+rank], buf[16:16+rank]
		transposeStrides(in, src, dst, x.Shape, out.Shape, perm)
		moveStrided(out.F32(), 0, dst, xs, 0, src, out.Shape)
		return out, nil
	}
	buf := make([]int, 3*rank)
	in, src, dst := buf[:rank], buf[rank:2*rank], buf[2*rank:]
	transposeStrides(in, src, dst, x.Shape, out.Shape, perm)
	m.strided(out.Data, 0, dst, x.Data, 0, src, out.Shape)
	return out, nil
}

// transposeStrides fills the input's row-major strides, the source stride along each output
// axis, and the output's row-major strides.
func transposeStrides(in, src, dst, inShape, outShape, perm []int) {
	stridesInto(in, inShape)
	stridesInto(dst, outShape)
	for i, a := range perm {
		src[i] = in[a]
	}
}

// stridesInto writes the row-major element strides of shape into st (tensor.Strides without
// the allocation).
func stridesInto(st, shape []int) {
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
}

// transposeAsBatched2D reports whether the permutation, after dropping size-1 axes and merging
// input axes that stay adjacent and in order, is [0, 1, …, k, k+2, k+1]-like: a batch of B
// row-major rows×cols matrices each transposed.
func transposeAsBatched2D(shape []int, perm []int) (batch, rows, cols int, ok bool) {
	// Groups of input axes, in output order.
	type group struct{ first, size int }
	var buf [8]group
	groups := buf[:0]
	prev := 0
	for _, a := range perm {
		if shape[a] == 1 {
			continue
		}
		if len(groups) > 0 && transposeOnlyOnesBetween(shape, prev, a) {
			groups[len(groups)-1].size *= shape[a]
			prev = a
			continue
		}
		groups = append(groups, group{a, shape[a]})
		prev = a
	}
	switch len(groups) {
	case 2:
		if groups[0].first > groups[1].first {
			return 1, groups[1].size, groups[0].size, true
		}
	case 3:
		if groups[0].first < groups[1].first && groups[1].first > groups[2].first && groups[0].first < groups[2].first {
			return groups[0].size, groups[2].size, groups[1].size, true
		}
	}
	return 0, 0, 0, false
}

// transposeOnlyOnesBetween reports whether every input axis strictly between a and b is size 1.
func transposeOnlyOnesBetween(shape []int, a, b int) bool {
	if b <= a {
		return false
	}
	for i := a + 1; i < b; i++ {
		if shape[i] != 1 {
			return false
		}
	}
	return true
}

// transposeBlocked runs the batched matrix transpose for the common element sizes; it reports
// false for types it leaves to the generic path.
func transposeBlocked(ctx *Context, dst, src any, batch, rows, cols int) bool {
	switch d := dst.(type) {
	case []float32:
		transposeFloat32(ctx, d, src.([]float32), batch, rows, cols)
	case []float64:
		transposeTiles(ctx, d, src.([]float64), batch, rows, cols)
	case []tensor.Float16Bits:
		transposeTiles(ctx, d, src.([]tensor.Float16Bits), batch, rows, cols)
	case []int64:
		transposeTiles(ctx, d, src.([]int64), batch, rows, cols)
	case []uint8:
		transposeTiles(ctx, d, src.([]uint8), batch, rows, cols)
	default:
		return false
	}
	return true
}

const transposeTile = 32

// transposeFloat32 is transposeTiles for float32 through gemm.TransposeBias (8×8 squares in
// registers, about eight times the Go loop's speed), in spans of 256 source rows so that the
// squares' source lines stay in cache between passes.
func transposeFloat32(ctx *Context, dst, src []float32, batch, rows, cols int) {
	const span = 256 // as in transposeSpans
	spans := (rows + span - 1) / span
	minChunk := max(1, (1<<16)/(span*max(cols, 1)))
	if ctx.Inline(batch*spans, minChunk) {
		transposeSpans(dst, src, rows, cols, 0, batch*spans)
		return
	}
	ctx.Parallel(batch*spans, minChunk, func(lo, hi int) { transposeSpans(dst, src, rows, cols, lo, hi) })
}

// transposeSpans is transposeFloat32's work items [lo, hi).
func transposeSpans(dst, src []float32, rows, cols, lo, hi int) {
	const span = 256
	spans := (rows + span - 1) / span
	for w := lo; w < hi; w++ {
		b, r0 := w/spans, (w%spans)*span
		n := min(span, rows-r0)
		s, d := src[b*rows*cols:(b+1)*rows*cols], dst[b*rows*cols:(b+1)*rows*cols]
		if err := gemm.TransposeBias(d[r0:], rows, s[r0*cols:], cols, n, cols, nil); err != nil {
			panic(err) // sizes come from the tensor's own shape
		}
	}
}

// transposeTiles writes dst[b][c][r] = src[b][r][c] in 32×32 tiles so both sides stay in cache.
func transposeTiles[T any](ctx *Context, dst, src []T, batch, rows, cols int) {
	rowTiles := (rows + transposeTile - 1) / transposeTile
	work := batch * rowTiles
	minChunk := max(1, (1<<16)/(transposeTile*max(cols, 1)))
	ctx.Parallel(work, minChunk, func(lo, hi int) {
		for w := lo; w < hi; w++ {
			b, r0 := w/rowTiles, (w%rowTiles)*transposeTile
			r1 := min(r0+transposeTile, rows)
			s, d := src[b*rows*cols:(b+1)*rows*cols], dst[b*rows*cols:(b+1)*rows*cols]
			for c0 := 0; c0 < cols; c0 += transposeTile {
				c1 := min(c0+transposeTile, cols)
				for r := r0; r < r1; r++ {
					row := s[r*cols : r*cols+cols]
					for c := c0; c < c1; c++ {
						d[c*rows+r] = row[c]
					}
				}
			}
		}
	})
}
