package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "DeformConv", 19, newDeformConv)
}

// newDeformConv (opset 19): a 2-D convolution whose kernel taps are displaced per output position
// by learned offsets (X [N, C, H, W], W [oC, C/group, kH, kW], offset [N, 2·offset_group·kH·kW,
// oH, oW] as (Δh, Δw) pairs per tap, optional bias B [oC] and mask [N, offset_group·kH·kW, oH, oW]
// that scales each sampled tap). A displaced tap reads X by bilinear interpolation with zeros
// outside the image. Computed in float64, per output element; float32, float64 and float16.
func newDeformConv(n *Node) (Kernel, error) {
	geom, err := readWindowGeom(n)
	if err != nil {
		return nil, err
	}
	if geom.autoPad != "NOTSET" {
		return nil, fmt.Errorf("DeformConv has no auto_pad")
	}
	group, offsetGroup := int(n.AttrInt("group", 1)), int(n.AttrInt("offset_group", 1))
	if group < 1 || offsetGroup < 1 {
		return nil, fmt.Errorf("group %d and offset_group %d must be ≥ 1", group, offsetGroup)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 3); err != nil {
			return nil, err
		}
		x, w, off := in[0], in[1], in[2]
		if x.Rank() != 4 || w.Rank() != 4 || off.Rank() != 4 {
			return nil, fmt.Errorf("DeformConv is 2-D: X %v, W %v and offset %v must be 4-D", x.Shape, w.Shape, off.Shape)
		}
		if !x.DType.IsFloat() || w.DType != x.DType || off.DType != x.DType {
			return nil, fmt.Errorf("X, W and offset must be one float type, got %v, %v, %v", x.DType, w.DType, off.DType)
		}
		N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		oC, cg, kH, kW := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
		if geom.kernel != nil && (len(geom.kernel) != 2 || geom.kernel[0] != kH || geom.kernel[1] != kW) {
			return nil, fmt.Errorf("kernel_shape %v does not match W %v", geom.kernel, w.Shape)
		}
		if C != cg*group || oC%group != 0 || C%offsetGroup != 0 {
			return nil, fmt.Errorf("X has %d channels, W %v: want C = group(%d)·%d, oC divisible by group and C by offset_group (%d)", C, w.Shape, group, cg, offsetGroup)
		}
		outShape, padBegin, _, err := geom.forward([]int{H, W}, []int{kH, kW}, false)
		if err != nil {
			return nil, err
		}
		oH, oW := outShape[0], outShape[1]
		taps := kH * kW
		if !tensor.SameShape(off.Shape, []int{N, 2 * offsetGroup * taps, oH, oW}) {
			return nil, fmt.Errorf("offset is %v, want [%d %d %d %d]", off.Shape, N, 2*offsetGroup*taps, oH, oW)
		}
		var bias, mask []float64
		if len(in) > 3 && in[3] != nil {
			if in[3].Len() != oC {
				return nil, fmt.Errorf("B has %d values for %d output channels", in[3].Len(), oC)
			}
			bias = toFloat64s(in[3])
		}
		if len(in) > 4 && in[4] != nil {
			if !tensor.SameShape(in[4].Shape, []int{N, offsetGroup * taps, oH, oW}) {
				return nil, fmt.Errorf("mask is %v, want [%d %d %d %d]", in[4].Shape, N, offsetGroup*taps, oH, oW)
			}
			mask = toFloat64s(in[4])
		}
		strides, dilations, _, _ := geom.spatial(2, []int{kH, kW})
		xs, ws, offs := toFloat64s(x), toFloat64s(w), toFloat64s(off)
		plane := oH * oW
		// cols holds, for one image, every input channel's sampled taps: [C·kH·kW, oH·oW].
		cols := make([]float64, C*taps*plane)
		y := make([]float64, N*oC*plane)
		chPerOffsetGroup := C / offsetGroup
		for b := range N {
			for c := range C {
				g := c / chPerOffsetGroup
				img := xs[(b*C+c)*H*W : (b*C+c+1)*H*W]
				for t := range taps {
					kh, kw := t/kW, t%kW
					dh := offs[((b*2*offsetGroup*taps)+(g*taps+t)*2)*plane:]
					dw := offs[((b*2*offsetGroup*taps)+(g*taps+t)*2+1)*plane:]
					var m []float64
					if mask != nil {
						m = mask[(b*offsetGroup*taps+g*taps+t)*plane:]
					}
					col := cols[(c*taps+t)*plane : (c*taps+t+1)*plane]
					for oh := range oH {
						for ow := range oW {
							p := oh*oW + ow
							h := float64(oh*strides[0]-padBegin[0]+kh*dilations[0]) + dh[p]
							v := float64(ow*strides[1]-padBegin[1]+kw*dilations[1]) + dw[p]
							s := bilinearZero(img, H, W, h, v)
							if m != nil {
								s *= m[p]
							}
							col[p] = s
						}
					}
				}
			}
			// y[b, o] = W[o] · cols of o's group (+ B[o]).
			for o := range oC {
				gr := o / (oC / group)
				out := y[(b*oC+o)*plane : (b*oC+o+1)*plane]
				if bias != nil {
					for p := range out {
						out[p] = bias[o]
					}
				}
				for k := range cg * taps {
					wv := ws[o*cg*taps+k]
					col := cols[(gr*cg*taps+k)*plane : (gr*cg*taps+k+1)*plane]
					for p := range out {
						out[p] += wv * col[p]
					}
				}
			}
		}
		res, err := floatOut(ctx, x.DType, []int{N, oC, oH, oW}, y)
		return []*tensor.Tensor{res}, err
	}), nil
}

// bilinearZero samples img [H, W] at (h, w) by bilinear interpolation, reading zeros outside it.
func bilinearZero(img []float64, H, W int, h, w float64) float64 {
	if math.IsNaN(h) || math.IsNaN(w) {
		return math.NaN()
	}
	h0, w0 := math.Floor(h), math.Floor(w)
	fh, fw := h-h0, w-w0
	at := func(r, c float64) float64 {
		if r < 0 || c < 0 || r >= float64(H) || c >= float64(W) {
			return 0
		}
		return img[int(r)*W+int(c)]
	}
	return (1-fh)*((1-fw)*at(h0, w0)+fw*at(h0, w0+1)) + fh*((1-fw)*at(h0+1, w0)+fw*at(h0+1, w0+1))
}
