package runtime

import (
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// runOne runs a one-output model built by b on feeds.
func runOne(t *testing.T, b *graphtest.Builder, feeds map[string]*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	s, err := NewSession(b.Model())
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out[s.Outputs()[0].Name]
}

// The suite has four DeformConv cases; these pin it to Conv, an independent kernel: with zero
// offsets it is the convolution (groups, strides, pads, dilations, bias), with every offset +1
// row it is the convolution of the image moved up one row, and a mask of ½ halves it.
func TestDeformConvAgreesWithConv(t *testing.T) {
	r := graphtest.Seeded(7)
	const N, C, H, W, oC, k = 2, 4, 9, 8, 6, 3
	x := graphtest.RandF32(r, 1, N, C, H, W)
	w := graphtest.RandF32(r, 1, oC, C/2, k, k)
	bias := graphtest.RandF32(r, 1, oC)
	attrs := []graphtest.Attr{graphtest.A("group", 2), graphtest.A("strides", []int64{2, 1}),
		graphtest.A("pads", []int64{0, 2, 1, 0}), graphtest.A("dilations", []int64{1, 2})}

	conv := graphtest.New("conv", 19)
	conv.Output(conv.Op("Conv", []string{conv.Input("x", tensor.Float32, N, C, H, W), conv.Init("w", w), conv.Init("b", bias)}, attrs...), tensor.Float32)
	want := runOne(t, conv, map[string]*tensor.Tensor{"x": x})
	oH, oW := want.Shape[2], want.Shape[3]

	deform := func(offset, mask *tensor.Tensor) *tensor.Tensor {
		b := graphtest.New("deform", 19)
		in := []string{b.Input("x", tensor.Float32, N, C, H, W), b.Init("w", w), b.Init("off", offset), b.Init("b", bias)}
		if mask != nil {
			in = append(in, b.Init("mask", mask))
		}
		b.Output(b.Op("DeformConv", in, append(attrs, graphtest.A("offset_group", 2))...), tensor.Float32)
		return runOne(t, b, map[string]*tensor.Tensor{"x": x})
	}
	offShape := []int{N, 2 * 2 * k * k, oH, oW}
	if err := tensor.AllClose(deform(tensor.Zeros(tensor.Float32, offShape), nil), want, 1e-5, 1e-5); err != nil {
		t.Errorf("zero offsets vs Conv: %v", err)
	}

	// Δh = +1 for every tap: the convolution of x moved up one row (zeros entering at the bottom;
	// no top padding, which the shifted image would read as zeros and DeformConv as row 0).
	up := tensor.Zeros(tensor.Float32, offShape)
	for i, v := range up.F32() {
		if (i/(oH*oW))%2 == 0 {
			up.F32()[i] = v + 1
		}
	}
	shifted := tensor.Zeros(tensor.Float32, x.Shape)
	for i := range shifted.F32() {
		if row := (i / W) % H; row < H-1 {
			shifted.F32()[i] = x.F32()[i+W]
		}
	}
	wantUp := runOne(t, conv, map[string]*tensor.Tensor{"x": shifted})
	if err := tensor.AllClose(deform(up, nil), wantUp, 1e-5, 1e-5); err != nil {
		t.Errorf("offsets of one row vs Conv of the shifted image: %v", err)
	}

	// A mask of ½ on every tap halves the convolution without its bias.
	half := tensor.Zeros(tensor.Float32, []int{N, 2 * k * k, oH, oW})
	for i := range half.F32() {
		half.F32()[i] = 0.5
	}
	got := deform(tensor.Zeros(tensor.Float32, offShape), half)
	for i := range got.F32() {
		b := bias.F32()[(i/(oH*oW))%oC]
		if d := got.F32()[i] - b - (want.F32()[i]-b)/2; d > 1e-5 || d < -1e-5 {
			t.Fatalf("mask ½: element %d = %g, want %g", i, got.F32()[i], b+(want.F32()[i]-b)/2)
		}
	}
}

// MelWeightMatrix beyond the suite's one case: every filter is a triangle of weights in [0, 1]
// that peaks at 1, the filters' peaks move up with the band, and the matrix covers the spectrum's
// one-sided bins.
func TestMelWeightMatrixTriangles(t *testing.T) {
	const bins, dft = 40, 1024
	b := graphtest.New("mel", 17)
	b.Output(b.Op("MelWeightMatrix", []string{b.Const(tensor.Scalar(int64(bins))), b.Const(tensor.Scalar(int64(dft))),
		b.Const(tensor.Scalar(int64(16000))), b.ConstF32(20), b.ConstF32(8000)}), tensor.Float32)
	m := runOne(t, b, nil)
	if !tensor.SameShape(m.Shape, []int{dft/2 + 1, bins}) {
		t.Fatalf("shape %v", m.Shape)
	}
	lastPeak := -1
	for band := range bins {
		peak, top := -1, float32(0)
		for row := range dft/2 + 1 {
			v := m.F32()[row*bins+band]
			if v < 0 || v > 1 {
				t.Fatalf("band %d, bin %d: weight %g outside [0, 1]", band, row, v)
			}
			if v > top {
				peak, top = row, v
			}
		}
		if top != 1 || peak < lastPeak {
			t.Fatalf("band %d peaks at bin %d with %g (previous band at %d)", band, peak, top, lastPeak)
		}
		lastPeak = peak
	}
}
