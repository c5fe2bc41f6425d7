package runtime

import (
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// EstimateMemory extrapolates from runs on 1 and 2 rows: for y = Relu(Relu(x)) on 16 floats a
// row, a run on n rows holds the input and at most two 64-byte-a-row values at once.
func TestEstimateMemory(t *testing.T) {
	b := graphtest.New("relu2", 17)
	x := b.Input("x", tensor.Float32, "batch", 16)
	b.Output(b.Op("Relu", []string{b.Op("Relu", []string{x})}), tensor.Float32, "batch", 16)
	s, err := NewSession(b.Model())
	if err != nil {
		t.Fatal(err)
	}
	probes := 0
	probe := func(n int) (map[string]*tensor.Tensor, error) {
		probes++
		return map[string]*tensor.Tensor{"x": tensor.Zeros(tensor.Float32, []int{n, 16})}, nil
	}
	const rows = 100_000_000
	got, err := s.EstimateMemory(rows, probe)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := int64(rows)*64*2, int64(rows)*64*3
	if got < lo || got > hi {
		t.Errorf("estimate for %d rows: %d bytes, want between %d and %d", rows, got, lo, hi)
	}
	if probes != 2 {
		t.Errorf("%d probe runs, want 2", probes)
	}
	if _, err := s.EstimateMemory(0, probe); err == nil {
		t.Error("an estimate for 0 rows should fail")
	}
}
