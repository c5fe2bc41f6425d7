package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// DepthToSpace and SpaceToDepth are a reshape to 6-D, a transpose and a reshape back, exactly as
// the ONNX definitions spell them; transposeRun does the data movement.

func init() {
	Register(DefaultDomain, "DepthToSpace", 1, newDepthToSpace)
	Register(DefaultDomain, "SpaceToDepth", 1, newSpaceToDepth)
}

func depthspaceInput(inputs []*tensor.Tensor) (*tensor.Tensor, error) {
	x, err := moveNeed(inputs, 0, "input")
	if err != nil {
		return nil, err
	}
	if len(x.Shape) != 4 {
		return nil, fmt.Errorf("input must be 4-D NCHW, is %v", tensor.ShapeString(x.Shape))
	}
	return x, nil
}

func newDepthToSpace(n *Node) (Kernel, error) {
	block := int(n.AttrInt("blocksize", 0))
	if block < 1 {
		return nil, fmt.Errorf("blocksize %d must be positive", block)
	}
	mode := n.AttrString("mode", "DCR")
	if mode != "DCR" && mode != "CRD" {
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := depthspaceInput(inputs)
		if err != nil {
			return nil, err
		}
		nb, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		if c%(block*block) != 0 {
			return nil, fmt.Errorf("channels %d not divisible by blocksize² %d", c, block*block)
		}
		cOut := c / (block * block)
		var view []int
		var perm []int
		if mode == "DCR" {
			view, perm = []int{nb, block, block, cOut, h, w}, []int{0, 3, 4, 1, 5, 2}
		} else {
			view, perm = []int{nb, cOut, block, block, h, w}, []int{0, 1, 4, 2, 5, 3}
		}
		return depthspaceRun(ctx, x, view, perm, []int{nb, cOut, h * block, w * block})
	}), nil
}

func newSpaceToDepth(n *Node) (Kernel, error) {
	block := int(n.AttrInt("blocksize", 0))
	if block < 1 {
		return nil, fmt.Errorf("blocksize %d must be positive", block)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := depthspaceInput(inputs)
		if err != nil {
			return nil, err
		}
		nb, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		if h%block != 0 || w%block != 0 {
			return nil, fmt.Errorf("spatial size %dx%d not divisible by blocksize %d", h, w, block)
		}
		view := []int{nb, c, h / block, block, w / block, block}
		perm := []int{0, 3, 5, 1, 2, 4}
		return depthspaceRun(ctx, x, view, perm, []int{nb, c * block * block, h / block, w / block})
	}), nil
}

func depthspaceRun(ctx *Context, x *tensor.Tensor, view, perm, shape []int) ([]*tensor.Tensor, error) {
	v, err := x.Reshape(view)
	if err != nil {
		return nil, err
	}
	t, err := transposeRun(ctx, v, perm)
	if err != nil {
		return nil, err
	}
	t.Shape = shape
	return ctx.Result(t), nil
}
