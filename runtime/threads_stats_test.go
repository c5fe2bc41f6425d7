//go:build workerstats

package runtime

import (
	"testing"
	"time"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/internal/workers"
)

// TestThreadsWorkSplit prints how the parallel loops of a 2-thread run of resnet18, vit_tiny and
// digits_cnn (its stored batch of 16 takes ~0.1 ms, so it runs 100 times as often) divide their
// work, in thread CPU time, which does not depend on the machine's load: for the loops both threads worked on, the chunk time of both and of the busier one (their difference
// is the imbalance), and how helpers were reached. Run it with
//
//	go test -tags workerstats -run ThreadsWorkSplit -v ./runtime
func TestThreadsWorkSplit(t *testing.T) {
	for _, name := range []string{"resnet18", "vit_tiny", "digits_cnn"} {
		runs := 20
		if name == "digits_cnn" {
			runs = 2000
		}
		dir := testutil.SharedPath(t, "models", name)
		t.Run(name, func(t *testing.T) {
			s, inputs := sessionOnDataSet(t, dir, 2, false)
			for range 3 {
				if _, err := s.Run(inputs); err != nil {
					t.Fatal(err)
				}
			}
			s0, w0 := workers.ReadStats(), time.Now()
			for range runs {
				if _, err := s.Run(inputs); err != nil {
					t.Fatal(err)
				}
			}
			s1, wall := workers.ReadStats(), time.Since(w0)
			perRun := func(n int64) float64 { return float64(n) / float64(runs) }
			ms := func(d time.Duration) float64 { return float64(d) / 1e6 / float64(runs) }
			shared, critical := s1.SharedCPU-s0.SharedCPU, s1.CriticalCPU-s0.CriticalCPU
			t.Logf("per run: %.0f parallel loops: %.0f shared by both threads, %.0f joined late (the caller had taken every chunk), %.0f found no idle worker; helpers %.0f polling, %.0f woken from parking",
				perRun(s1.Loops-s0.Loops), perRun(s1.Shared-s0.Shared), perRun(s1.Late-s0.Late), perRun(s1.Alone-s0.Alone),
				perRun(s1.Polled-s0.Polled), perRun(s1.Woken-s0.Woken))
			t.Logf("shared loops (%.0f left out: a goroutine changed threads): %.2f ms of thread CPU in chunks, busier thread %.2f ms: imbalance %.2f ms (%.1f%% over an even split); wall %.1f ms per run (load-dependent)",
				perRun(s1.Migrated-s0.Migrated), ms(shared), ms(critical), ms(critical-shared/2), 100*(float64(critical)/(float64(shared)/2)-1), ms(wall))
		})
	}
}
