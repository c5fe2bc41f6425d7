package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestScatterFamily(t *testing.T) {
	t.Parallel()
	x := mvF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	cases := []struct {
		name   string
		op     string
		attrs  mvAttrs
		inputs []*tensor.Tensor
		want   *tensor.Tensor
	}{
		{"elements none", "ScatterElements", mvAttrs{"axis": 1},
			[]*tensor.Tensor{x, mvI64([]int{2, 1}, 2, -3), mvF32([]int{2, 1}, 10, 20)}, mvF32([]int{2, 3}, 1, 2, 10, 20, 5, 6)},
		{"elements add duplicates", "ScatterElements", mvAttrs{"axis": 1, "reduction": "add"},
			[]*tensor.Tensor{x, mvI64([]int{1, 2}, 0, 0), mvF32([]int{1, 2}, 10, 20)}, mvF32([]int{2, 3}, 31, 2, 3, 4, 5, 6)},
		{"elements mul", "ScatterElements", mvAttrs{"reduction": "mul"},
			[]*tensor.Tensor{x, mvI64([]int{1, 3}, 1, 0, 1), mvF32([]int{1, 3}, 2, 3, 4)}, mvF32([]int{2, 3}, 1, 6, 3, 8, 5, 24)},
		{"elements max", "ScatterElements", mvAttrs{"axis": 0, "reduction": "max"},
			[]*tensor.Tensor{x, mvI64([]int{1, 3}, 1, 1, 1), mvF32([]int{1, 3}, 0, 9, 6)}, mvF32([]int{2, 3}, 1, 2, 3, 4, 9, 6)},
		{"elements min", "ScatterElements", mvAttrs{"axis": 0, "reduction": "min"},
			[]*tensor.Tensor{x, mvI64([]int{1, 3}, 0, 0, 0), mvF32([]int{1, 3}, 0, 9, -1)}, mvF32([]int{2, 3}, 0, 2, -1, 4, 5, 6)},
		{"nd rows", "ScatterND", nil,
			[]*tensor.Tensor{x, mvI64([]int{1, 1}, 1), mvF32([]int{1, 3}, 7, 8, 9)}, mvF32([]int{2, 3}, 1, 2, 3, 7, 8, 9)},
		{"nd elements add", "ScatterND", mvAttrs{"reduction": "add"},
			[]*tensor.Tensor{x, mvI64([]int{2, 2}, 0, 0, 0, 0), mvF32([]int{2}, 10, 100)}, mvF32([]int{2, 3}, 111, 2, 3, 4, 5, 6)},
	}
	for _, c := range cases {
		mvCheck(t, c.name, c.op, 18, c.attrs, c.want, c.inputs...)
	}
	// Reductions on 16-bit floats and integers go through their own paths.
	h := tensor.New([]int{2}, []tensor.Float16Bits{tensor.Float16FromFloat32(1.5), tensor.Float16FromFloat32(2)})
	u := tensor.New([]int{1}, []tensor.Float16Bits{tensor.Float16FromFloat32(0.25)})
	want := tensor.New([]int{2}, []tensor.Float16Bits{tensor.Float16FromFloat32(1.5), tensor.Float16FromFloat32(2.25)})
	mvCheck(t, "float16 add", "ScatterElements", 18, mvAttrs{"reduction": "add"}, want, h, mvI64([]int{1}, 1), u)
	mvCheck(t, "int32 max", "ScatterND", 18, mvAttrs{"reduction": "max"}, tensor.New([]int{2}, []int32{5, 2}),
		tensor.New([]int{2}, []int32{1, 2}), mvI64([]int{1, 1}, 0), tensor.New([]int{1}, []int32{5}))
	mvCheck(t, "deprecated Scatter", "Scatter", 10, mvAttrs{"axis": 1}, mvF32([]int{2, 3}, 1, 0, 3, 4, 5, 0),
		x, mvI64([]int{2, 1}, 1, 2), mvF32([]int{2, 1}, 0, 0))

	// KV-cache update: batch 0 writes at 1, batch 1 at 2 wrapping (circular) to 0.
	cache := mvF32([]int{2, 3, 1}, 0, 0, 0, 0, 0, 0)
	upd := mvF32([]int{2, 2, 1}, 1, 2, 3, 4)
	mvCheck(t, "tensor scatter linear", "TensorScatter", 24, nil, mvF32([]int{2, 3, 1}, 0, 1, 2, 3, 4, 0), cache, upd, mvI64([]int{2}, 1, 0))
	mvCheck(t, "tensor scatter circular", "TensorScatter", 24, mvAttrs{"mode": "circular"}, mvF32([]int{2, 3, 1}, 0, 1, 2, 4, 0, 3), cache, upd, mvI64([]int{2}, 1, 2))
	if _, err := mvRun("TensorScatter", 24, nil, 1, cache, upd, mvI64([]int{2}, 2, 0)); err == nil {
		t.Errorf("linear write past the end: want an error")
	}

	if _, err := mvRun("ScatterElements", 18, mvAttrs{"reduction": "add"}, 1,
		tensor.New([]int{1}, []bool{true}), mvI64([]int{1}, 0), tensor.New([]int{1}, []bool{false})); err == nil {
		t.Errorf("add on bool: want an error")
	}
	if _, err := mvRun("ScatterElements", 18, mvAttrs{"reduction": "avg"}, 1, x, mvI64([]int{2, 1}, 0, 0), mvF32([]int{2, 1}, 0, 0)); err == nil {
		t.Errorf("unknown reduction: want an error")
	}
}
