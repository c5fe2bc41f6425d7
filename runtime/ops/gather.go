package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Gather", 1, newGather)
	Register(DefaultDomain, "GatherElements", 11, newGatherElements)
	Register(DefaultDomain, "GatherND", 11, newGatherND)
}

// gatherIndex maps a possibly negative index into [0, dim).
func gatherIndex(i int64, dim int) (int, error) {
	if i < -int64(dim) || i >= int64(dim) {
		return 0, fmt.Errorf("index %d out of range for axis of size %d", i, dim)
	}
	if i < 0 {
		i += int64(dim)
	}
	return int(i), nil
}

func newGather(n *Node) (Kernel, error) {
	axis := n.AttrInt("axis", 0)
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		ind, err := moveNeed(inputs, 1, "indices")
		if err != nil {
			return nil, err
		}
		a, err := moveAxis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		idx, err := moveInts(ind)
		if err != nil {
			return nil, fmt.Errorf("input 1 (indices): %w", err)
		}
		var shapeBuf [8]int // the output's shape, copied by Alloc
		shape := append(append(append(shapeBuf[:0], x.Shape[:a]...), ind.Shape...), x.Shape[a+1:]...)
		m, err := moverFor(x.DType)
		if err != nil {
			return nil, err
		}
		out := ctx.AllocOverwrite(x.DType, shape) // every output row is copied from x
		outer := tensor.NumElements(x.Shape[:a])
		inner := tensor.NumElements(x.Shape[a+1:])
		dim := x.Shape[a]
		// The common exporter case, one scalar index into a small vector, needs no offset table.
		if outer == 1 && len(idx) == 1 {
			i, err := gatherIndex(idx[0], dim)
			if err != nil {
				return nil, err
			}
			m.copyRange(out.Data, 0, x.Data, i*inner, inner)
			return ctx.Result(out), nil
		}
		if n := outer * len(idx); n <= 64 {
			// A few rows (exporters' shape gathers, a class token): copied one by one, since an
			// offset table handed to the mover would be a heap allocation per run.
			for o := range outer {
				for j, v := range idx {
					i, err := gatherIndex(v, dim)
					if err != nil {
						return nil, err
					}
					m.copyRange(out.Data, (o*len(idx)+j)*inner, x.Data, (o*dim+i)*inner, inner)
				}
			}
			return ctx.Result(out), nil
		}
		offs := make([]int, outer*len(idx))
		for o := range outer {
			for j, v := range idx {
				i, err := gatherIndex(v, dim)
				if err != nil {
					return nil, err
				}
				offs[o*len(idx)+j] = (o*dim + i) * inner
			}
		}
		if inner > 0 {
			m.blocks(out.Data, x.Data, offs, inner)
		}
		return ctx.Result(out), nil
	}), nil
}

func newGatherElements(n *Node) (Kernel, error) {
	axis := n.AttrInt("axis", 0)
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		ind, err := moveNeed(inputs, 1, "indices")
		if err != nil {
			return nil, err
		}
		offs, err := elementOffsets(x.Shape, ind, axis)
		if err != nil {
			return nil, err
		}
		m, err := moverFor(x.DType)
		if err != nil {
			return nil, err
		}
		out := ctx.Alloc(x.DType, ind.Shape)
		m.blocks(out.Data, x.Data, offs, 1)
		return ctx.Result(out), nil
	}), nil
}

