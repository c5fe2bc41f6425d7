package ops

import (
	"slices"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestQuantizeRoundTrip(t *testing.T) {
	t.Parallel()
	x := tensor.New([]int{2, 3}, []float32{-3, 0.5, 1.5, 2.5, 300, -0.4})
	scale := tensor.New([]int{2}, []float32{1, 0.5})
	zp := tensor.New([]int{2}, []int8{0, -10})
	q, err := newQuantizeLinear(convTestNode("QuantizeLinear", map[string]any{"axis": 0}, 3))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := q.Run(NewContext(1), []*tensor.Tensor{x, scale, zp})
	if err != nil {
		t.Fatal(err)
	}
	// Row 0: round half to even; row 1: x/0.5 − 10, saturated to int8.
	want := []int8{-3, 0, 2, -5, 127, -11}
	if got := outs[0].Data.([]int8); !slices.Equal(got, want) {
		t.Fatalf("quantized %v, want %v", got, want)
	}
	dq, err := newDequantizeLinear(convTestNode("DequantizeLinear", map[string]any{"axis": 0}, 3))
	if err != nil {
		t.Fatal(err)
	}
	outs, err = dq.Run(NewContext(1), []*tensor.Tensor{outs[0], scale, zp})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := outs[0].F32(), []float32{-3, 0, 2, 2.5, 68.5, -0.5}; !slices.Equal(got, want) {
		t.Fatalf("dequantized %v, want %v", got, want)
	}
}

func TestMatMulIntegerZeroPoints(t *testing.T) {
	t.Parallel()
	a := tensor.New([]int{2, 2}, []uint8{10, 12, 14, 16})
	b := tensor.New([]int{2, 2}, []uint8{1, 2, 3, 4})
	azp := tensor.New([]int{2}, []uint8{10, 14}) // per row
	bzp := tensor.New([]int{2}, []uint8{1, 0})   // per column
	k, err := newMatMulInteger(convTestNode("MatMulInteger", nil, 4))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := k.Run(NewContext(1), []*tensor.Tensor{a, b, azp, bzp})
	if err != nil {
		t.Fatal(err)
	}
	// (A − azp) = [[0 2] [0 2]], (B − bzp) = [[0 2] [2 4]].
	if got, want := outs[0].Data.([]int32), []int32{4, 8, 4, 8}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
