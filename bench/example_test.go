package bench_test

import (
	"fmt"
	"time"

	"github.com/actswap/actswap/bench"
)

// ComparePaired times two workloads in alternating rounds, as `actswap bench REWRITTEN
// --against ORIGINAL` does, so that the machine's noise hits both alike; the ratio is the
// median over the rounds of run's p50 divided by against's.
func ExampleComparePaired() {
	short := func() error { time.Sleep(1 * time.Millisecond); return nil }
	long := func() error { time.Sleep(4 * time.Millisecond); return nil }
	p, err := bench.ComparePaired(short, long, 3, 1, 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Rounds, "rounds of", p.ItersPerSide, "runs a side; short is faster:", p.MedianRatio < 1)
	// Output: 3 rounds of 5 runs a side; short is faster: true
}

// Summarize turns per-iteration times in milliseconds into the percentiles a report prints.
func ExampleSummarize() {
	r := bench.Summarize([]float64{4, 1, 3, 2, 5, 10, 6, 8, 7, 9})
	fmt.Printf("p50 %.1f ms, mean %.1f ms, %d iterations\n", r.P50ms, r.MeanMs, r.Iters)
	// Output: p50 5.5 ms, mean 5.5 ms, 10 iterations
}
