package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Expand", 8, newExpand)
	Register(DefaultDomain, "Tile", 1, newTile)
	Register(DefaultDomain, "Tile", 6, newTile)
}

func newExpand(n *Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		spec, err := moveInput(inputs, 1, "shape")
		if err != nil {
			return nil, err
		}
		if spec == nil {
			return nil, fmt.Errorf("input 1 (shape) is missing")
		}
		target := make([]int, len(spec))
		for i, d := range spec {
			if d < 0 {
				return nil, fmt.Errorf("shape %v has a negative dimension", spec)
			}
			target[i] = int(d)
		}
		shape, err := broadcastShapes(x.Shape, target)
		if err != nil {
			return nil, err
		}
		m, err := moverFor(x.DType)
		if err != nil {
			return nil, err
		}
		if err := moveSized(shape); err != nil {
			return nil, err
		}
		out := ctx.Alloc(x.DType, shape)
		if out.Len() > 0 {
			m.strided(out.Data, 0, tensor.Strides(shape), x.Data, 0, broadcastStrides(x.Shape, shape), shape)
		}
		return ctx.Result(out), nil
	}), nil
}

func newTile(n *Node) (Kernel, error) {
	if n.Version < 6 {
		// Tile-1 took a scalar tiles count and an axis as inputs; no exporter emits it any more.
		return nil, fmt.Errorf("Tile-%d (tiles and axis inputs) is not supported; use opset 6 or later", n.Version)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		repeats, err := moveInput(inputs, 1, "repeats")
		if err != nil {
			return nil, err
		}
		rank := len(x.Shape)
		if len(repeats) != rank {
			return nil, fmt.Errorf("repeats %v has %d entries for rank %d", repeats, len(repeats), rank)
		}
		// Output axis i of size r·d is walked as a pair (repeat, position) with the input stride 0
		// on the repeat part.
		shape := make([]int, rank)
		pairShape := make([]int, 2*rank)
		srcStrides := make([]int, 2*rank)
		inStrides := tensor.Strides(x.Shape)
		for i, r := range repeats {
			if r < 0 {
				return nil, fmt.Errorf("repeats %v has a negative entry", repeats)
			}
			if r > moveMaxElements {
				return nil, fmt.Errorf("repeats %v too large", repeats)
			}
			shape[i] = int(r) * x.Shape[i]
			pairShape[2*i], pairShape[2*i+1] = int(r), x.Shape[i]
			srcStrides[2*i+1] = inStrides[i]
		}
		m, err := moverFor(x.DType)
		if err != nil {
			return nil, err
		}
		if err := moveSized(shape); err != nil {
			return nil, err
		}
		out := ctx.Alloc(x.DType, shape)
		if out.Len() > 0 {
			m.strided(out.Data, 0, tensor.Strides(pairShape), x.Data, 0, srcStrides, pairShape)
		}
		return ctx.Result(out), nil
	}), nil
}
