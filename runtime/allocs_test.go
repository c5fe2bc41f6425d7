package runtime

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/tensor"
)

// TestSteadyStateAllocations checks that a Run of each bundled model allocates only what it hands
// to the caller once its buffer pool, shape cache and view headers are warm: per output a tensor
// (header, shape, elements, and the boxed slice), plus the result map — on one thread, and on
// two, where the kernels' parallel loops go through the worker pool (internal/workers) with
// pooled work descriptions. The bound catches per-node allocations creeping back (a model has
// dozens of nodes).
func TestSteadyStateAllocations(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	root := filepath.Join(testutil.RepoRoot(t), "models")
	for _, tc := range []struct {
		name    string
		threads int
	}{{"digits_cnn", 1}, {"digits_vit", 1}, {"digits_mlp_gelu", 1}, {"digits_cnn", 2}, {"digits_vit", 2}} {
		name := tc.name
		t.Run(fmt.Sprintf("%s_threads%d", name, tc.threads), func(t *testing.T) {
			s, inputs := sessionOnDataSet(t, filepath.Join(root, name), tc.threads, true)
			if got, limit := steadyAllocsPerRun(t, s, inputs), float64(4*len(s.Outputs())+2); got > limit {
				t.Errorf("%s: %.1f allocations per Run, want at most %.0f (go test -run NONE -bench SmallModels -benchmem -memprofile shows where)", name, got, limit)
			}
		})
	}
	// ResNet-18 from the shared models, whose convolutions take the lowerings the digits models
	// never do (Winograd, direct, gather; TestConvLoweringsSteadyStateAllocations holds each alone).
	t.Run("resnet18", func(t *testing.T) {
		dir := filepath.Join(testutil.SharedDir(t), "models", "resnet18")
		for _, threads := range []int{1, 2} {
			s, inputs := sessionOnDataSet(t, dir, threads, false)
			if got, limit := steadyAllocsPerRun(t, s, inputs), float64(4*len(s.Outputs())+2); got > limit {
				t.Errorf("resnet18 on %d threads: %.1f allocations per Run, want at most %.0f", threads, got, limit)
			}
		}
	})
	// A batch split by rows (digits_cnn's 16 rows on 2 threads, batchsplit.go) also allocates each
	// part's result (what one Run returns, per part), the stacked outputs, each part's input views
	// and map, and the split's own bookkeeping (result and error slices, the task, the map and
	// slice of the stacked outputs): 28 for one output and 2 parts.
	s, inputs := sessionOnDataSet(t, filepath.Join(root, "digits_cnn"), 2, false)
	parts := s.rowParts(inputs, nil)
	if parts != 2 {
		t.Fatalf("digits_cnn, 16 rows on 2 threads: %d parts, want 2", parts)
	}
	perRun := 4*len(s.Outputs()) + 2
	if got, limit := steadyAllocsPerRun(t, s, inputs), float64((parts+1)*perRun+4*parts+5); got > limit {
		t.Errorf("digits_cnn split by rows: %.1f allocations per Run, want at most %.0f", got, limit)
	}
}

// steadyAllocsPerRun is the allocations of one Run of s on inputs after two runs that fill its
// pools and caches.
func steadyAllocsPerRun(t *testing.T, s *Session, inputs map[string]*tensor.Tensor) float64 {
	t.Helper()
	for range 2 {
		if _, err := s.Run(inputs); err != nil {
			t.Fatal(err)
		}
	}
	return testing.AllocsPerRun(20, func() {
		if _, err := s.Run(inputs); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConcurrentRunsShareNothingMutable runs a bundled transformer (views, Split, transposes,
// broadcasting, all through the run arenas and the shared plan caches) from several goroutines
// and checks every result against a single-goroutine run.
func TestConcurrentRunsShareNothingMutable(t *testing.T) {
	dir := filepath.Join(testutil.RepoRoot(t), "models", "digits_vit")
	s, inputs := sessionOnDataSet(t, dir, 2, false)
	// Rows of the data set as separate batch-1 inputs, each with its reference output.
	var feeds []map[string]*tensor.Tensor
	var want []map[string]*tensor.Tensor
	for row := range 4 {
		feed := map[string]*tensor.Tensor{}
		for k, x := range inputs {
			feed[k] = tensor.SliceRows(x, row, row+1)
		}
		out, err := s.Run(feed)
		if err != nil {
			t.Fatal(err)
		}
		feeds, want = append(feeds, feed), append(want, out)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 6 {
				row := (g + i) % len(feeds)
				out, err := s.Run(feeds[row])
				if err != nil {
					errs <- err
					return
				}
				for k, w := range want[row] {
					if err := graphtest.Diff(out[k], w, 0, 0); err != nil {
						errs <- fmt.Errorf("goroutine %d, run %d, row %d, output %q: %v", g, i, row, k, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSteadyStateAllocationsCNNBlocks holds a graph of the blocks the bundled models lack —
// a convolution with a fused residual, depthwise convolutions over 16-channel blocks, a fused
// SiLU, a squeeze-and-excitation gate — to the same kind of bound, on one and two threads.
func TestSteadyStateAllocationsCNNBlocks(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	r := graphtest.Seeded(5)
	b := graphtest.New("cnn_blocks", 17)
	x := b.Input("x", tensor.Float32, 1, 32, 28, 28)
	conv := func(in string, cin, cout, k, group int) string {
		w := b.Init(fmt.Sprintf("w%d", len(in)+cout+k), graphtest.RandF32(r, 0.1, cout, cin/group, k, k))
		bias := b.Init(fmt.Sprintf("b%d", len(in)+cout+k), graphtest.RandF32(r, 0.1, cout))
		return b.Op("Conv", []string{in, w, bias}, graphtest.A("pads", []int64{int64(k / 2), int64(k / 2), int64(k / 2), int64(k / 2)}),
			graphtest.A("group", int64(group)))
	}
	h := b.Op("Relu", []string{conv(x, 32, 32, 3, 1)})
	h = b.Op("Add", []string{conv(h, 32, 32, 1, 1), x})        // residual into the convolution
	d := conv(h, 32, 32, 3, 32)                                // depthwise
	d = b.Op("Mul", []string{d, b.Op("Sigmoid", []string{d})}) // SiLU
	gate := b.Op("Sigmoid", []string{b.Op("GlobalAveragePool", []string{d})})
	b.Output(b.Op("Mul", []string{d, gate}), tensor.Float32, 1, 32, 28, 28)
	in := map[string]*tensor.Tensor{"x": graphtest.RandF32(r, 1, 1, 32, 28, 28)}
	for _, threads := range []int{1, 2} {
		s, err := NewSession(b.Model(), WithThreads(threads))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := s.Run(in); err != nil {
				t.Fatal(err)
			}
		}
		got := testing.AllocsPerRun(20, func() {
			if _, err := s.Run(in); err != nil {
				t.Fatal(err)
			}
		})
		// The output reuses a pooled buffer here, so it costs its own shape, and the pool makes
		// up for the buffer the caller keeps with a new tensor: 1 + 4, plus the map.
		if got > 7 {
			t.Errorf("threads %d: %.1f allocations per Run, want at most 7", threads, got)
		}
	}
}
