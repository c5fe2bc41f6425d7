package ops

import (
	"fmt"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// transposeReference permutes with per-element index arithmetic, independent of the kernel's
// merged-axis and tiled paths.
func transposeReference(shape, perm []int, src []float32) ([]int, []float32) {
	outShape := make([]int, len(perm))
	for i, a := range perm {
		outShape[i] = shape[a]
	}
	inStrides := tensor.Strides(shape)
	out := make([]float32, len(src))
	coord := make([]int, len(perm))
	for p := range out {
		off := 0
		for i, a := range perm {
			off += coord[i] * inStrides[a]
		}
		out[p] = src[off]
		for i := len(coord) - 1; i >= 0; i-- {
			coord[i]++
			if coord[i] < outShape[i] {
				break
			}
			coord[i] = 0
		}
	}
	return outShape, out
}

func TestTransposeMatchesReference(t *testing.T) {
	t.Parallel()
	cases := []struct {
		shape []int
		perm  []int64
	}{
		{[]int{3, 4}, []int64{1, 0}},
		{[]int{70, 45}, []int64{1, 0}},             // tiled, ragged tiles
		{[]int{3, 40, 33}, []int64{0, 2, 1}},       // batched tiles
		{[]int{2, 8, 5, 16}, []int64{0, 2, 1, 3}},  // attention head split
		{[]int{1, 3, 17, 19}, []int64{0, 2, 3, 1}}, // NCHW → NHWC
		{[]int{1, 17, 19, 3}, []int64{0, 3, 1, 2}}, // NHWC → NCHW
		{[]int{2, 3, 4, 5}, []int64{3, 1, 0, 2}},   // general
		{[]int{2, 1, 3, 1}, []int64{3, 2, 1, 0}},   // size-1 axes
		{[]int{4, 2, 3}, []int64{-1, 0, 1}},        // negative perm entry
		{[]int{2, 0, 3}, []int64{2, 1, 0}},         // empty
		{[]int{5}, []int64{0}},
	}
	for _, c := range cases {
		x := mvIota(c.shape...)
		perm := make([]int, len(c.perm))
		for i, p := range c.perm {
			perm[i] = (int(p) + len(c.shape)) % len(c.shape)
		}
		shape, want := transposeReference(c.shape, perm, x.F32())
		mvCheck(t, fmt.Sprintf("%v perm %v", c.shape, c.perm), "Transpose", 13, mvAttrs{"perm": c.perm}, tensor.New(shape, want), x)
	}
	// Default perm reverses the axes; other element types take the same paths.
	x := mvIota(2, 3, 4)
	shape, want := transposeReference([]int{2, 3, 4}, []int{2, 1, 0}, x.F32())
	mvCheck(t, "default perm", "Transpose", 13, nil, tensor.New(shape, want), x)

	ints := mvI64([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	mvCheck(t, "int64", "Transpose", 13, nil, mvI64([]int{3, 2}, 1, 4, 2, 5, 3, 6), ints)
	strs := tensor.New([]int{2, 2}, []string{"a", "b", "c", "d"})
	mvCheck(t, "string", "Transpose", 13, nil, tensor.New([]int{2, 2}, []string{"a", "c", "b", "d"}), strs)

	if _, err := mvRun("Transpose", 13, mvAttrs{"perm": []int64{0, 0}}, 1, mvIota(2, 2)); err == nil {
		t.Errorf("repeated perm entry: want an error")
	}
}

func BenchmarkTransposeNCHWtoNHWC(b *testing.B) {
	x := mvIota(1, 64, 56, 56)
	k, err := newTranspose(mvNode("Transpose", 13, mvAttrs{"perm": []int64{0, 2, 3, 1}}, []*tensor.Tensor{x}, 1))
	if err != nil {
		b.Fatal(err)
	}
	ctx := NewContext(0)
	b.SetBytes(int64(4 * x.Len()))
	for b.Loop() {
		if _, err := k.Run(ctx, []*tensor.Tensor{x}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParallelMovesMatchSerial runs the kernels that split work across goroutines from several
// goroutines at once (one kernel, shared) and checks each result against a one-thread run.
func TestParallelMovesMatchSerial(t *testing.T) {
	t.Parallel()
	cases := []struct {
		op     string
		attrs  mvAttrs
		inputs []*tensor.Tensor
	}{
		{"Transpose", mvAttrs{"perm": []int64{0, 2, 1}}, []*tensor.Tensor{mvIota(3, 1000, 64)}},
		{"Resize", mvAttrs{"mode": "linear"}, []*tensor.Tensor{mvIota(2, 8, 100, 100), nil, mvF32([]int{4}, 1, 1, 2, 1.5)}},
		{"Resize", mvAttrs{"mode": "cubic"}, []*tensor.Tensor{mvIota(2, 8, 30, 30), nil, mvF32([]int{4}, 1, 1, 0.5, 0.7)}},
	}
	for _, c := range cases {
		f, _ := Lookup(DefaultDomain, c.op, 19)
		k, err := f(mvNode(c.op, 19, c.attrs, c.inputs, 1))
		if err != nil {
			t.Fatal(err)
		}
		want, err := k.Run(NewContext(1), c.inputs)
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				got, err := k.Run(NewContext(4), c.inputs)
				if err == nil && fmt.Sprint(got[0].Data) != fmt.Sprint(want[0].Data) {
					err = fmt.Errorf("%s: parallel result differs", c.op)
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	}
}
