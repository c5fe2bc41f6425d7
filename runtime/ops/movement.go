package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// This file holds what the shape and data-movement kernels (reshape.go, transpose.go, slice.go,
// gather.go, …) share: reading int64 shape inputs, normalising axes, and bulk element movement
// that works for every element type without per-element interface calls.

// mover moves elements of one Go element type in bulk. Kernels fetch one per call with moverFor
// and make a handful of calls on it, each of which loops over a typed slice.
type mover interface {
	// strided copies the block of the given shape read from src at srcOff with srcStrides into dst
	// at dstOff with dstStrides. Strides may be 0 (broadcast) or negative (reversal).
	strided(dst any, dstOff int, dstStrides []int, src any, srcOff int, srcStrides []int, shape []int)
	// blocks copies len(srcOffs) runs of n elements: run i from src[srcOffs[i]:] to dst[i*n:].
	blocks(dst, src any, srcOffs []int, n int)
	// scatterBlocks is the reverse of blocks: run i from src[i*n:] to dst[dstOffs[i]:].
	scatterBlocks(dst, src any, dstOffs []int, n int)
	// fill sets dst[off:off+n] to value[0], where value is a slice of the same element type.
	fill(dst any, off, n int, value any)
	// copyRange copies n elements from src[srcOff:] to dst[dstOff:].
	copyRange(dst any, dstOff int, src any, srcOff, n int)
	// gatherRow sets dst[dstOff+i] = src[srcOff+offs[i]] for every i.
	gatherRow(dst any, dstOff int, src any, srcOff int, offs []int)
}

type moverOf[T tensor.Elem] struct{}

func (moverOf[T]) strided(dst any, dstOff int, dstStrides []int, src any, srcOff int, srcStrides []int, shape []int) {
	moveStrided(dst.([]T), dstOff, dstStrides, src.([]T), srcOff, srcStrides, shape)
}

func (moverOf[T]) blocks(dst, src any, srcOffs []int, n int) {
	d, s := dst.([]T), src.([]T)
	if n == 1 {
		for i, o := range srcOffs {
			d[i] = s[o]
		}
		return
	}
	for i, o := range srcOffs {
		copy(d[i*n:(i+1)*n], s[o:o+n])
	}
}

func (moverOf[T]) scatterBlocks(dst, src any, dstOffs []int, n int) {
	d, s := dst.([]T), src.([]T)
	if n == 1 {
		for i, o := range dstOffs {
			d[o] = s[i]
		}
		return
	}
	for i, o := range dstOffs {
		copy(d[o:o+n], s[i*n:(i+1)*n])
	}
}

func (moverOf[T]) fill(dst any, off, n int, value any) {
	v := value.([]T)[0]
	d := dst.([]T)[off : off+n]
	for i := range d {
		d[i] = v
	}
}

func (moverOf[T]) copyRange(dst any, dstOff int, src any, srcOff, n int) {
	copy(dst.([]T)[dstOff:dstOff+n], src.([]T)[srcOff:srcOff+n])
}

func (moverOf[T]) gatherRow(dst any, dstOff int, src any, srcOff int, offs []int) {
	d, s := dst.([]T)[dstOff:dstOff+len(offs)], src.([]T)[srcOff:]
	for i, o := range offs {
		d[i] = s[o]
	}
}

// moverFor returns the mover for a dtype; every dtype tensor.Zeros can allocate has one.
func moverFor(dt tensor.DType) (mover, error) {
	switch dt {
	case tensor.Float32:
		return moverOf[float32]{}, nil
	case tensor.Float64:
		return moverOf[float64]{}, nil
	case tensor.Float16:
		return moverOf[tensor.Float16Bits]{}, nil
	case tensor.BFloat16:
		return moverOf[tensor.BFloat16Bits]{}, nil
	case tensor.Int8:
		return moverOf[int8]{}, nil
	case tensor.Int16:
		return moverOf[int16]{}, nil
	case tensor.Int32:
		return moverOf[int32]{}, nil
	case tensor.Int64:
		return moverOf[int64]{}, nil
	case tensor.Uint8:
		return moverOf[uint8]{}, nil
	case tensor.Uint16:
		return moverOf[uint16]{}, nil
	case tensor.Uint32:
		return moverOf[uint32]{}, nil
	case tensor.Uint64:
		return moverOf[uint64]{}, nil
	case tensor.Bool:
		return moverOf[bool]{}, nil
	case tensor.String:
		return moverOf[string]{}, nil
	}
	return nil, fmt.Errorf("unsupported element type %v", dt)
}

