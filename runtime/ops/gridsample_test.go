package ops

import "testing"

func TestGridSampleAffineGridCol2Im(t *testing.T) {
	t.Parallel()
	img := mvF32([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	// Corners with align_corners=1, the centre, and a point outside with zero padding.
	grid := mvF32([]int{1, 1, 4, 2}, -1, -1, 1, 1, 0, 0, 3, 0)
	mvCheck(t, "grid sample bilinear", "GridSample", 20, mvAttrs{"align_corners": 1}, mvF32([]int{1, 1, 1, 4}, 1, 4, 2.5, 0), img, grid)
	mvCheck(t, "grid sample border", "GridSample", 20, mvAttrs{"align_corners": 1, "padding_mode": "border"}, mvF32([]int{1, 1, 1, 4}, 1, 4, 2.5, 3), img, grid)

	// The identity transform reproduces the base grid: x along the width first.
	theta := mvF32([]int{1, 2, 3}, 1, 0, 0, 0, 1, 0)
	mvCheck(t, "affine grid identity", "AffineGrid", 20, mvAttrs{"align_corners": 1},
		mvF32([]int{1, 2, 3, 2}, -1, -1, 0, -1, 1, -1, -1, 1, 0, 1, 1, 1), theta, mvI64([]int{4}, 1, 1, 2, 3))

	// 1-D: blocks of 2 at stride 1 over an image of 3; the middle pixel is covered twice.
	cols := mvF32([]int{1, 2, 2}, 1, 2, 10, 20)
	mvCheck(t, "col2im overlap", "Col2Im", 18, nil, mvF32([]int{1, 1, 3}, 1, 12, 20), cols, mvI64([]int{1}, 3), mvI64([]int{1}, 2))
}
