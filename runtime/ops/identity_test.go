package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestIdentityDropout(t *testing.T) {
	x := mvF32([]int{2}, 1, 2)
	mvCheck(t, "identity", "Identity", 13, nil, x, x)
	outs, err := mvRun("Dropout", 13, nil, 2, x, mvF32([]int{}, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	mvSame(t, "dropout output", outs[0], x)
	mvSame(t, "dropout mask", outs[1], tensor.New([]int{2}, []bool{true, true}))
	outs, err = mvRun("Dropout", 7, mvAttrs{"ratio": float32(0.2)}, 2, x)
	if err != nil {
		t.Fatal(err)
	}
	mvSame(t, "dropout-7 mask has the input type", outs[1], mvF32([]int{2}, 1, 1))
	if _, err := mvRun("Dropout", 13, nil, 1, x, mvF32([]int{}, 0.5), tensor.Scalar(true)); err == nil {
		t.Errorf("training with ratio 0.5: want an error")
	}
	if _, err := mvRun("Dropout", 13, nil, 1, x, mvF32([]int{}, 0), tensor.Scalar(true)); err != nil {
		t.Errorf("training with ratio 0 is the identity: %v", err)
	}
}
