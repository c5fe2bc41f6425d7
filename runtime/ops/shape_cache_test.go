package ops

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// TestShapeCacheConcurrentRuns runs one Conv and one MaxPool kernel from several goroutines on
// inputs of alternating shapes: the per-kernel geometry cache must give every call the result
// of a fresh kernel (run with -race to check the cache is shared safely).
func TestShapeCacheConcurrentRuns(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	w := randTensor(r, 4, 3, 3, 3)
	convAttrs := map[string]any{"pads": []int{1, 1, 1, 1}}
	poolAttrs := map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}}
	newKernels := func() (Kernel, Kernel) {
		conv, err := newConv(convTestNode("Conv", convAttrs, 2, nil, w))
		if err != nil {
			t.Fatal(err)
		}
		pool, err := poolFactory(poolMax, false)(convTestNode("MaxPool", poolAttrs, 1))
		if err != nil {
			t.Fatal(err)
		}
		return conv, pool
	}
	inputs := []*tensor.Tensor{randTensor(r, 1, 3, 8, 8), randTensor(r, 2, 3, 11, 13), randTensor(r, 1, 3, 5, 9)}
	ctx := NewContext(1)
	type result struct{ conv, pool []float32 }
	want := make([]result, len(inputs))
	for i, x := range inputs {
		conv, pool := newKernels() // fresh kernels: nothing cached
		c, err := conv.Run(ctx, []*tensor.Tensor{x, w})
		if err != nil {
			t.Fatal(err)
		}
		p, err := pool.Run(ctx, []*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = result{c[0].F32(), p[0].F32()}
	}
	conv, pool := newKernels()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < 30; it++ {
				i := (g + it) % len(inputs)
				c, err := conv.Run(ctx, []*tensor.Tensor{inputs[i], w})
				if err != nil || !slices.Equal(c[0].F32(), want[i].conv) {
					errs <- "conv differs from a fresh kernel's result"
					return
				}
				p, err := pool.Run(ctx, []*tensor.Tensor{inputs[i]})
				if err != nil || !slices.Equal(p[0].F32(), want[i].pool) {
					errs <- "max pool differs from a fresh kernel's result"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
