package runtime

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

// TestBufferPoolPrefersWarmBuffers checks the pool's choice: among free buffers that fit, the one
// released last, even when an older one matches the length exactly; a longer buffer is handed
// out as a prefix of the requested length, zeroed on request, and goes back whole.
func TestBufferPoolPrefersWarmBuffers(t *testing.T) {
	p := &bufferPool{free: map[tensor.DType][]*pooledTensor{}}
	exact, long, huge := newPooled(tensor.Float32, 100), newPooled(tensor.Float32, 150), newPooled(tensor.Float32, 1000)
	for i := range long.full.([]float32) {
		long.full.([]float32)[i] = 7
	}
	p.put(exact)
	p.put(long) // released after exact: the warmer one
	p.put(huge) // the warmest, but more than 4× too big
	got := p.get(tensor.Float32, 100, true)
	if got != long {
		t.Fatalf("took the buffer of %d, want the warm one of 150", got.capN)
	}
	d := got.t.Data.([]float32)
	if len(d) != 100 || cap(d) != 150 {
		t.Fatalf("handed out len %d cap %d, want a prefix of 100 of the 150", len(d), cap(d))
	}
	for i, v := range d {
		if v != 0 {
			t.Fatalf("element %d = %g, want zeroed", i, v)
		}
	}
	if again := got.lengthOf(100); &again.([]float32)[0] != &d[0] {
		t.Fatal("the boxed prefix was not kept for the next time")
	}
	p.put(got)
	if back := p.get(tensor.Float32, 150, false); back != long || len(back.t.Data.([]float32)) != 150 {
		t.Fatal("the buffer did not go back whole")
	}
	if p.get(tensor.Float32, 100, false) != exact || p.get(tensor.Float32, 100, false) != nil {
		t.Fatal("the exact buffer should be left, then nothing that fits")
	}
}
