package runtime

import (
	"runtime"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// TestRecycledResultsServeLaterRuns checks Session.Recycle: a run after the caller handed back
// the last run's result writes into that buffer instead of allocating a new one (which bert_tiny
// paid for as page faults in one Transpose, 0.35–0.57 ms a run), and its values stay those of the
// formula (a naive transpose of the input, negated); results sharing data (a value and its
// Reshape view) are not recycled, since one write would change both.
func TestRecycledResultsServeLaterRuns(t *testing.T) {
	const rows, cols = 96, 160 // a 60 KiB output: a fresh one costs far more than the run's small allocations
	b := graphtest.New("recycle", 17)
	x := b.Input("x", tensor.Float32, rows, cols)
	y := b.Op("Neg", []string{b.Op("Transpose", []string{x}, graphtest.A("perm", []int64{1, 0}))})
	b.Output(y, tensor.Float32, cols, rows)
	s, err := NewSession(b.Model(), WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	in := graphtest.RandF32(graphtest.Seeded(3), 1, rows, cols)
	inputs := map[string]*tensor.Tensor{"x": in}
	xs := in.F32()
	check := func(out map[string]*tensor.Tensor) {
		t.Helper()
		got := out[y].F32()
		for r := range rows {
			for c := range cols {
				if want := -xs[r*cols+c]; got[c*rows+r] != want {
					t.Fatalf("y[%d][%d] = %g, want %g", c, r, got[c*rows+r], want)
				}
			}
		}
	}
	runRecycling := func() {
		out, err := s.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		check(out)
		s.Recycle(out)
	}
	for range 3 {
		runRecycling()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 10
	for range runs {
		runRecycling()
	}
	runtime.ReadMemStats(&after)
	if perRun, output := (after.TotalAlloc-before.TotalAlloc)/runs, uint64(4*rows*cols); perRun >= output/4 {
		t.Errorf("%d bytes allocated per run with the results recycled, want well under the output's %d", perRun, output)
	}

	// A value and a view of it, both results: neither goes back to the pool.
	b = graphtest.New("recycle_views", 17)
	x = b.Input("x", tensor.Float32, rows, cols)
	y = b.Op("Neg", []string{x})
	flat := b.Op("Reshape", []string{y, b.I64(-1)})
	b.Output(y, tensor.Float32, rows, cols)
	b.Output(flat, tensor.Float32, rows*cols)
	s, err = NewSession(b.Model(), WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	free := len(s.buffers.free[tensor.Float32])
	s.Recycle(out)
	if n := len(s.buffers.free[tensor.Float32]); n != free {
		t.Errorf("recycling a value and its view put %d buffers in the pool, want none", n-free)
	}
}
