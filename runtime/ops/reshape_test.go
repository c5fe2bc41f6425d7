package ops

import (
	"slices"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestReshapeFamily(t *testing.T) {
	t.Parallel()
	x := mvIota(2, 3, 4)
	same := x.F32()
	cases := []struct {
		name    string
		op      string
		version int
		attrs   mvAttrs
		inputs  []*tensor.Tensor
		shape   []int
	}{
		{"reshape -1", "Reshape", 14, nil, []*tensor.Tensor{x, mvI64([]int{2}, 4, -1)}, []int{4, 6}},
		{"reshape 0 copies", "Reshape", 14, nil, []*tensor.Tensor{x, mvI64([]int{3}, 0, 0, -1)}, []int{2, 3, 4}},
		{"reshape v1 attribute", "Reshape", 1, mvAttrs{"shape": []int64{24}}, []*tensor.Tensor{x}, []int{24}},
		{"flatten default", "Flatten", 13, nil, []*tensor.Tensor{x}, []int{2, 12}},
		{"flatten 0", "Flatten", 13, mvAttrs{"axis": 0}, []*tensor.Tensor{x}, []int{1, 24}},
		{"flatten -1", "Flatten", 13, mvAttrs{"axis": -1}, []*tensor.Tensor{x}, []int{6, 4}},
		{"flatten rank", "Flatten", 13, mvAttrs{"axis": 3}, []*tensor.Tensor{x}, []int{24, 1}},
		{"unsqueeze input", "Unsqueeze", 13, nil, []*tensor.Tensor{x, mvI64([]int{2}, 0, -1)}, []int{1, 2, 3, 4, 1}},
		{"unsqueeze attr", "Unsqueeze", 11, mvAttrs{"axes": []int64{1, 3}}, []*tensor.Tensor{x}, []int{2, 1, 3, 1, 4}},
	}
	for _, c := range cases {
		mvCheck(t, c.name, c.op, c.version, c.attrs, tensor.New(c.shape, same), c.inputs...)
	}
	// allowzero keeps a literal 0 (only valid when the input is empty too).
	empty := tensor.Zeros(tensor.Float32, []int{0, 3})
	mvCheck(t, "allowzero", "Reshape", 14, mvAttrs{"allowzero": 1}, tensor.Zeros(tensor.Float32, []int{3, 0}), empty, mvI64([]int{2}, 3, 0))

	y := mvIota(1, 3, 1, 2)
	mvCheck(t, "squeeze all ones", "Squeeze", 13, nil, tensor.New([]int{3, 2}, y.F32()), y)
	mvCheck(t, "squeeze input axes", "Squeeze", 13, nil, tensor.New([]int{1, 3, 2}, y.F32()), y, mvI64([]int{1}, -2))
	mvCheck(t, "squeeze attr axes", "Squeeze", 11, mvAttrs{"axes": []int64{0}}, tensor.New([]int{3, 1, 2}, y.F32()), y)

	scalar := tensor.Scalar(int64(7))
	mvCheck(t, "unsqueeze scalar", "Unsqueeze", 13, nil, mvI64([]int{1}, 7), scalar, mvI64([]int{1}, 0))

	for _, bad := range []struct {
		name   string
		op     string
		inputs []*tensor.Tensor
	}{
		{"two -1", "Reshape", []*tensor.Tensor{x, mvI64([]int{2}, -1, -1)}},
		{"wrong count", "Reshape", []*tensor.Tensor{x, mvI64([]int{2}, 5, 5)}},
		{"squeeze non-one", "Squeeze", []*tensor.Tensor{y, mvI64([]int{1}, 1)}},
		{"unsqueeze repeated", "Unsqueeze", []*tensor.Tensor{x, mvI64([]int{2}, 1, 1)}},
	} {
		if _, err := mvRun(bad.op, 13, nil, 1, bad.inputs...); err == nil {
			t.Errorf("%s: want an error", bad.name)
		}
	}
}

func TestReshapeIsAView(t *testing.T) {
	t.Parallel()
	// Reshape moves no element: its output shares the input's buffer (the runtime tracks views
	// by address range and copies graph outputs that would alias inputs or constants).
	x := mvIota(2, 2)
	outs, err := mvRun("Reshape", 14, nil, 1, x, mvI64([]int{1}, 4))
	if err != nil {
		t.Fatal(err)
	}
	x.F32()[1] = 42
	if got := outs[0].F32()[1]; got != 42 || !slices.Equal(outs[0].Shape, []int{4}) {
		t.Errorf("Reshape output %v %v is not a view of its input", outs[0].Shape, outs[0].F32())
	}
}
