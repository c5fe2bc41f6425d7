package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// refConvTranspose scatters every input element through every kernel tap, in float64.
func refConvTranspose(x, w, b *tensor.Tensor, group int, strides, dilations, padBegin, out []int) []float64 {
	n, c := x.Shape[0], x.Shape[1]
	mg := w.Shape[1]
	m := mg * group
	cg := c / group
	in, kernel := x.Shape[2:], w.Shape[2:]
	outSize := tensor.NumElements(out)
	outStr := tensor.Strides(out)
	res := make([]float64, n*m*outSize)
	if b != nil {
		for i := range res {
			res[i] = float64(b.F32()[(i/outSize)%m])
		}
	}
	xs, ws := tensor.Strides(x.Shape), tensor.Strides(w.Shape)
	iIdx, kIdx := make([]int, len(in)), make([]int, len(kernel))
	for bn := 0; bn < n; bn++ {
		for ic := 0; ic < c; ic++ {
			g := ic / cg
			clear(iIdx)
			for ip := 0; ip < tensor.NumElements(in); ip++ {
				xv := float64(x.F32()[bn*xs[0]+ic*xs[1]+ip])
				for om := 0; om < mg; om++ {
					clear(kIdx)
					for kp := 0; kp < tensor.NumElements(kernel); kp++ {
						off, inside := 0, true
						for d := range in {
							pos := iIdx[d]*strides[d] + kIdx[d]*dilations[d] - padBegin[d]
							inside = inside && pos >= 0 && pos < out[d]
							off += pos * outStr[d]
						}
						if inside {
							res[(bn*m+g*mg+om)*outSize+off] += xv * float64(w.F32()[ic*ws[0]+om*ws[1]+kp])
						}
						odometer(kIdx, kernel)
					}
				}
				odometer(iIdx, in)
			}
		}
	}
	return res
}

func TestConvTransposeAgainstReference(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                         string
		x, w                         []int
		group                        int
		attrs                        map[string]any
		strides, dilations, padBegin []int
		out                          []int
	}{
		{"stride2 pads", []int{1, 3, 4, 5}, []int{3, 2, 3, 3}, 1, map[string]any{"strides": []int{2, 2}, "pads": []int{1, 0, 1, 2}}, []int{2, 2}, []int{1, 1}, []int{1, 0}, []int{7, 9}},
		{"output_padding", []int{2, 2, 3, 3}, []int{2, 3, 3, 3}, 1, map[string]any{"strides": []int{3, 2}, "output_padding": []int{1, 1}}, []int{3, 2}, []int{1, 1}, []int{0, 0}, []int{10, 8}},
		{"groups dilations", []int{1, 4, 5, 4}, []int{4, 3, 2, 3}, 2, map[string]any{"group": 2, "dilations": []int{2, 1}}, []int{1, 1}, []int{2, 1}, []int{0, 0}, []int{7, 6}},
		{"output_shape same upper", []int{1, 1, 3, 3}, []int{1, 2, 3, 3}, 1, map[string]any{"strides": []int{2, 2}, "output_shape": []int{6, 6}, "auto_pad": "SAME_UPPER"}, []int{2, 2}, []int{1, 1}, []int{0, 0}, []int{6, 6}},
		{"1-D", []int{1, 2, 6}, []int{2, 3, 4}, 1, map[string]any{"strides": []int{3}, "pads": []int{1, 2}}, []int{3}, []int{1}, []int{1}, []int{16}},
		{"3-D", []int{1, 2, 2, 3, 2}, []int{2, 2, 2, 2, 3}, 1, map[string]any{"strides": []int{2, 1, 2}}, []int{2, 1, 2}, []int{1, 1, 1}, []int{0, 0, 0}, []int{4, 4, 5}},
	}
	r := rand.New(rand.NewPCG(13, 14))
	for _, tc := range cases {
		x, w := randTensor(r, tc.x...), randTensor(r, tc.w...)
		b := randTensor(r, tc.w[1]*tc.group)
		k, err := newConvTranspose(convTestNode("ConvTranspose", tc.attrs, 3))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		outs, err := k.Run(NewContext(2), []*tensor.Tensor{x, w, b})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		y := outs[0]
		wantShape := append([]int{tc.x[0], tc.w[1] * tc.group}, tc.out...)
		if !tensor.SameShape(y.Shape, wantShape) {
			t.Fatalf("%s: shape %v, want %v", tc.name, y.Shape, wantShape)
		}
		want := refConvTranspose(x, w, b, tc.group, tc.strides, tc.dilations, tc.padBegin, tc.out)
		for i, v := range y.F32() {
			if math.Abs(float64(v)-want[i]) > 1e-4*(1+math.Abs(want[i])) {
				t.Fatalf("%s: y[%d] = %g, want %g", tc.name, i, v, want[i])
			}
		}
	}
}
