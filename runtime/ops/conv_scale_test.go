package ops

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// TestConvChannelScale: a 1×1 convolution with a fused channel scale (FuseChannelScale: the
// weights' columns scaled, or a scaled copy of the image where another lowering runs) against
// the float64 convolution of x·s (the product in float32, as the Mul would give it), with a
// bias and a residual, scales per image and shared by the batch, the operands in either order,
// on the in-place and packed products, the gather product and one-pixel images, on one and two
// threads, run twice (the scaled weights' scratch reused).
func TestConvChannelScale(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(61, 62))
	cases := []struct {
		name                   string
		x, w                   []int
		scaleImages            int
		swap, gather, residual bool
	}{
		{name: "in place", x: []int{2, 24, 8, 8}, w: []int{16, 24, 1, 1}, scaleImages: 2, residual: true},
		{name: "packed", x: []int{1, 40, 7, 9}, w: []int{20, 40, 1, 1}, scaleImages: 1},
		{name: "packed, k-blocks", x: []int{2, 700, 3, 5}, w: []int{13, 700, 1, 1}, scaleImages: 2, residual: true},
		{name: "shared scales", x: []int{3, 24, 8, 8}, w: []int{16, 24, 1, 1}, scaleImages: 1},
		{name: "swapped", x: []int{2, 40, 7, 9}, w: []int{20, 40, 1, 1}, scaleImages: 2, swap: true},
		{name: "gather", x: []int{1, 32, 7, 7}, w: []int{64, 32, 1, 1}, scaleImages: 1, gather: true, residual: true},
		{name: "one pixel", x: []int{3, 16, 1, 1}, w: []int{24, 16, 1, 1}, scaleImages: 3},
	}
	for _, tc := range cases {
		x, w, b := randTensor(r, tc.x...), randTensor(r, tc.w...), randTensor(r, tc.w[0])
		s := randTensor(r, tc.scaleImages, tc.x[1], 1, 1)
		outShape := append([]int{tc.x[0], tc.w[0]}, tc.x[2:]...)
		var res *tensor.Tensor
		if tc.residual {
			res = randTensor(r, outShape...)
		}
		xs := make([]float32, x.Len())
		plane := tc.x[2] * tc.x[3]
		for i, v := range x.F32() {
			img, c := i/(tc.x[1]*plane), i/plane%tc.x[1]
			xs[i] = v * s.F32()[(img%tc.scaleImages)*tc.x[1]+c]
		}
		want := refConv(tensor.New(tc.x, xs), w, b, 1, []int{1, 1}, []int{1, 1}, []int{0, 0}, tc.x[2:])
		if res != nil {
			for i := range want {
				want[i] += float64(res.F32()[i])
			}
		}
		for threads := 1; threads <= 2; threads++ {
			label := fmt.Sprintf("%s, %d threads", tc.name, threads)
			k, err := newConv(convTestNode("Conv", nil, 5, nil, w, b))
			if err != nil {
				t.Fatal(err)
			}
			if tc.gather {
				k.(*convKernel).lowering = convLowering{forceGather: true}
			}
			if tc.residual && !k.(ResidualFuser).FuseResidual() || !k.(ChannelScaleFuser).FuseChannelScale() {
				t.Fatalf("%s: a fusion refused", label)
			}
			in := []*tensor.Tensor{x, w, b, res, s}
			if tc.swap {
				in[0], in[4] = s, x
			}
			for run := 0; run < 2; run++ {
				outs, err := k.Run(NewContext(threads), in)
				if err != nil {
					t.Fatalf("%s: %v", label, err)
				}
				for i, v := range outs[0].F32() {
					if math.Abs(float64(v)-want[i]) > 1e-4*(1+math.Abs(want[i])) {
						t.Fatalf("%s, run %d: y[%d] = %g, want %g", label, run, i, v, want[i])
					}
				}
			}
		}
	}
}

// TestConvChannelScaleRefuses: FuseChannelScale takes only ungrouped 1×1 kernels with constant
// weights, and a scale that is not one value per channel of each image is ErrChannelScaleShape.
func TestConvChannelScaleRefuses(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(63, 64))
	for _, tc := range []struct {
		attrs map[string]any
		w     *tensor.Tensor
	}{{nil, randTensor(r, 8, 4, 3, 3)}, {map[string]any{"group": 2}, randTensor(r, 8, 2, 1, 1)}, {nil, nil}} {
		k, err := newConv(convTestNode("Conv", tc.attrs, 5, nil, tc.w))
		if err != nil {
			t.Fatal(err)
		}
		if k.(ChannelScaleFuser).FuseChannelScale() {
			t.Errorf("W %v, %v: fused", tc.w, tc.attrs)
		}
	}
	w := randTensor(r, 8, 4, 1, 1)
	k, err := newConv(convTestNode("Conv", nil, 5, nil, w))
	if err != nil {
		t.Fatal(err)
	}
	if !k.(ChannelScaleFuser).FuseChannelScale() {
		t.Fatal("refused")
	}
	x := randTensor(r, 2, 4, 5, 5)
	for _, s := range []*tensor.Tensor{randTensor(r, 2, 4, 5, 1), randTensor(r, 3, 4, 1, 1), randTensor(r, 2, 1, 1, 1), nil} {
		if _, err := k.Run(NewContext(1), []*tensor.Tensor{x, w, nil, nil, s}); err == nil || s != nil && !errors.Is(err, ErrChannelScaleShape) {
			t.Errorf("scale %v: error %v", s, err)
		}
	}
}
