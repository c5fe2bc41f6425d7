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
		if len(s) > rank {
			rank = len(s)
		}
	}
	out := make([]int, rank)
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
				return nil, fmt.Errorf("shapes %v are not broadcastable (dimension %d: %d vs %d)",
					shapeList(shapes), i-len(s), *o, d)
			}
		}
	}
	return out, nil
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
	off := len(out) - len(in)
	acc := 1
	for i := len(in) - 1; i >= 0; i-- {
		if in[i] != 1 {
			st[off+i] = acc
		}
		acc *= in[i]
	}
	return st
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
}

// newBroadcastPlan plans a walk over shapes broadcast together.
func newBroadcastPlan(shapes ...[]int) (*broadcastPlan, error) {
	out, err := broadcastShapes(shapes...)
	if err != nil {
		return nil, err
	}
	p := &broadcastPlan{Out: out, N: tensor.NumElements(out)}
	strides := make([][]int, len(shapes))
	for k, s := range shapes {
		strides[k] = broadcastStrides(s, out)
	}
	// Merge dimension i into the one before when every input keeps contiguity across the seam.
	var dims []int
	merged := make([][]int, len(shapes))
	for i := 0; i < len(out); i++ {
		if out[i] == 1 {
			continue // size-1 output dims carry no iteration
		}
		if len(dims) > 0 {
			last := len(dims) - 1
			ok := true
			for k := range shapes {
				prev := merged[k][last]
				cur := strides[k][i]
				if !(prev == 0 && cur == 0) && !(cur != 0 && prev == cur*out[i]) {
					ok = false
					break
				}
			}
			if ok {
				dims[last] *= out[i]
				for k := range shapes {
					merged[k][last] = strides[k][i]
				}
				continue
			}
		}
		dims = append(dims, out[i])
		for k := range shapes {
			merged[k] = append(merged[k], strides[k][i])
		}
	}
	if len(dims) == 0 {
		dims = []int{1}
		for k := range shapes {
			merged[k] = []int{0}
		}
	}
	p.dims = dims
	p.steps = merged
	p.Inner = dims[len(dims)-1]
	p.InnerStride = make([]int, len(shapes))
	for k := range shapes {
		if merged[k][len(dims)-1] != 0 {
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
	idx := make([]int, len(outer))
	in := make([]int, nk)
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
	for row := lo; row < hi; row++ {
		fn(row*p.Inner, in)
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
	sa, sb := p.InnerStride[0], p.InnerStride[1]
	inner := p.Inner
	run := func(lo, hi int) {
		p.ForRows(lo, hi, func(o int, in []int) {
			dst := out[o : o+inner]
			ia, ib := in[0], in[1]
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
	parallelRows(ctx, p, run)
}

// elementwiseMinChunk is the least number of elements worth handing to another goroutine.
const elementwiseMinChunk = 16 << 10

// parallelRows splits a plan's rows across ctx's threads when the output is large.
func parallelRows(ctx *Context, p *broadcastPlan, run func(lo, hi int)) {
	rows := p.Rows()
	if rows == 0 {
		return
	}
	minRows := 1
	if p.Inner < elementwiseMinChunk {
		minRows = (elementwiseMinChunk + p.Inner - 1) / p.Inner
	}
	ctx.Parallel(rows, minRows, run)
}
