package bench

import (
	"testing"
	"time"
)

// TestAlternateSettles: each side's round starts at least settle after the other's ended, so
// that onnxruntime's spinning threads are idle before actswap's round (and the reverse).
func TestAlternateSettles(t *testing.T) {
	var spans [][2]time.Time
	side := func() (float64, error) {
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		spans = append(spans, [2]time.Time{t0, time.Now()})
		return 1, nil
	}
	if _, _, _, err := alternate(2, side, side); err != nil {
		t.Fatal(err)
	}
	if len(spans) != 4 {
		t.Fatalf("%d rounds ran, want 4", len(spans))
	}
	for i := 1; i < len(spans); i++ {
		if gap := spans[i][0].Sub(spans[i-1][1]); gap < settle {
			t.Errorf("round %d started %v after the one before ended, want ≥ %v", i, gap, settle)
		}
	}
}