// elementOffsets turns GatherElements/ScatterElements indices into flat offsets into data: the
// element at position p of indices addresses data at p with coordinate axis replaced by the index.
func elementOffsets(dataShape []int, ind *tensor.Tensor, axis int64) ([]int, error) {
	rank := len(dataShape)
	if len(ind.Shape) != rank {
		return nil, fmt.Errorf("indices rank %d differs from data rank %d", len(ind.Shape), rank)
	}
	a, err := moveAxis(axis, rank)
	if err != nil {
		return nil, err
	}
	for d := range rank {
		if d != a && ind.Shape[d] > dataShape[d] {
			return nil, fmt.Errorf("indices shape %v exceeds data shape %v on axis %d", tensor.ShapeString(ind.Shape), tensor.ShapeString(dataShape), d)
		}
	}
	idx, err := moveInts(ind)
	if err != nil {
		return nil, fmt.Errorf("indices: %w", err)
	}
	strides := tensor.Strides(dataShape)
	offs := make([]int, len(idx))
	coord := make([]int, rank)
	base := 0 // offset of coord in data with the axis coordinate left out
	for p, v := range idx {
		i, err := gatherIndex(v, dataShape[a])
		if err != nil {
			return nil, err
		}
		offs[p] = base + i*strides[a]
		for d := rank - 1; d >= 0; d-- {
			coord[d]++
			if d != a {
				base += strides[d]
			}
			if coord[d] < ind.Shape[d] {
				break
			}
			if d != a {
				base -= strides[d] * coord[d]
			}
			coord[d] = 0
		}
	}
	return offs, nil
}

func newGatherND(n *Node) (Kernel, error) {
	batchDims := int(n.AttrInt("batch_dims", 0))
	if batchDims < 0 {
		return nil, fmt.Errorf("batch_dims %d is negative", batchDims)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		ind, err := moveNeed(inputs, 1, "indices")
		if err != nil {
			return nil, err
		}
		offs, inner, tupleShape, err := ndOffsets(x.Shape, ind, batchDims)
		if err != nil {
			return nil, err
		}
		shape := append(append([]int(nil), tupleShape...), x.Shape[batchDims+ind.Shape[len(ind.Shape)-1]:]...)
		m, err := moverFor(x.DType)
		if err != nil {
			return nil, err
		}
		out := ctx.Alloc(x.DType, shape)
		if inner > 0 {
			m.blocks(out.Data, x.Data, offs, inner)
		}
		return ctx.Result(out), nil
	}), nil
}

// ndOffsets resolves GatherND/ScatterND index tuples: each row of the last indices axis (k long)
// addresses a slice of data of inner elements after batchDims leading axes shared with indices.
// It returns the slices' flat offsets, inner, and indices.shape[:-1].
func ndOffsets(dataShape []int, ind *tensor.Tensor, batchDims int) (offs []int, inner int, tupleShape []int, err error) {
	q := len(ind.Shape)
	if q < 1 {
		return nil, 0, nil, fmt.Errorf("indices must have rank ≥ 1")
	}
	k := ind.Shape[q-1]
	if batchDims >= q || batchDims+k > len(dataShape) {
		return nil, 0, nil, fmt.Errorf("indices shape %v and batch_dims %d do not fit data shape %v", tensor.ShapeString(ind.Shape), batchDims, tensor.ShapeString(dataShape))
	}
	for d := range batchDims {
		if ind.Shape[d] != dataShape[d] {
			return nil, 0, nil, fmt.Errorf("batch axis %d: indices has %d, data has %d", d, ind.Shape[d], dataShape[d])
		}
	}
	idx, err := moveInts(ind)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("indices: %w", err)
	}
	strides := tensor.Strides(dataShape)
	inner = tensor.NumElements(dataShape[batchDims+k:])
	batch := tensor.NumElements(dataShape[:batchDims])
	batchStride := tensor.NumElements(dataShape[batchDims:])
	tupleShape = ind.Shape[:q-1]
	tuples := tensor.NumElements(tupleShape)
	perBatch := 0
	if batch > 0 {
		perBatch = tuples / batch
	}
	offs = make([]int, tuples)
	for t := range tuples {
		off := (t / max(perBatch, 1)) * batchStride
		for j := range k {
			i, err := gatherIndex(idx[t*k+j], dataShape[batchDims+j])
			if err != nil {
				return nil, 0, nil, err
			}
			off += i * strides[batchDims+j]
		}
		offs[t] = off
	}
	return offs, inner, tupleShape, nil
}