// moveStrided walks shape in row-major order, copying src[srcOff + Σ i·srcStrides] to
// dst[dstOff + Σ i·dstStrides]. Dimensions that are contiguous in both are merged first so the
// inner loop is as long as possible and becomes a plain copy when both sides are dense.
func moveStrided[T any](dst []T, dstOff int, dstStrides []int, src []T, srcOff int, srcStrides []int, shape []int) {
	var shBuf, dsBuf, ssBuf [8]int
	sh, ds, ss := shBuf[:0], dsBuf[:0], ssBuf[:0]
	for i, n := range shape {
		if n == 0 {
			return
		}
		if n == 1 {
			continue
		}
		k := len(sh) - 1
		if k >= 0 && ds[k] == dstStrides[i]*n && ss[k] == srcStrides[i]*n {
			sh[k] *= n
			ds[k], ss[k] = dstStrides[i], srcStrides[i]
			continue
		}
		sh, ds, ss = append(sh, n), append(ds, dstStrides[i]), append(ss, srcStrides[i])
	}
	if len(sh) == 0 {
		dst[dstOff] = src[srcOff]
		return
	}
	last := len(sh) - 1
	n, dInner, sInner := sh[last], ds[last], ss[last]
	var idxBuf [8]int
	idx := idxBuf[:0]
	for range last {
		idx = append(idx, 0)
	}
	d, s := dstOff, srcOff
	for {
		switch {
		case dInner == 1 && sInner == 1:
			copy(dst[d:d+n], src[s:s+n])
		case sInner == 0:
			v := src[s]
			for j, p := 0, d; j < n; j, p = j+1, p+dInner {
				dst[p] = v
			}
		default:
			for j, p, q := 0, d, s; j < n; j, p, q = j+1, p+dInner, q+sInner {
				dst[p] = src[q]
			}
		}
		k := last - 1
		for ; k >= 0; k-- {
			idx[k]++
			d += ds[k]
			s += ss[k]
			if idx[k] < sh[k] {
				break
			}
			d -= ds[k] * sh[k]
			s -= ss[k] * sh[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// moveInts reads an integer tensor (int64 or int32, the types ONNX allows for shapes, axes and
// indices) as []int64. An int64 tensor is returned without copying; callers must not modify it.
func moveInts(t *tensor.Tensor) ([]int64, error) {
	switch d := t.Data.(type) {
	case []int64:
		return d, nil
	case []int32:
		out := make([]int64, len(d))
		for i, v := range d {
			out[i] = int64(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want an int64 or int32 tensor, got %v", t.DType)
}

// moveInput fetches a shape-like integer input: the run-time tensor when present, else the
// constant (for inputs the runtime folded away), else nil when the input is absent.
func moveInput(inputs []*tensor.Tensor, i int, what string) ([]int64, error) {
	if i >= len(inputs) || inputs[i] == nil {
		return nil, nil
	}
	v, err := moveInts(inputs[i])
	if err != nil {
		return nil, fmt.Errorf("input %d (%s): %w", i, what, err)
	}
	return v, nil
}

// moveAxis maps a possibly negative axis into [0, rank).
func moveAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// moveAxes normalises a list of axes and rejects duplicates.
func moveAxes(axes []int64, rank int) ([]int, error) {
	return moveAxesInto(make([]int, len(axes)), axes, rank)
}

// moveAxesInto is moveAxes writing into out (len(axes) long), for callers that keep the axes on
// their stack.
func moveAxesInto(out []int, axes []int64, rank int) ([]int, error) {
	out = out[:len(axes)]
	for i, a := range axes {
		ax, err := moveAxis(a, rank)
		if err != nil {
			return nil, err
		}
		for _, prev := range out[:i] {
			if prev == ax {
				return nil, fmt.Errorf("axis %d repeated in %v", a, axes)
			}
		}
		out[i] = ax
	}
	return out, nil
}

// moveView returns t's elements under shape without copying them: Reshape, Flatten, Squeeze and
// Unsqueeze keep every element in place. The runtime's buffer reuse decides ownership by address
// range, so a buffer outlives every view of it, and a graph output that is a view of the
// caller's input or of a constant is copied before it is returned (Session.RunContext).
func moveView(ctx *Context, t *tensor.Tensor, shape []int) (*tensor.Tensor, error) {
	if tensor.NumElements(shape) != t.Len() {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", t.Shape, t.Len(), tensor.ShapeString(shape))
	}
	return ctx.View(t.DType, shape, t.Data), nil
}

// moveCopy returns a new tensor holding a copy of t's elements under shape, for kernels whose
// output must own its buffer (Identity, scatter's updated copy).
func moveCopy(ctx *Context, t *tensor.Tensor, shape []int) (*tensor.Tensor, error) {
	if tensor.NumElements(shape) != t.Len() {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", t.Shape, t.Len(), tensor.ShapeString(shape))
	}
	m, err := moverFor(t.DType)
	if err != nil {
		return nil, err
	}
	out := ctx.AllocOverwrite(t.DType, shape) // copied in full below
	m.copyRange(out.Data, 0, t.Data, 0, t.Len())
	return out, nil
}

// moveNeed checks that input i is present.
func moveNeed(inputs []*tensor.Tensor, i int, what string) (*tensor.Tensor, error) {
	if i >= len(inputs) || inputs[i] == nil {
		return nil, fmt.Errorf("input %d (%s) is missing", i, what)
	}
	return inputs[i], nil
}

// moveMaxElements bounds outputs whose size comes from input values (Expand's shape, Tile's
// repeats, Resize's sizes, …), so a bad model gets an error rather than exhausting memory. It is
// the limit tensor.FromProto puts on initializers.
const moveMaxElements = min(1<<34, math.MaxInt)

// moveSized checks that shape's element count is representable and within moveMaxElements.
func moveSized(shape []int) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("output shape %v has a negative dimension", shape)
		}
		if d != 0 && n > moveMaxElements/d {
			for _, e := range shape {
				if e == 0 {
					return nil
				}
			}
			return fmt.Errorf("output shape %v has more than %d elements", shape, moveMaxElements)
		}
		n *= d
	}
	return nil
}

// moveByAxisMaps fills out (of shape) by picking, independently per axis, which input position
// each output index reads: maps[a][i] is the input element offset (index × stride) that output
// index i on axis a contributes. Pad's edge/reflect/wrap modes and nearest-neighbour Resize are
// this. Output rows are gathered along the last axis; a row that reads the same input row as the
// one before it (upsampling) is copied from that row instead.
func moveByAxisMaps(m mover, out, x *tensor.Tensor, maps [][]int) {
	shape := out.Shape
	if out.Len() == 0 {
		return
	}
	rank := len(shape)
	if rank == 0 {
		m.copyRange(out.Data, 0, x.Data, 0, 1)
		return
	}
	last := maps[rank-1]
	rowLen := len(last)
	contiguous := true
	for i, o := range last {
		if o != last[0]+i {
			contiguous = false
			break
		}
	}
	coord := make([]int, rank-1)
	prevBase := -1
	for r, rows := 0, out.Len()/rowLen; r < rows; r++ {
		base := 0
		for a, c := range coord {
			base += maps[a][c]
		}
		switch {
		case base == prevBase:
			m.copyRange(out.Data, r*rowLen, out.Data, (r-1)*rowLen, rowLen)
		case contiguous:
			m.copyRange(out.Data, r*rowLen, x.Data, base+last[0], rowLen)
		default:
			m.gatherRow(out.Data, r*rowLen, x.Data, base, last)
		}
		prevBase = base
		for a := rank - 2; a >= 0; a-- {
			coord[a]++
			if coord[a] < shape[a] {
				break
			}
			coord[a] = 0
		}
	}
}
