package runtime

import (
	"testing"

	"github.com/actswap/actswap/tensor"
)

// TestBufferPoolPrefersWarmBuffers checks the pool's choice: among free buffers that fit, the one
// released last, even when an older one matches the length exactly; a longer buffer is handed
// out as a prefix of the requested length, zeroed on request, and goes back whole.
func TestBufferPoolPrefersWarmBuffers(t *testing.T) {
	const n = flexiblePoolFloats // large enough to take a longer buffer
	p := &bufferPool{free: map[tensor.DType][]*pooledTensor{}}
	exact, long, huge := newPooled(tensor.Float32, n), newPooled(tensor.Float32, n*3/2), newPooled(tensor.Float32, 10*n)
	for i := range long.full.([]float32) {
		long.full.([]float32)[i] = 7
	}
	p.put(exact)
	p.put(long) // released after exact: the warmer one
	p.put(huge) // the warmest, but more than 4× too big
	got := p.get(tensor.Float32, n, true)
	if got != long {
		t.Fatalf("took the buffer of %d, want the warm one of %d", got.capN, n*3/2)
	}
	d := got.t.Data.([]float32)
	if len(d) != n || cap(d) != n*3/2 {
		t.Fatalf("handed out len %d cap %d, want a prefix of %d of the %d", len(d), cap(d), n, n*3/2)
	}
	for i, v := range d {
		if v != 0 {
			t.Fatalf("element %d = %g, want zeroed", i, v)
		}
	}
	if again := got.lengthOf(n); &again.([]float32)[0] != &d[0] {
		t.Fatal("the boxed prefix was not kept for the next time")
	}
	p.put(got)
	if back := p.get(tensor.Float32, n*3/2, false); back != long || len(back.t.Data.([]float32)) != n*3/2 {
		t.Fatal("the buffer did not go back whole")
	}
	if p.get(tensor.Float32, n, false) != exact || p.get(tensor.Float32, n, false) != nil {
		t.Fatal("the exact buffer should be left, then nothing that fits")
	}
	// Small tensors take only buffers of their own length.
	p.put(newPooled(tensor.Float32, 200))
	if p.get(tensor.Float32, 100, false) != nil {
		t.Fatal("a small tensor took a longer buffer")
	}
}
