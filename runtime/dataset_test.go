package runtime

import (
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

func TestValueFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		v    *tensor.Tensor
		kind valueType
	}{
		{"tensor", f32([]int{2}, 1, 2), valueType{kind: kindTensor, dtype: tensor.Float32}},
		{"sequence", ops.NewSequence([]*tensor.Tensor{f32([]int{1}, 3), f32([]int{2}, 4, 5)}), valueType{kind: kindSequence}},
		{"empty sequence", ops.NewSequence(nil), valueType{kind: kindSequence}},
		{"nested sequence", ops.NewSequence([]*tensor.Tensor{ops.NewSequence([]*tensor.Tensor{tensor.Scalar(int64(7))})}), valueType{kind: kindSequence}},
		{"empty optional", ops.EmptyOptional(), valueType{kind: kindOptional}},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".pb")
		if err := WriteValueFile(path, c.v, c.name); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		back, err := readValueFile(path, c.kind)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if msg := compareValues(back, c.v, 0, 0); msg != "" {
			t.Errorf("%s: read back %s", c.name, msg)
		}
	}
}
