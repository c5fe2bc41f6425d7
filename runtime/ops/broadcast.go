package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// broadcastShapes applies ONNX multidirectional (NumPy) broadcasting: shapes are right-aligned and
// each output dimension is the common size, where a size of 1 stretches to match.
func broadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	if err := broadcastShapeInto(out, shapes); err != nil {
		return nil, err
	}
	return out, nil
}

// broadcastShapeInto is broadcastShapes writing into out, which has the largest rank of shapes.
func broadcastShapeInto(out []int, shapes [][]int) error {
	rank := len(out)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := &out[off+i]
			switch {
			case d == *o || d == 1:
			case *o == 1:
				*o = d
			default:
				return fmt.Errorf("shapes %v are not broadcastable (dimension %d: %d vs %d)",
					shapeList(shapes), i-len(s), *o, d)
			}
		}
	}
	return nil
}

func shapeList(shapes [][]int) string {
	s := ""
	for i, sh := range shapes {
		if i > 0 {
			s += " "
		}
		s += tensor.ShapeString(sh)
	}
	return s
}

// broadcastStrides returns, for an input of shape in broadcast to out, the element stride of the
// input along each output dimension: 0 where the input is stretched (size 1 or missing).
func broadcastStrides(in, out []int) []int {
	st := make([]int, len(out))
	broadcastStridesInto(st, in, out)
	return st
}

// broadcastStridesInto is broadcastStrides writing into st (len(out), zeroed).
func broadcastStridesInto(st, in, out []int) {
	off := len(out) - len(in)
	acc := 1
	for i := len(in) - 1; i >= 0; i-- {
		if in[i] != 1 {
			st[off+i] = acc
		}
		acc *= in[i]
	}
}

// broadcastPlan walks several inputs broadcast to one output shape. Adjacent output dimensions
// where every input is either fully present or fully stretched are merged first, so most real
// cases (same shape, scalar, per-channel bias) reduce to one or two dimensions and the work is a
// handful of tight inner rows rather than per-element index arithmetic.
type broadcastPlan struct {
	Out   []int // broadcast output shape
	N     int   // output element count
	dims  []int // merged dimensions, outermost first
	steps [][]int
	// Inner is the length of each row handed to the row callback (the merged innermost dim), and
	// InnerStride[k] is input k's element stride within a row: 1 (walks) or 0 (repeats).
	Inner       int
	InnerStride []int

	// Small plans (the usual case: up to three inputs of rank ≤ 6) keep every slice above in these
	// arrays, so planning a node costs one allocation.
	small      [3 * (2 + 3*planSmallRank)]int
	smallSteps [3][]int
}

// singleRow and singleRowStep are the (read-only) dims and steps of a one-element plan.
var singleRow, singleRowStep = []int{1}, []int{0}

// planSmallRank is the largest rank whose plan fits broadcastPlan's built-in arrays.
const planSmallRank = 6

