package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestGatherFamily(t *testing.T) {
	t.Parallel()
	x := mvIota(3, 4)
	cases := []struct {
		name   string
		op     string
		attrs  mvAttrs
		inputs []*tensor.Tensor
		want   *tensor.Tensor
	}{
		{"gather rows", "Gather", nil, []*tensor.Tensor{x, mvI64([]int{2}, 2, 0)}, mvF32([]int{2, 4}, 8, 9, 10, 11, 0, 1, 2, 3)},
		{"gather negative", "Gather", mvAttrs{"axis": 1}, []*tensor.Tensor{x, mvI64([]int{2, 1}, -1, 0)},
			mvF32([]int{3, 2, 1}, 3, 0, 7, 4, 11, 8)},
		{"gather scalar index", "Gather", nil, []*tensor.Tensor{mvI64([]int{4}, 1, 3, 224, 224), tensor.Scalar(int64(2))}, tensor.Scalar(int64(224))},
		{"gather int32", "Gather", mvAttrs{"axis": -1}, []*tensor.Tensor{x, tensor.New([]int{}, []int32{1})}, mvF32([]int{3}, 1, 5, 9)},
		{"elements axis 1", "GatherElements", mvAttrs{"axis": 1}, []*tensor.Tensor{x, mvI64([]int{3, 2}, 0, 3, -1, 1, 2, 2)},
			mvF32([]int{3, 2}, 0, 3, 7, 5, 10, 10)},
		{"elements axis 0 smaller", "GatherElements", nil, []*tensor.Tensor{x, mvI64([]int{1, 2}, 2, 1)}, mvF32([]int{1, 2}, 8, 5)},
		{"nd pairs", "GatherND", nil, []*tensor.Tensor{x, mvI64([]int{2, 2}, 0, 1, 2, 3)}, mvF32([]int{2}, 1, 11)},
		{"nd rows", "GatherND", nil, []*tensor.Tensor{x, mvI64([]int{2, 1}, 1, -1)}, mvF32([]int{2, 4}, 4, 5, 6, 7, 8, 9, 10, 11)},
		{"nd batch_dims", "GatherND", mvAttrs{"batch_dims": 1}, []*tensor.Tensor{x, mvI64([]int{3, 1}, 3, 0, 1)}, mvF32([]int{3}, 3, 4, 9)},
	}
	for _, c := range cases {
		mvCheck(t, c.name, c.op, 13, c.attrs, c.want, c.inputs...)
	}
	for _, bad := range []struct {
		name, op string
		inputs   []*tensor.Tensor
	}{
		{"gather out of range", "Gather", []*tensor.Tensor{x, mvI64([]int{1}, 3)}},
		{"elements out of range", "GatherElements", []*tensor.Tensor{x, mvI64([]int{1, 1}, -4)}},
		{"nd too long", "GatherND", []*tensor.Tensor{x, mvI64([]int{1, 3}, 0, 0, 0)}},
		{"float indices", "Gather", []*tensor.Tensor{x, mvF32([]int{1}, 0)}},
	} {
		if _, err := mvRun(bad.op, 13, nil, 1, bad.inputs...); err == nil {
			t.Errorf("%s: want an error", bad.name)
		}
	}
}
