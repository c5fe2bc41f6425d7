package ops

import (
	"fmt"
	"math"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestResizeWrittenOut(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

func TestResizeTapsHalfPixel(t *testing.T) {
	t.Parallel()
	// 2 → 4 samples: x_in = −0.25, 0.25, 0.75, 1.25; the left neighbour is floor(x_in), clamped.
	cfg := resizeConfig{mode: resizeLinear, coord: resizeHalfPixel}
	taps := cfg.taps(2, 4, 2, 0, 1)
	got := fmt.Sprint(taps.idx, taps.w)
	if want := "[0 0 0 1 0 1 1 1] [0.25 0.75 0.75 0.25 0.25 0.75 0.75 0.25]"; got != want {
		t.Errorf("taps %s, want %s", got, want)
	}
}
