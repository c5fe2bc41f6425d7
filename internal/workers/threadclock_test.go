package workers

import (
	"runtime"
	"testing"
	"time"
)

// TestThreadCPU checks the thread clock the convolution tuner times its candidates with: it
// advances by about the time the thread computes and not while it sleeps (wall time would).
func TestThreadCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := ThreadCPU()
	if !ok {
		t.Skip("no thread CPU clock on this platform")
	}
	time.Sleep(30 * time.Millisecond)
	slept, _ := ThreadCPU()
	if d := slept - start; d > 10*time.Millisecond {
		t.Errorf("the thread clock advanced %v while the thread slept 30 ms", d)
	}
	x := 1.0
	for deadline := time.Now().Add(30 * time.Millisecond); time.Now().Before(deadline); {
		for range 1000 {
			x = x*1.0000001 + 1e-9
		}
	}
	busy, _ := ThreadCPU()
	// A loaded machine may take the CPU away for part of the 30 ms of wall time; a clock
	// that did not advance at all, or read another thread, would give about zero.
	if d := busy - slept; d < 3*time.Millisecond {
		t.Errorf("the thread clock advanced %v while the thread computed for 30 ms (x = %g)", d, x)
	}
}
