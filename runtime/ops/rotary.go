package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// RotaryEmbedding (opset 23) rotates pairs of each head's first rotary_embedding_dim features by
// the angles whose cosines and sines the caches hold: halves (x[i], x[i+d/2]) or, interleaved,
// neighbours (x[2i], x[2i+1]). X is [B, H, S, D] or [B, S, H·D] with num_heads; the caches are
// [max_position, d/2] indexed by position_ids [B, S], or [B, S, d/2] without them. Computed in
// float64 and rounded once to X's type.

func init() {
	Register(DefaultDomain, "RotaryEmbedding", 23, newRotaryEmbedding)
}

func newRotaryEmbedding(n *Node) (Kernel, error) {
	interleaved := n.AttrInt("interleaved", 0) != 0
	rotDim := int(n.AttrInt("rotary_embedding_dim", 0))
	numHeads := int(n.AttrInt("num_heads", 0))
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 3); err != nil {
			return nil, fmt.Errorf("RotaryEmbedding: %w", err)
		}
		x, cosT, sinT := in[0], in[1], in[2]
		var b, h, s, d int
		// Element (batch, head, pos, feature) is at bi*bStride + hi*hStride + si*sStride + f.
		var bStride, hStride, sStride int
		switch len(x.Shape) {
		case 4:
			b, h, s, d = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
			bStride, hStride, sStride = h*s*d, s*d, d
		case 3:
			if numHeads <= 0 || x.Shape[2]%numHeads != 0 {
				return nil, fmt.Errorf("RotaryEmbedding: 3-D input %v needs num_heads dividing its last dimension (num_heads=%d)", x.Shape, numHeads)
			}
			b, s, h = x.Shape[0], x.Shape[1], numHeads
			d = x.Shape[2] / h
			bStride, hStride, sStride = s*h*d, d, h*d
		default:
			return nil, fmt.Errorf("RotaryEmbedding: input %v is neither 3-D nor 4-D", x.Shape)
		}
		rot := rotDim
		if rot == 0 {
			rot = d
		}
		if rot > d || rot%2 != 0 {
			return nil, fmt.Errorf("RotaryEmbedding: rotary_embedding_dim %d must be even and at most the head size %d", rot, d)
		}
		half := rot / 2
		cosV, sinV := toFloat64s(cosT), toFloat64s(sinT)
		cacheW := cosT.Shape[len(cosT.Shape)-1]
		if half > cacheW || !tensor.SameShape(cosT.Shape, sinT.Shape) {
			return nil, fmt.Errorf("RotaryEmbedding: caches %v and %v do not hold %d angles per position", cosT.Shape, sinT.Shape, half)
		}
		// row(bi, si) is the cache row of position si of batch bi.
		var row func(bi, si int) (int, error)
		if len(in) > 3 && in[3] != nil {
			pos, err := toInt64s(in[3])
			if err != nil || len(pos) != b*s {
				return nil, fmt.Errorf("RotaryEmbedding: position_ids %v is not [%d, %d] integers", in[3].Shape, b, s)
			}
			rows := cosT.Len() / cacheW
			row = func(bi, si int) (int, error) {
				p := pos[bi*s+si]
				if p < 0 || int(p) >= rows {
					return 0, fmt.Errorf("RotaryEmbedding: position id %d outside the cache's %d rows", p, rows)
				}
				return int(p), nil
			}
		} else {
			if cosT.Len() != b*s*cacheW {
				return nil, fmt.Errorf("RotaryEmbedding: without position_ids the caches must be [%d, %d, ·], got %v", b, s, cosT.Shape)
			}
			row = func(bi, si int) (int, error) { return bi*s + si, nil }
		}
		xv := toFloat64s(x)
		y := append([]float64(nil), xv...)
		for bi := 0; bi < b; bi++ {
			for si := 0; si < s; si++ {
				r, err := row(bi, si)
				if err != nil {
					return nil, err
				}
				c, sn := cosV[r*cacheW:], sinV[r*cacheW:]
				for hi := 0; hi < h; hi++ {
					o := bi*bStride + hi*hStride + si*sStride
					for i := 0; i < half; i++ {
						i1, i2 := o+i, o+i+half
						if interleaved {
							i1, i2 = o+2*i, o+2*i+1
						}
						x1, x2 := xv[i1], xv[i2]
						y[i1] = c[i]*x1 - sn[i]*x2
						y[i2] = sn[i]*x1 + c[i]*x2
					}
				}
			}
		}
		out := ctx.Alloc(x.DType, x.Shape)
		if err := storeFloats(y, out); err != nil {
			return nil, fmt.Errorf("RotaryEmbedding: %w", err)
		}
		return ctx.Result(out), nil
	}), nil
}
