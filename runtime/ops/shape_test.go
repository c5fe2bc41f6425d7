package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestShapeAndSize(t *testing.T) {
	t.Parallel()
	x := mvIota(2, 3, 4, 5)
	cases := []struct {
		name  string
		attrs mvAttrs
		want  []int64
	}{
		{"all", nil, []int64{2, 3, 4, 5}},
		{"start 1", mvAttrs{"start": 1}, []int64{3, 4, 5}},
		{"end -1", mvAttrs{"end": -1}, []int64{2, 3, 4}},
		{"start -3 end 3", mvAttrs{"start": -3, "end": 3}, []int64{3, 4}},
		{"clamped", mvAttrs{"start": -10, "end": 10}, []int64{2, 3, 4, 5}},
		{"empty", mvAttrs{"start": 3, "end": 1}, []int64{}},
	}
	for _, c := range cases {
		mvCheck(t, c.name, "Shape", 15, c.attrs, mvI64([]int{len(c.want)}, c.want...), x)
	}
	mvCheck(t, "size", "Size", 13, nil, tensor.Scalar(int64(120)), x)
}
