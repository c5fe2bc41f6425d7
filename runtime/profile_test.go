package runtime

import (
	"context"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// TestProfileCountsEveryNode checks that a profiled run records each node once per run under
// its operator, and that runs without the profile context record nothing.
func TestProfileCountsEveryNode(t *testing.T) {
	b := graphtest.New("profiled", 17)
	x := b.Input("x", tensor.Float32, 2, 3)
	y := b.Op("Relu", []string{b.Op("Neg", []string{x})})
	b.Output(b.Op("Exp", []string{y}), tensor.Float32, 2, 3)
	s, err := NewSession(b.Model(), WithoutOptimizations())
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*tensor.Tensor{"x": tensor.New([]int{2, 3}, []float32{1, -2, 3, -4, 5, -6})}
	var p Profile
	ctx := WithProfile(context.Background(), &p)
	for i := 0; i < 3; i++ {
		if _, err := s.RunContext(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Run(in); err != nil {
		t.Fatal(err)
	}
	ops := p.ByOpType()
	if len(ops) != 3 || len(p.Nodes()) != 3 {
		t.Fatalf("profile has %d operators and %d nodes, want 3 and 3: %+v", len(ops), len(p.Nodes()), ops)
	}
	for _, op := range ops {
		if op.Calls != 3 {
			t.Errorf("%s: %d calls, want 3", op.OpType, op.Calls)
		}
	}
	if p.Total() <= 0 {
		t.Errorf("total %v", p.Total())
	}
}
