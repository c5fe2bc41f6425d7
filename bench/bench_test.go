package bench

import (
	"errors"
	"math"
	"testing"
)

// TestSummarizePercentiles checks the percentiles against values worked out by hand (linear
// interpolation between order statistics, as numpy's default).
func TestSummarizePercentiles(t *testing.T) {
	t.Parallel()
	ms := []float64{9, 1, 5, 3, 7, 2, 8, 4, 6, 10} // sorted: 1..10
	r := Summarize(ms)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", r.P50ms, 5.5}, {"p90", r.P90ms, 9.1}, {"p99", r.P99ms, 9.91}, {"mean", r.MeanMs, 5.5}} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if r.Iters != 10 || ms[0] != 9 {
		t.Errorf("iters %d, input reordered: %v", r.Iters, ms)
	}
	if got := Percentile([]float64{4}, 0.9); got != 4 {
		t.Errorf("one value: p90 = %v, want 4", got)
	}
}

// TestMeasureCountsRuns: warmup runs are not timed, every timed run is, and an error stops it.
func TestMeasureCountsRuns(t *testing.T) {
	t.Parallel()
	calls := 0
	r, err := Measure(func() error { calls++; return nil }, 3, 7)
	if err != nil || r.Iters != 7 || calls != 10 {
		t.Fatalf("iters %d, calls %d, err %v; want 7 timed of 10 calls", r.Iters, calls, err)
	}
	if _, err := Measure(func() error { return errTest }, 0, 3); err != errTest {
		t.Fatalf("err = %v, want the run's error", err)
	}
}

var errTest = errors.New("run failed")
