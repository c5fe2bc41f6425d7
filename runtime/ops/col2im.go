package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Col2Im", 18, newCol2Im)
}

// newCol2Im is the inverse of im2col: every column (one sliding-block position) of the input
// [N, C·∏block, L] is added back into the image at the block's place, overlaps summing.
func newCol2Im(n *Node) (Kernel, error) {
	attrDil, attrPads, attrStrides := n.AttrInts("dilations", nil), n.AttrInts("pads", nil), n.AttrInts("strides", nil)
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		image, err := moveInput(inputs, 1, "image_shape")
		if err != nil {
			return nil, err
		}
		block, err := moveInput(inputs, 2, "block_shape")
		if err != nil {
			return nil, err
		}
		r := len(image)
		if r == 0 || len(block) != r || len(x.Shape) != 3 {
			return nil, fmt.Errorf("need input [N, C·∏block, L] and image_shape, block_shape of equal length; got %v, %v, %v", tensor.ShapeString(x.Shape), image, block)
		}
		param := func(v []int64, def int64, n int, what string) ([]int, error) {
			out := make([]int, n)
			for i := range out {
				out[i] = int(def)
			}
			if v == nil {
				return out, nil
			}
			if len(v) != n {
				return nil, fmt.Errorf("%s %v has %d entries, want %d", what, v, len(v), n)
			}
			for i, e := range v {
				out[i] = int(e)
			}
			return out, nil
		}
		dil, err := param(attrDil, 1, r, "dilations")
		if err != nil {
			return nil, err
		}
		pads, err := param(attrPads, 0, 2*r, "pads")
		if err != nil {
			return nil, err
		}
		strides, err := param(attrStrides, 1, r, "strides")
		if err != nil {
			return nil, err
		}
		img, blk, blocks := make([]int, r), make([]int, r), make([]int, r)
		kernel := 1
		positions := 1
		for i := range r {
			img[i], blk[i] = int(image[i]), int(block[i])
			if img[i] < 0 || blk[i] < 1 || dil[i] < 1 || strides[i] < 1 {
				return nil, fmt.Errorf("invalid image_shape %v, block_shape %v, dilations or strides", image, block)
			}
			span := dil[i]*(blk[i]-1) + 1
			blocks[i] = (img[i]+pads[i]+pads[r+i]-span)/strides[i] + 1
			kernel *= blk[i]
			positions *= blocks[i]
		}
		nb, cols, l := x.Shape[0], x.Shape[1], x.Shape[2]
		if cols%kernel != 0 || l != positions {
			return nil, fmt.Errorf("input %v does not match %d block elements and %d positions", tensor.ShapeString(x.Shape), kernel, positions)
		}
		ch := cols / kernel
		src := onehotFloat64s(x)
		if src == nil {
			return nil, fmt.Errorf("input must be numeric")
		}
		if err := moveSized(append([]int{nb, ch}, img...)); err != nil {
			return nil, err
		}
		imgSize := tensor.NumElements(img)
		imgStrides := tensor.Strides(img)
		blkStrides, posStrides := tensor.Strides(blk), tensor.Strides(blocks)
		res := make([]float64, nb*ch*imgSize)
		for b := range nb {
			for c := range ch {
				dst := res[(b*ch+c)*imgSize : (b*ch+c+1)*imgSize]
				for k := range kernel {
					row := src[((b*ch+c)*kernel+k)*l : ((b*ch+c)*kernel+k+1)*l]
					for p := range l {
						off, inside := 0, true
						for i := range r {
							ki := k / blkStrides[i] % blk[i]
							pi := p / posStrides[i] % blocks[i]
							at := pi*strides[i] - pads[i] + ki*dil[i]
							if at < 0 || at >= img[i] {
								inside = false
								break
							}
							off += at * imgStrides[i]
						}
						if inside {
							dst[off] += row[p]
						}
					}
				}
			}
		}
		out := ctx.Alloc(x.DType, append([]int{nb, ch}, img...))
		if err := einsumStore(out, res); err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}