// newBroadcastPlan plans a walk over shapes broadcast together.
func newBroadcastPlan(shapes ...[]int) (*broadcastPlan, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	nk := len(shapes)
	p := &broadcastPlan{}
	// One backing array: out, dims, and per input its broadcast strides and merged steps, then
	// InnerStride.
	need := 2*rank + 2*nk*rank + nk
	var buf []int
	if need <= len(p.small) {
		buf = p.small[:need:need]
	} else {
		buf = make([]int, need)
	}
	take := func(n int) []int {
		s := buf[:n:n]
		buf = buf[n:]
		return s
	}
	out := take(rank)
	if err := broadcastShapeInto(out, shapes); err != nil {
		return nil, err
	}
	p.Out, p.N = out, tensor.NumElements(out)
	if nk <= len(p.smallSteps) {
		p.steps = p.smallSteps[:nk]
	} else {
		p.steps = make([][]int, nk)
	}
	dims := take(rank)[:0]
	strides := make([][]int, 0, 3)
	for k, s := range shapes {
		st := take(rank)
		broadcastStridesInto(st, s, out)
		strides = append(strides, st)
		p.steps[k] = take(rank)[:0]
	}
	// Merge dimension i into the one before when every input keeps contiguity across the seam.
	for i := 0; i < rank; i++ {
		if out[i] == 1 {
			continue // size-1 output dims carry no iteration
		}
		if len(dims) > 0 {
			last := len(dims) - 1
			ok := true
			for k := range shapes {
				prev := p.steps[k][last]
				cur := strides[k][i]
				if !(prev == 0 && cur == 0) && !(cur != 0 && prev == cur*out[i]) {
					ok = false
					break
				}
			}
			if ok {
				dims[last] *= out[i]
				for k := range shapes {
					p.steps[k][last] = strides[k][i]
				}
				continue
			}
		}
		dims = append(dims, out[i])
		for k := range shapes {
			p.steps[k] = append(p.steps[k], strides[k][i])
		}
	}
	if len(dims) == 0 { // every dimension is 1: one row of one element
		dims = singleRow
		for k := range shapes {
			p.steps[k] = singleRowStep
		}
	}
	p.dims = dims
	p.Inner = dims[len(dims)-1]
	p.InnerStride = take(nk)
	for k := range shapes {
		if p.steps[k][len(dims)-1] != 0 {
			p.InnerStride[k] = 1
		}
	}
	if p.N == 0 {
		p.Inner = 0
	}
	return p, nil
}

// Rows is the number of inner rows the output splits into.
func (p *broadcastPlan) Rows() int {
	if p.Inner == 0 {
		return 0
	}
	return p.N / p.Inner
}

// ForRows calls fn for rows [lo, hi): out is the row's first output offset and in[k] the first
// element of input k for that row (in is reused between calls; fn must not keep it). Rows are
// independent, so callers may split [0, Rows()) across goroutines.
func (p *broadcastPlan) ForRows(lo, hi int, fn func(out int, in []int)) {
	if lo >= hi {
		return
	}
	nk := len(p.steps)
	outer := p.dims[:len(p.dims)-1]
	var idxBuf [planSmallRank]int
	var idx []int
	if len(outer) <= len(idxBuf) {
		idx = idxBuf[:len(outer)]
	} else {
		idx = make([]int, len(outer))
	}
	in := make([]int, nk)
	p.walk(lo, hi, idx, in, func(o int) { fn(o, in) })
}

// ForRows2 is ForRows for a two-input plan, with the inputs' offsets passed by value: nothing
// escapes, so a walk allocates nothing.
func (p *broadcastPlan) ForRows2(lo, hi int, fn func(out, a, b int)) {
	if lo >= hi {
		return
	}
	outer := p.dims[:len(p.dims)-1]
	if len(outer) == 0 { // one row: same shapes, scalars, all merged
		fn(lo*p.Inner, 0, 0)
		return
	}
	var idxBuf [planSmallRank]int
	var inBuf [2]int
	var idx []int
	if len(outer) <= len(idxBuf) {
		idx = idxBuf[:len(outer)]
	} else {
		idx = make([]int, len(outer))
	}
	in := inBuf[:]
	p.walk(lo, hi, idx, in, func(o int) { fn(o, in[0], in[1]) })
}

// walk runs the odometer over rows [lo, hi) with idx (the outer dims' counter) and in (each
// input's offset) as scratch, calling row with each row's output offset.
func (p *broadcastPlan) walk(lo, hi int, idx, in []int, row func(out int)) {
	nk := len(p.steps)
	outer := p.dims[:len(p.dims)-1]
	// Position the counter at row lo.
	r := lo
	for d := len(outer) - 1; d >= 0; d-- {
		idx[d] = r % outer[d]
		r /= outer[d]
	}
	for k := 0; k < nk; k++ {
		off := 0
		for d := range outer {
			off += idx[d] * p.steps[k][d]
		}
		in[k] = off
	}
	for r := lo; r < hi; r++ {
		row(r * p.Inner)
		// Advance the odometer.
		for d := len(outer) - 1; d >= 0; d-- {
			idx[d]++
			for k := 0; k < nk; k++ {
				in[k] += p.steps[k][d]
			}
			if idx[d] < outer[d] {
				break
			}
			for k := 0; k < nk; k++ {
				in[k] -= p.steps[k][d] * outer[d]
			}
			idx[d] = 0
		}
	}
}

