package ops

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestIdentityDropout(t *testing.T) {
	t.Parallel()
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

// TestContextResult checks that Result reuses the context's slice only when the executor allows
// it, so kernels run directly (tests, composite kernels on a plain context) own their results.
func TestContextResult(t *testing.T) {
	t.Parallel()
	x, y := tensor.Scalar(float32(1)), tensor.Scalar(float32(2))
	plain := NewContext(1)
	a, b := plain.Result(x), plain.Result(y)
	if a[0] != x || b[0] != y {
		t.Fatal("a plain context's results share storage")
	}
	reuse := &Context{Threads: 1, ReuseResults: true}
	c := reuse.Result(x)
	if d := reuse.Result(y); &c[0] != &d[0] || d[0] != y {
		t.Fatal("a reusing context allocated a new result slice")
	}
	var none *Context
	if r := none.Result(x); len(r) != 1 || r[0] != x {
		t.Fatal("a nil context's result is wrong")
	}
}
