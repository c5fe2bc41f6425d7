package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// regionRecorder is a GatherEpilogue that snapshots each region of C when it is handed over
// and counts how often each element is.
type regionRecorder struct {
	mu       sync.Mutex
	c        []float32
	ldc      int
	seen     []int
	snapshot []float32
}

func (r *regionRecorder) Finish(r0, r1, c0, c1 int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := r0; i < r1; i++ {
		for j := c0; j < c1; j++ {
			r.seen[i*r.ldc+j]++
			r.snapshot[i*r.ldc+j] = r.c[i*r.ldc+j]
		}
	}
}

// TestSgemmGatherThen checks the epilogue of a parallel gather product, split by row tiles
// (with 6- and 7-row tiles and edge tiles) and by panels, in more chunks than threads: its
// regions are disjoint and cover C, each is complete when it is handed over (its snapshot is
// the final product), and the product is bit-identical on 1, 2 and 3 threads.
func TestSgemmGatherThen(t *testing.T) {
	t.Parallel()
	if !GatherFast() {
		t.Skip("no gather kernels on this machine")
	}
	for _, tc := range []struct{ m, n, k int }{
		{3136, 64, 576}, // resnet18's layer1: row tiles
		{49, 512, 4608}, // layer4: panels
		{197, 32, 300},  // the 7×32 tile
		{1000, 16, 700}, // the 16-wide tile
		{5, 64, 9},      // too little work to split
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.n)))
			data := randSlice(r, tc.m+tc.k)
			rows, cols := make([]int, tc.m), make([]int, tc.k)
			for i := range rows {
				rows[i] = i
			}
			for p := range cols {
				cols[p] = p
			}
			pb, err := PackBTransposed(tc.n, tc.k, randSlice(r, tc.n*tc.k), tc.k)
			if err != nil {
				t.Fatal(err)
			}
			var one []float32
			for threads := 1; threads <= 3; threads++ {
				c := make([]float32, tc.m*tc.n)
				rec := &regionRecorder{c: c, ldc: tc.n, seen: make([]int, len(c)), snapshot: make([]float32, len(c))}
				if err := SgemmGatherThen(GatherA{Data: data, Rows: rows, Cols: cols}, pb, c, tc.n, threads, rec); err != nil {
					t.Fatal(err)
				}
				for i, n := range rec.seen {
					if n != 1 {
						t.Fatalf("threads %d: C[%d,%d] handed to the epilogue %d times", threads, i/tc.n, i%tc.n, n)
					}
					if math.Float32bits(rec.snapshot[i]) != math.Float32bits(c[i]) {
						t.Fatalf("threads %d: C[%d,%d] was %g when handed over, %g at the end", threads, i/tc.n, i%tc.n, rec.snapshot[i], c[i])
					}
				}
				if threads == 1 {
					one = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(one[i]) {
						t.Fatalf("threads %d: C[%d,%d] = %g, 1 thread gave %g", threads, i/tc.n, i%tc.n, c[i], one[i])
					}
				}
			}
		})
	}
}

// TestGatherChunks checks how a parallel gather product is cut into chunks: a row-tile split of
// few rows (a 7×7 image's 49 pixels into 96 channels, 3 panels of 32: 7 row tiles) into one
// chunk per thread rather than one per tile, of at least minGatherChunkRows rows, never fewer
// chunks than threads, and products of more rows or split by panels as before.
func TestGatherChunks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                    string
		units, threads, work, m int
		splitPanels             bool
		weights                 int // bytes of packed weights
		want                    int
	}{
		{name: "7×7, 576 → 96, row tiles", units: 7, threads: 2, work: 49 * 96 * 576, m: 49, want: 2},
		{name: "7×7, 288 → 96, row tiles", units: 7, threads: 2, work: 49 * 96 * 288, m: 49, want: 2},
		{name: "7×7 on 4 threads: one chunk each", units: 7, threads: 4, work: 49 * 96 * 576, m: 49, want: 4},
		{name: "14×14, 576 → 96, row tiles", units: 28, threads: 2, work: 196 * 96 * 576, m: 196, want: 8},
		{name: "7×7, 96 → 576, panels", units: 9, threads: 2, work: 49 * 576 * 96, m: 49, splitPanels: true, weights: 4 * 576 * 96, want: 8},
		{name: "7×7, 512 → 512 3×3, panels streamed", units: 8, threads: 2, work: 49 * 512 * 4608, m: 49, splitPanels: true, weights: 4 * 512 * 4608, want: 2},
		{name: "14×14, 256 → 256 3×3, panels streamed", units: 4, threads: 2, work: 196 * 256 * 2304, m: 196, splitPanels: true, weights: 4 * 256 * 2304, want: 2},
		{name: "7×7, 256 → 512 1×1, panels streamed on 3 threads", units: 8, threads: 3, work: 49 * 512 * 256, m: 49, splitPanels: true, weights: 4 * 512 * 256, want: 3},
		{name: "row tiles of streamed weights", units: 28, threads: 2, work: 196 * 96 * 4608, m: 196, weights: 4 * 96 * 4608, want: 8},
		{name: "small work", units: 7, threads: 2, work: 49 * 32 * 64, m: 49, want: 2},
	}
	for _, tc := range cases {
		if got := gatherChunks(tc.units, tc.threads, tc.work, tc.m, tc.splitPanels, tc.weights); got != tc.want {
			t.Errorf("%s: %d chunks, want %d", tc.name, got, tc.want)
		}
	}
}
