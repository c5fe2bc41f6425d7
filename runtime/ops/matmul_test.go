package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// refMatMul is numpy.matmul in float64 by explicit index arithmetic over the broadcast batch.
func refMatMul(a, b *tensor.Tensor) ([]int, []float64) {
	as, bs := append([]int(nil), a.Shape...), append([]int(nil), b.Shape...)
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	rank := max(len(as), len(bs)) - 2
	pad := func(s []int) []int {
		out := make([]int, rank)
		for i := range out {
			out[i] = 1
		}
		copy(out[rank-(len(s)-2):], s[:len(s)-2])
		return out
	}
	ab, bb := pad(as), pad(bs)
	batch := make([]int, rank)
	for i := range batch {
		batch[i] = max(ab[i], bb[i])
	}
	var out []float64
	idx := make([]int, rank)
	for bi := 0; bi < tensor.NumElements(batch); bi++ {
		ao, bo := 0, 0
		for d := 0; d < rank; d++ {
			ao = ao*ab[d] + idx[d]%ab[d]
			bo = bo*bb[d] + idx[d]%bb[d]
		}
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for q := 0; q < k; q++ {
					s += float64(a.F32()[ao*m*k+i*k+q]) * float64(b.F32()[bo*k*n+q*n+j])
				}
				out = append(out, s)
			}
		}
		odometer(idx, batch)
	}
	shape := append([]int(nil), batch...)
	if len(a.Shape) > 1 {
		shape = append(shape, m)
	}
	if len(b.Shape) > 1 {
		shape = append(shape, n)
	}
	return shape, out
}

