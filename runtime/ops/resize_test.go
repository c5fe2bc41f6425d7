package ops

import (
	"fmt"
	"math"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestResizeWrittenOut(t *testing.T) {
	ramp := mvF32([]int{1, 1, 1, 4}, 0, 1, 2, 3)
	sizes := func(v ...int64) *tensor.Tensor { return mvI64([]int{len(v)}, v...) }
	scales := func(v ...float32) *tensor.Tensor { return mvF32([]int{len(v)}, v...) }
	cases := []struct {
		name    string
		version int
		attrs   mvAttrs
		inputs  []*tensor.Tensor
		want    *tensor.Tensor
	}{
		{"nearest 2x asymmetric floor", 13, mvAttrs{"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
			[]*tensor.Tensor{mvF32([]int{1, 1, 2, 2}, 1, 2, 3, 4), nil, scales(1, 1, 2, 2)},
			mvF32([]int{1, 1, 4, 4}, 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4)},
		// half_pixel: x_in = (x+0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25 → clamp, 1, 3, clamp.
		{"linear half_pixel", 13, mvAttrs{"mode": "linear"},
			[]*tensor.Tensor{mvF32([]int{1, 2}, 0, 4), nil, nil, sizes(1, 4)}, mvF32([]int{1, 4}, 0, 1, 3, 4)},
		{"linear align_corners", 13, mvAttrs{"mode": "linear", "coordinate_transformation_mode": "align_corners"},
			[]*tensor.Tensor{mvF32([]int{1, 2}, 0, 4), nil, nil, sizes(1, 3)}, mvF32([]int{1, 3}, 0, 2, 4)},
		// Antialiased 2x downsample: a triangle twice as wide, weights ⅛ ⅜ ⅜ ⅛ around 0.5 and 2.5.
		{"linear antialias", 18, mvAttrs{"mode": "linear", "antialias": 1},
			[]*tensor.Tensor{ramp, nil, scales(1, 1, 1, 0.5)}, mvF32([]int{1, 1, 1, 2}, 0.625, 2.375)},
		// tf_crop_and_resize over roi [0.5, 1.5] of 3 samples: x_in = 1.5, 3, 4.5 (outside).
		{"tf_crop_and_resize", 18, mvAttrs{"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "axes": []int64{3}, "extrapolation_value": float32(10)},
			[]*tensor.Tensor{ramp, scales(0.5, 1.5), nil, sizes(3)}, mvF32([]int{1, 1, 1, 3}, 1.5, 3, 10)},
		// not_larger: scale min(3/2, 3/4) = 0.75 → [2, 3]; nearest picks rows 0,1 and columns 0,1,3.
		{"keep aspect not_larger", 18, mvAttrs{"keep_aspect_ratio_policy": "not_larger", "axes": []int64{2, 3}},
			[]*tensor.Tensor{mvIota(1, 1, 2, 4), nil, nil, sizes(3, 3)}, mvF32([]int{1, 1, 2, 3}, 0, 1, 3, 4, 5, 7)},
		{"opset 10 nearest", 10, nil, []*tensor.Tensor{mvF32([]int{1, 2}, 5, 6), scales(1, 1.5)}, mvF32([]int{1, 3}, 5, 5, 6)},
		{"nearest int8", 13, nil, []*tensor.Tensor{tensor.New([]int{2}, []int8{-1, 7}), nil, scales(2)}, tensor.New([]int{4}, []int8{-1, -1, 7, 7})},
	}
	for _, c := range cases {
		outs, err := mvRun("Resize", c.version, c.attrs, 1, c.inputs...)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if msg := compareTensors(outs[0], c.want, 1e-6, 1e-6); msg != "" {
			t.Errorf("%s: %s (got %v)", c.name, msg, outs[0].Data)
		}
	}
	mvCheck(t, "upsample-7", "Upsample", 7, mvAttrs{"scales": []float32{1, 2}}, mvF32([]int{1, 4}, 1, 1, 2, 2), mvF32([]int{1, 2}, 1, 2))
	if _, err := mvRun("Resize", 13, nil, 1, ramp, nil, scales(1, 1, 1, 2), sizes(1, 1, 1, 8)); err == nil {
		t.Errorf("scales and sizes together: want an error")
	}
	if _, err := mvRun("Resize", 18, mvAttrs{"antialias": 1}, 1, ramp, nil, scales(1, 1, 1, 2)); err == nil {
		t.Errorf("antialias with nearest: want an error")
	}
}

// TestResizeCubicMatchesKeys compares cubic upsampling with a direct float64 evaluation of
// Keys' kernel over clamped neighbours (half_pixel, a = −0.75), the ONNX definition.
func TestResizeCubicMatchesKeys(t *testing.T) {
	in := []float64{3, -1, 4, 1, 5, 9, 2}
	x := make([]float32, len(in))
	for i, v := range in {
		x[i] = float32(v)
	}
	const out = 17
	outs, err := mvRun("Resize", 19, mvAttrs{"mode": "cubic"}, 1, tensor.New([]int{len(in)}, x), nil, nil, mvI64([]int{1}, out))
	if err != nil {
		t.Fatal(err)
	}
	keys := func(d float64) float64 {
		const a = -0.75
		d = math.Abs(d)
		switch {
		case d <= 1:
			return (a+2)*d*d*d - (a+3)*d*d + 1
		case d < 2:
			return a*d*d*d - 5*a*d*d + 8*a*d - 4*a
		}
		return 0
	}
	scale := float64(out) / float64(len(in))
	for o := range out {
		xi := (float64(o)+0.5)/scale - 0.5
		want := 0.0
		for j := int(math.Floor(xi)) - 1; j <= int(math.Floor(xi))+2; j++ {
			want += keys(xi-float64(j)) * in[min(max(j, 0), len(in)-1)]
		}
		if got := float64(outs[0].F32()[o]); math.Abs(got-want) > 1e-5 {
			t.Errorf("output %d: got %g, want %g", o, got, want)
		}
	}
}

func TestGridSampleAffineGridCol2Im(t *testing.T) {
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

func TestEinsumMatchesNaiveSum(t *testing.T) {
	// Each case lists the operands' labels with ellipses written out, so the reference needs no
	// parser: it sums the product over every assignment of the labels.
	cases := []struct {
		eq     string
		shapes [][]int
		labels []string
		out    string
	}{
		{"ij,jk->ik", [][]int{{2, 3}, {3, 4}}, []string{"ij", "jk"}, "ik"},
		{"ij,jk", [][]int{{2, 3}, {3, 4}}, []string{"ij", "jk"}, "ik"},
		{"bij,bjk->bik", [][]int{{2, 2, 3}, {2, 3, 2}}, []string{"bij", "bjk"}, "bik"},
		{"ii->i", [][]int{{3, 3}}, []string{"ii"}, "i"},
		{"ii", [][]int{{3, 3}}, []string{"ii"}, ""},
		{"ij->", [][]int{{2, 3}}, []string{"ij"}, ""},
		{"ij->ji", [][]int{{2, 3}}, []string{"ij"}, "ji"},
		{"i,i", [][]int{{4}, {4}}, []string{"i", "i"}, ""},
		{"i,j->ij", [][]int{{2}, {3}}, []string{"i", "j"}, "ij"},
		{"ij,ij->ij", [][]int{{2, 3}, {2, 3}}, []string{"ij", "ij"}, "ij"},
		{"abc,cd,de->abe", [][]int{{2, 2, 3}, {3, 2}, {2, 2}}, []string{"abc", "cd", "de"}, "abe"},
		{"...ij,...jk->...ik", [][]int{{2, 2, 3}, {2, 3, 2}}, []string{"zij", "zjk"}, "zik"},
		{"...ij,jk", [][]int{{2, 1, 2, 3}, {3, 2}}, []string{"yzij", "jk"}, "yzik"},
		{"...j,...j->...", [][]int{{2, 1, 3}, {4, 3}}, []string{"yzj", "zj"}, "yz"},
		{"bn,anm,bm->ba", [][]int{{2, 3}, {2, 3, 4}, {2, 4}}, []string{"bn", "anm", "bm"}, "ba"},
	}
	for _, c := range cases {
		var inputs []*tensor.Tensor
		for k, s := range c.shapes {
			d := make([]float64, tensor.NumElements(s))
			for i := range d {
				d[i] = float64((i*7+k*3)%11) - 5
			}
			inputs = append(inputs, tensor.New(s, d))
		}
		outs, err := mvRun("Einsum", 12, mvAttrs{"equation": c.eq}, 1, inputs...)
		if err != nil {
			t.Errorf("%s: %v", c.eq, err)
			continue
		}
		want := einsumNaive(inputs, c.labels, c.out)
		if msg := compareTensors(outs[0], want, 1e-12, 1e-12); msg != "" {
			t.Errorf("%s: %s", c.eq, msg)
		}
	}
	if _, err := mvRun("Einsum", 12, mvAttrs{"equation": "ij,jk->ik"}, 1, mvIota(2, 3), mvIota(4, 2)); err == nil {
		t.Errorf("mismatched contraction: want an error")
	}
}

// TestEinsumFloat32UsesGemmPath checks attention-sized float32 contractions (which go to SGEMM)
// against the float64 naive sum.
func TestEinsumFloat32UsesGemmPath(t *testing.T) {
	cases := []struct {
		eq     string
		shapes [][]int
		labels []string
		out    string
	}{
		{"bhqd,bhkd->bhqk", [][]int{{1, 3, 20, 16}, {1, 3, 24, 16}}, []string{"bhqd", "bhkd"}, "bhqk"},
		{"bhqk,bhkd->bhqd", [][]int{{1, 2, 20, 24}, {1, 2, 24, 16}}, []string{"bhqk", "bhkd"}, "bhqd"},
		{"ij,jk", [][]int{{40, 30}, {30, 50}}, []string{"ij", "jk"}, "ik"},
	}
	for _, c := range cases {
		var in32, in64 []*tensor.Tensor
		for k, s := range c.shapes {
			d32 := make([]float32, tensor.NumElements(s))
			d64 := make([]float64, len(d32))
			for i := range d32 {
				d32[i] = float32((i*13+k*5)%17)/8 - 1
				d64[i] = float64(d32[i])
			}
			in32, in64 = append(in32, tensor.New(s, d32)), append(in64, tensor.New(s, d64))
		}
		outs, err := mvRun("Einsum", 12, mvAttrs{"equation": c.eq}, 1, in32...)
		if err != nil {
			t.Errorf("%s: %v", c.eq, err)
			continue
		}
		want := einsumNaive(in64, c.labels, c.out)
		got := tensor.Zeros(tensor.Float64, outs[0].Shape)
		for i, v := range outs[0].F32() {
			got.Data.([]float64)[i] = float64(v)
		}
		if msg := compareTensors(got, want, 1e-5, 1e-5); msg != "" {
			t.Errorf("%s: %s", c.eq, msg)
		}
	}
}

// einsumNaive evaluates an einsum whose labels are given per axis; a size-1 axis broadcasts.
func einsumNaive(inputs []*tensor.Tensor, labels []string, out string) *tensor.Tensor {
	size := map[rune]int{}
	var all []rune
	for k, ls := range labels {
		for i, l := range ls {
			if _, ok := size[l]; !ok {
				all = append(all, l)
			}
			size[l] = max(size[l], inputs[k].Shape[i])
		}
	}
	outShape := make([]int, 0, len(out))
	for _, l := range out {
		outShape = append(outShape, size[l])
	}
	res := make([]float64, tensor.NumElements(outShape))
	val := map[rune]int{}
	var walk func(i int)
	walk = func(i int) {
		if i < len(all) {
			for v := range size[all[i]] {
				val[all[i]] = v
				walk(i + 1)
			}
			return
		}
		prod := 1.0
		for k, ls := range labels {
			off := 0
			for j, l := range ls {
				v := val[l]
				if inputs[k].Shape[j] == 1 {
					v = 0
				}
				off = off*inputs[k].Shape[j] + v
			}
			prod *= inputs[k].Data.([]float64)[off]
		}
		off := 0
		for j, l := range out {
			off = off*outShape[j] + val[l]
		}
		res[off] += prod
	}
	walk(0)
	return tensor.New(outShape, res)
}

func TestResizeTapsHalfPixel(t *testing.T) {
	// 2 → 4 samples: x_in = −0.25, 0.25, 0.75, 1.25; the left neighbour is floor(x_in), clamped.
	cfg := resizeConfig{mode: resizeLinear, coord: resizeHalfPixel}
	taps := cfg.taps(2, 4, 2, 0, 1)
	got := fmt.Sprint(taps.idx, taps.w)
	if want := "[0 0 0 1 0 1 1 1] [0.25 0.75 0.75 0.25 0.25 0.75 0.75 0.25]"; got != want {
		t.Errorf("taps %s, want %s", got, want)
	}
}