// Indices fills, for each input k, the flat source index of every output element. It is the slow
// but simple path for kernels with irregular element work.
func (p *broadcastPlan) Indices() [][]int {
	idx := make([][]int, len(p.steps))
	for k := range idx {
		idx[k] = make([]int, p.N)
	}
	p.ForRows(0, p.Rows(), func(out int, in []int) {
		for k := range idx {
			s := p.InnerStride[k]
			dst := idx[k][out : out+p.Inner]
			for j := range dst {
				dst[j] = in[k] + j*s
			}
		}
	})
	return idx
}

// broadcastMap2 computes out[i] = f(a[ia], b[ib]) over the broadcast of two inputs. f is a plain
// function value; float32 hot paths use their own loops instead.
func broadcastMap2[A, B, O any](ctx *Context, p *broadcastPlan, a []A, b []B, out []O, f func(A, B) O) {
	if rowsInline(ctx, p) {
		broadcastMap2Rows(p, a, b, out, f, 0, p.Rows())
		return
	}
	parallelRows(ctx, p, func(lo, hi int) { broadcastMap2Rows(p, a, b, out, f, lo, hi) })
}

// broadcastMap2Rows is broadcastMap2 over rows [lo, hi).
func broadcastMap2Rows[A, B, O any](p *broadcastPlan, a []A, b []B, out []O, f func(A, B) O, lo, hi int) {
	sa, sb := p.InnerStride[0], p.InnerStride[1]
	inner := p.Inner
	p.ForRows2(lo, hi, func(o, ia, ib int) {
		dst := out[o : o+inner]
		switch {
		case sa == 1 && sb == 1:
			x, y := a[ia:ia+inner], b[ib:ib+inner]
			for j := range dst {
				dst[j] = f(x[j], y[j])
			}
		case sa == 1:
			x, y := a[ia:ia+inner], b[ib]
			for j := range dst {
				dst[j] = f(x[j], y)
			}
		case sb == 1:
			x, y := a[ia], b[ib:ib+inner]
			for j := range dst {
				dst[j] = f(x, y[j])
			}
		default:
			v := f(a[ia], b[ib])
			for j := range dst {
				dst[j] = v
			}
		}
	})
}

// elementwiseMinChunk is the least number of elements worth handing to another goroutine.
const elementwiseMinChunk = 16 << 10

// parallelRows splits a plan's rows across ctx's threads when the output is large.
func parallelRows(ctx *Context, p *broadcastPlan, run func(lo, hi int)) {
	rows := p.Rows()
	if rows == 0 {
		return
	}
	ctx.Parallel(rows, rowsPerChunk(p), run)
}

// rowsPerChunk is the least number of a plan's rows worth a goroutine.
func rowsPerChunk(p *broadcastPlan) int {
	if p.Inner > 0 && p.Inner < elementwiseMinChunk {
		return (elementwiseMinChunk + p.Inner - 1) / p.Inner
	}
	return 1
}

// rowsInline reports whether parallelRows would run all of a plan's rows on the calling
// goroutine. Callers then run them directly and skip building the closure that workers need
// (an allocation per node, which small models pay on every elementwise op).
func rowsInline(ctx *Context, p *broadcastPlan) bool {
	threads := 1
	if ctx != nil {
		threads = ctx.Threads
	}
	return threads <= 1 || p.Rows()/rowsPerChunk(p) <= 1
}