func TestMatMulAgainstReference(t *testing.T) {
	t.Parallel()
	cases := []struct{ a, b []int }{
		{[]int{3, 4}, []int{4, 5}},
		{[]int{7}, []int{7}},
		{[]int{7}, []int{2, 7, 3}},
		{[]int{2, 3, 7}, []int{7}},
		{[]int{2, 3, 4, 5}, []int{5, 6}},    // shared B folds the batch into rows
		{[]int{2, 1, 4, 5}, []int{3, 5, 6}}, // batch broadcast on both sides
		{[]int{5, 6}, []int{4, 6, 2}},       // A broadcast over B's batch
		{[]int{3, 1, 40, 33}, []int{1, 2, 33, 17}},
		{[]int{197, 192}, []int{192, 576}},
		{[]int{2, 3, 23, 37}, []int{2, 3, 37, 64}}, // per-head values: the 64-wide gather panel
		{[]int{2, 4, 17, 17}, []int{2, 4, 17, 16}}, // digits_vit's per-head values: a 16-wide panel
		// 3 and 5 heads on 2 threads: the heads cut into 12-row tiles (29 = 12 + 12 + 5 rows),
		// the threads taking runs of (head, tile) items that start and end inside heads.
		{[]int{1, 3, 29, 31}, []int{1, 3, 31, 64}},
		{[]int{5, 29, 31}, []int{5, 31, 20}},
		{[]int{3, 25, 16}, []int{3, 16, 20}},
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range cases {
		a, b := randTensor(r, tc.a...), randTensor(r, tc.b...)
		wantShape, want := refMatMul(a, b)
		for _, constB := range []bool{false, true} {
			var consts []*tensor.Tensor
			if constB {
				consts = []*tensor.Tensor{nil, b}
			}
			k, err := newMatMul(convTestNode("MatMul", nil, 2, consts...))
			if err != nil {
				t.Fatal(err)
			}
			outs, err := k.Run(NewContext(2), []*tensor.Tensor{a, b})
			if err != nil {
				t.Fatalf("%v × %v: %v", tc.a, tc.b, err)
			}
			y := outs[0]
			if !tensor.SameShape(y.Shape, wantShape) {
				t.Fatalf("%v × %v: shape %v, want %v", tc.a, tc.b, y.Shape, wantShape)
			}
			for i, v := range y.F32() {
				if math.Abs(float64(v)-want[i]) > 1e-4*(1+math.Abs(want[i])) {
					t.Fatalf("%v × %v (const B %v): y[%d] = %g, want %g", tc.a, tc.b, constB, i, v, want[i])
				}
			}
		}
	}
}

func TestMatMulFloat64AndIntegers(t *testing.T) {
	t.Parallel()
	k, err := newMatMul(convTestNode("MatMul", nil, 2))
	if err != nil {
		t.Fatal(err)
	}
	a := tensor.New([]int{2, 2}, []float64{1, 2, 3, 4})
	b := tensor.New([]int{2, 1}, []float64{5, 6})
	outs, err := k.Run(NewContext(1), []*tensor.Tensor{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if got := outs[0].Data.([]float64); got[0] != 17 || got[1] != 39 || outs[0].DType != tensor.Float64 {
		t.Errorf("float64: got %v (%v)", got, outs[0].DType)
	}
	ai := tensor.New([]int{2, 2}, []int64{1, 2, 3, 4})
	bi := tensor.New([]int{2}, []int64{5, 6})
	outs, err = k.Run(NewContext(1), []*tensor.Tensor{ai, bi})
	if err != nil {
		t.Fatal(err)
	}
	if got := outs[0].I64(); len(got) != 2 || got[0] != 17 || got[1] != 39 {
		t.Errorf("int64: got %v", got)
	}
	if _, err := k.Run(NewContext(1), []*tensor.Tensor{randTensor(rand.New(rand.NewPCG(1, 1)), 2, 3), randTensor(rand.New(rand.NewPCG(1, 1)), 4, 2)}); err == nil {
		t.Error("mismatched inner dimensions: no error")
	}
}

func TestGemmBiasShapes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	const m, n, k = 5, 7, 3
	a, b := randTensor(r, k, m), randTensor(r, n, k) // stored transposed
	for _, cShape := range [][]int{nil, {}, {1}, {n}, {1, n}, {m, 1}, {m, n}} {
		inputs := []*tensor.Tensor{a, b}
		var c *tensor.Tensor
		if cShape != nil {
			c = randTensor(r, cShape...)
			inputs = append(inputs, c)
		}
		// Constant B is packed at creation; a constant row C becomes a prepared epilogue, which a
		// fused activation joins; each kernel runs twice to catch state left by the first run.
		for variant := range 8 {
			constB, constC, relu := variant&1 != 0, variant&2 != 0, variant&4 != 0
			consts := make([]*tensor.Tensor, len(inputs))
			if constB {
				consts[1] = b
			}
			if constC && c != nil {
				consts[2] = c
			}
			attrs := map[string]any{"transA": 1, "transB": 1, "alpha": float32(0.5), "beta": float32(2)}
			kern, err := newGemm(convTestNode("Gemm", attrs, len(inputs), consts...))
			if err != nil {
				t.Fatal(err)
			}
			if relu {
				kern.(*gemmKernel).FuseActivation(func(dst []float32) {
					for i, v := range dst {
						dst[i] = max(v, 0)
					}
				})
			}
			var outs []*tensor.Tensor
			for range 2 {
				if outs, err = kern.Run(NewContext(1), inputs); err != nil {
					t.Fatalf("C %v: %v", cShape, err)
				}
			}
			y := outs[0].F32()
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for q := 0; q < k; q++ {
						s += float64(a.F32()[q*m+i]) * float64(b.F32()[j*k+q])
					}
					want := 0.5 * s
					if c != nil {
						cv := c.F32()
						ci := 0
						switch {
						case len(cShape) == 2 && cShape[0] == m && cShape[1] == n:
							ci = i*n + j
						case len(cShape) == 2 && cShape[0] == m:
							ci = i
						case len(cShape) >= 1 && cShape[len(cShape)-1] == n:
							ci = j
						}
						want += 2 * float64(cv[ci])
					}
					if relu {
						want = max(want, 0)
					}
					if math.Abs(float64(y[i*n+j])-want) > 1e-5*(1+math.Abs(want)) {
						t.Fatalf("C %v (const B %v, const C %v, relu %v): y[%d,%d] = %g, want %g",
							cShape, constB, constC, relu, i, j, y[i*n+j], want)
					}
				}
			}
		}
	}
}
