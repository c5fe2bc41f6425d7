package ops

import (
	"fmt"
	"sort"

	"github.com/actswap/actswap/tensor"
)

// NonMaxSuppression (opset 10/11): per batch and class, boxes in descending score order (ties by
// index) are kept greedily unless their IoU with a box already kept exceeds iou_threshold; scores
// must exceed score_threshold, and at most max_output_boxes_per_class are kept.

func init() {
	RegisterRange(DefaultDomain, "NonMaxSuppression", newNonMaxSuppression, 10, 11)
}

func newNonMaxSuppression(n *Node) (Kernel, error) {
	center := n.AttrInt("center_point_box", 0)
	if center != 0 && center != 1 {
		return nil, fmt.Errorf("NonMaxSuppression: center_point_box must be 0 or 1, got %d", center)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, fmt.Errorf("NonMaxSuppression: %w", err)
		}
		boxes, scores := toFloat64s(in[0]), toFloat64s(in[1])
		bs, ss := in[0].Shape, in[1].Shape
		if len(bs) != 3 || bs[2] != 4 || len(ss) != 3 || ss[0] != bs[0] || ss[2] != bs[1] {
			return nil, fmt.Errorf("NonMaxSuppression: boxes %v and scores %v are not [B, N, 4] and [B, C, N]", bs, ss)
		}
		maxOut, iouThr, scoreThr := int64(0), 0.0, 0.0
		hasScoreThr := false
		if len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
			v, err := toInt64s(in[2])
			if err != nil {
				return nil, fmt.Errorf("NonMaxSuppression: max_output_boxes_per_class: %w", err)
			}
			maxOut = v[0]
		}
		if len(in) > 3 && in[3] != nil && in[3].Len() > 0 {
			iouThr = toFloat64s(in[3])[0]
		}
		if len(in) > 4 && in[4] != nil && in[4].Len() > 0 {
			scoreThr, hasScoreThr = toFloat64s(in[4])[0], true
		}
		batches, classes, nBoxes := bs[0], ss[1], bs[1]
		corners := make([][4]float64, len(boxes)/4)
		for i := range corners {
			b := boxes[4*i : 4*i+4]
			if center == 1 {
				corners[i] = [4]float64{b[1] - b[3]/2, b[0] - b[2]/2, b[1] + b[3]/2, b[0] + b[2]/2}
			} else {
				corners[i] = [4]float64{min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])}
			}
		}
		var selected []int64
		order := make([]int, 0, nBoxes)
		var kept []int
		for b := 0; b < batches; b++ {
			for c := 0; c < classes; c++ {
				sc := scores[(b*classes+c)*nBoxes : (b*classes+c+1)*nBoxes]
				order = order[:0]
				for i, s := range sc {
					if !hasScoreThr || s > scoreThr {
						order = append(order, i)
					}
				}
				sort.SliceStable(order, func(i, j int) bool { return sc[order[i]] > sc[order[j]] })
				kept = kept[:0]
				for _, i := range order {
					if int64(len(kept)) >= maxOut {
						break
					}
					box := corners[b*nBoxes+i]
					keep := true
					for _, k := range kept {
						if iou(box, corners[b*nBoxes+k]) > iouThr {
							keep = false
							break
						}
					}
					if keep {
						kept = append(kept, i)
						selected = append(selected, int64(b), int64(c), int64(i))
					}
				}
			}
		}
		out := ctx.Alloc(tensor.Int64, []int{len(selected) / 3, 3})
		copy(out.I64(), selected)
		return ctx.Result(out), nil
	}), nil
}

// iou is the intersection over union of two boxes given as [y1, x1, y2, x2] with y1 ≤ y2 and
// x1 ≤ x2 (0 when either has no area).
func iou(a, b [4]float64) float64 {
	areaA := (a[2] - a[0]) * (a[3] - a[1])
	areaB := (b[2] - b[0]) * (b[3] - b[1])
	if areaA <= 0 || areaB <= 0 {
		return 0
	}
	h := min(a[2], b[2]) - max(a[0], b[0])
	w := min(a[3], b[3]) - max(a[1], b[1])
	if h <= 0 || w <= 0 {
		return 0
	}
	inter := h * w
	return inter / (areaA + areaB - inter)
}
