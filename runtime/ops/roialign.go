package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// RoiAlign (opset 10, 16, 22) pools each region of interest to output_height × output_width bins,
// sampling every bin on a regular grid (sampling_ratio per side, or ceil(roi/output) when 0) with
// bilinear interpolation; bins average their samples, or in max mode keep the largest weighted
// corner value, as onnxruntime and ONNX's reference do. half_pixel coordinates (opset 16's
// default) shift the ROI by half a pixel; output_half_pixel (opset 10's only behaviour) does not
// and makes every ROI at least one pixel.

func init() {
	RegisterRange(DefaultDomain, "RoiAlign", newRoiAlign, 10, 16, 22)
}

func newRoiAlign(n *Node) (Kernel, error) {
	defMode := "half_pixel"
	if n.Version < 16 {
		defMode = "output_half_pixel"
	}
	ctm := n.AttrString("coordinate_transformation_mode", defMode)
	if ctm != "half_pixel" && ctm != "output_half_pixel" {
		return nil, fmt.Errorf("RoiAlign: coordinate_transformation_mode %q is not half_pixel or output_half_pixel", ctm)
	}
	mode := n.AttrString("mode", "avg")
	if mode != "avg" && mode != "max" {
		return nil, fmt.Errorf("RoiAlign: mode %q is not avg or max", mode)
	}
	oh, ow := int(n.AttrInt("output_height", 1)), int(n.AttrInt("output_width", 1))
	ratio := int(n.AttrInt("sampling_ratio", 0))
	scale := float64(n.AttrFloat("spatial_scale", 1))
	if oh < 1 || ow < 1 || ratio < 0 {
		return nil, fmt.Errorf("RoiAlign: output %dx%d and sampling_ratio %d are invalid", oh, ow, ratio)
	}
	halfPixel := ctm == "half_pixel"
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 3); err != nil {
			return nil, fmt.Errorf("RoiAlign: %w", err)
		}
		x, roisT := in[0], in[1]
		if len(x.Shape) != 4 || len(roisT.Shape) != 2 || roisT.Shape[1] != 4 {
			return nil, fmt.Errorf("RoiAlign: X %v and rois %v are not [N, C, H, W] and [R, 4]", x.Shape, roisT.Shape)
		}
		batch, err := toInt64s(in[2])
		if err != nil || len(batch) != roisT.Shape[0] {
			return nil, fmt.Errorf("RoiAlign: batch_indices must hold one integer per ROI")
		}
		nImg, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		xv, rois := toFloat64s(x), toFloat64s(roisT)
		r := roisT.Shape[0]
		y := make([]float64, r*c*oh*ow)
		offset := 0.0
		if halfPixel {
			offset = 0.5
		}
		for ri := 0; ri < r; ri++ {
			b := int(batch[ri])
			if b < 0 || b >= nImg {
				return nil, fmt.Errorf("RoiAlign: batch index %d outside %d images", b, nImg)
			}
			x1, y1 := rois[4*ri]*scale-offset, rois[4*ri+1]*scale-offset
			x2, y2 := rois[4*ri+2]*scale-offset, rois[4*ri+3]*scale-offset
			rw, rh := x2-x1, y2-y1
			if !halfPixel {
				rw, rh = max(rw, 1), max(rh, 1)
			}
			binH, binW := rh/float64(oh), rw/float64(ow)
			gh, gw := ratio, ratio
			if ratio == 0 {
				gh, gw = int(math.Ceil(rh/float64(oh))), int(math.Ceil(rw/float64(ow)))
			}
			count := float64(max(gh*gw, 1))
			for ci := 0; ci < c; ci++ {
				plane := xv[(b*c+ci)*h*w : (b*c+ci+1)*h*w]
				for ph := 0; ph < oh; ph++ {
					for pw := 0; pw < ow; pw++ {
						sum, best, sampled := 0.0, 0.0, false
						for iy := 0; iy < gh; iy++ {
							sy := y1 + float64(ph)*binH + (float64(iy)+0.5)*binH/float64(gh)
							for ix := 0; ix < gw; ix++ {
								sx := x1 + float64(pw)*binW + (float64(ix)+0.5)*binW/float64(gw)
								corners := bilinearCorners(plane, h, w, sy, sx)
								if mode == "avg" {
									sum += corners[0] + corners[1] + corners[2] + corners[3]
									continue
								}
								v := max(corners[0], corners[1], corners[2], corners[3])
								if !sampled || v > best {
									best, sampled = v, true
								}
							}
						}
						o := ((ri*c+ci)*oh+ph)*ow + pw
						if mode == "avg" {
							y[o] = sum / count
						} else {
							y[o] = best
						}
					}
				}
			}
		}
		out := ctx.Alloc(x.DType, []int{r, c, oh, ow})
		if err := storeFloats(y, out); err != nil {
			return nil, fmt.Errorf("RoiAlign: %w", err)
		}
		return ctx.Result(out), nil
	}), nil
}

// bilinearCorners returns the four weighted corner values of a bilinear sample at (y, x), with
// RoiAlign's border rule: samples beyond one pixel outside the image are 0, others clamp.
func bilinearCorners(plane []float64, h, w int, y, x float64) [4]float64 {
	if y < -1 || y > float64(h) || x < -1 || x > float64(w) {
		return [4]float64{}
	}
	y, x = max(y, 0), max(x, 0)
	yl, xl := int(y), int(x)
	yh, xh := yl+1, xl+1
	if yl >= h-1 {
		yl, yh, y = h-1, h-1, float64(h-1)
	}
	if xl >= w-1 {
		xl, xh, x = w-1, w-1, float64(w-1)
	}
	ly, lx := y-float64(yl), x-float64(xl)
	hy, hx := 1-ly, 1-lx
	return [4]float64{hy * hx * plane[yl*w+xl], hy * lx * plane[yl*w+xh], ly * hx * plane[yh*w+xl], ly * lx * plane[yh*w+xh]}
}
