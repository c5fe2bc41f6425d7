package workers

import (
	"fmt"
	"sync"
	"testing"
)

// spawnRun is the goroutine-per-chunk loop the pool replaced, kept as the benchmarks' baseline.
func spawnRun(n, chunks int, fn func(lo, hi int)) {
	var wg sync.WaitGroup
	for i := range chunks {
		wg.Go(func() { fn(n*i/chunks, n*(i+1)/chunks) })
	}
	wg.Wait()
}

// BenchmarkLoop times a two-chunk loop whose chunks take a few to a few hundred microseconds
// (a kernel's share of one node), with the pool and with a goroutine per chunk.
func BenchmarkLoop(b *testing.B) {
	sink := make([]float64, 2)
	for _, work := range []int{2000, 20000, 200000} {
		body := func(lo, hi int) {
			for c := lo; c < hi; c++ {
				x := 0.0
				for i := range work {
					x += float64(i) * 1e-9
				}
				sink[c] = x
			}
		}
		b.Run(fmt.Sprintf("pool_%d", work), func(b *testing.B) {
			for b.Loop() {
				Run(2, 2, body)
			}
		})
		b.Run(fmt.Sprintf("spawn_%d", work), func(b *testing.B) {
			for b.Loop() {
				spawnRun(2, 2, body)
			}
		})
	}
}
