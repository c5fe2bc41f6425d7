package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestEinsumMatchesNaiveSum(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
