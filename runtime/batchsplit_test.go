package runtime

import (
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// rowCase builds a graph on x[batch,4,6,6] (or a fixed first dimension) ending in one output;
// the tests feed 6 rows, which constants that differ by row match.
type rowCase struct {
	name  string
	fixed bool // x's first dimension is fixed (4), not symbolic
	build func(b *graphtest.Builder, x string) string
	split bool // the graph keeps the batch's rows apart
}

func rowCases() []rowCase {
	a := graphtest.A
	r := graphtest.Seeded(5)
	w := func(b *graphtest.Builder) string { return b.Init("w", graphtest.RandF32(r, 1, 3, 4, 3, 3)) }
	return []rowCase{
		{"cnn", false, func(b *graphtest.Builder, x string) string {
			y := b.Op("Relu", []string{b.Op("Conv", []string{x, w(b)}, a("pads", []int64{1, 1, 1, 1}))})
			y = b.Op("MaxPool", []string{y}, a("kernel_shape", []int64{2, 2}), a("strides", []int64{2, 2}))
			y = b.Op("ReduceMean", []string{y}, a("axes", []int64{2, 3}), a("keepdims", int64(0)))
			y = b.Op("Gemm", []string{y, b.Init("g", graphtest.RandF32(r, 1, 3, 5)), b.Init("c", graphtest.RandF32(r, 1, 5))})
			return b.Op("Softmax", []string{y}, a("axis", int64(1)))
		}, true},
		{"flatten-matmul", false, func(b *graphtest.Builder, x string) string {
			return b.Op("MatMul", []string{b.Op("Flatten", []string{x}), b.Init("m", graphtest.RandF32(r, 1, 144, 3))})
		}, true},
		{"reshape-keeps-rows", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Reshape", []string{x, b.I64(0, -1)})
		}, true},
		{"transpose-keeps-rows", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Transpose", []string{x}, a("perm", []int64{0, 2, 3, 1}))
		}, true},
		{"add-row-constant", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Add", []string{x, b.Init("k", graphtest.RandF32(r, 1, 1, 4, 6, 6))})
		}, true},
		{"softmax-last", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Softmax", []string{x}, a("axis", int64(-1)))
		}, true},
		{"crrelu-per-tensor", false, func(b *graphtest.Builder, x string) string {
			b.Opset("ai.actswap", 1)
			return b.Node("ai.actswap", "CRReLU", []string{x, b.F32([]int{1}, 0.3)}, 1)[0]
		}, true},
		{"crrelu-per-channel", false, func(b *graphtest.Builder, x string) string {
			b.Opset("ai.actswap", 1)
			return b.Node("ai.actswap", "CRReLU", []string{x, b.F32([]int{4}, 0.1, 0.2, 0.3, 0.4)}, 1)[0]
		}, true},
		{"crrelu-per-row", false, func(b *graphtest.Builder, x string) string {
			b.Opset("ai.actswap", 1)
			return b.Node("ai.actswap", "CRReLU", []string{x, b.F32([]int{6}, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)}, 1, graphtest.A("axis", int64(0)))[0]
		}, false},
		{"fixed-first-dim", true, func(b *graphtest.Builder, x string) string { return b.Op("Relu", []string{x}) }, false},
		{"softmax-batch-axis", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Softmax", []string{x}, a("axis", int64(0)))
		}, false},
		{"softmax-negative-batch-axis", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Softmax", []string{x}, a("axis", int64(-4)))
		}, false},
		{"reduce-batch-axis", false, func(b *graphtest.Builder, x string) string {
			return b.Op("ReduceMean", []string{x}, a("axes", []int64{0}))
		}, false},
		{"reduce-all", false, func(b *graphtest.Builder, x string) string { return b.Op("ReduceMean", []string{x}) }, false},
		{"gemm-transposed-a", false, func(b *graphtest.Builder, x string) string {
			f := b.Op("Flatten", []string{x})
			return b.Op("Gemm", []string{f, b.Init("g", graphtest.RandF32(r, 1, 6, 3))}, a("transA", int64(1)))
		}, false},
		{"gemm-c-per-row", false, func(b *graphtest.Builder, x string) string {
			f := b.Op("Flatten", []string{x})
			return b.Op("Gemm", []string{f, b.Init("g", graphtest.RandF32(r, 1, 144, 3)), b.Init("c", graphtest.RandF32(r, 1, 6, 3))})
		}, false},
		{"matmul-broadcast-batch", false, func(b *graphtest.Builder, x string) string {
			return b.Op("MatMul", []string{x, b.Init("m", graphtest.RandF32(r, 1, 4, 6, 2))})
		}, false},
		{"reshape-merges-rows", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Reshape", []string{x, b.I64(-1, 36)})
		}, false},
		{"transpose-moves-rows", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Transpose", []string{x}, a("perm", []int64{1, 0, 2, 3}))
		}, false},
		{"concat-batch-axis", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Concat", []string{x, x}, a("axis", int64(0)))
		}, false},
		{"add-constant-per-row", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Add", []string{x, b.Init("k", graphtest.RandF32(r, 1, 6, 4, 6, 6))})
		}, false},
		{"maxpool-indices", false, func(b *graphtest.Builder, x string) string {
			return b.Node("", "MaxPool", []string{x}, 2, a("kernel_shape", []int64{2, 2}))[1]
		}, false},
		{"shape", false, func(b *graphtest.Builder, x string) string { return b.Op("Shape", []string{x}) }, false},
		{"flatten-batch-axis", false, func(b *graphtest.Builder, x string) string {
			return b.Op("Flatten", []string{x}, a("axis", int64(0)))
		}, false},
	}
}

func (c rowCase) model() *onnx.ModelProto {
	b := graphtest.New("rows_"+c.name, 17)
	var first any = "batch"
	if c.fixed {
		first = 4
	}
	x := b.Input("x", tensor.Float32, first, 4, 6, 6)
	// Only graphs that convolve their rows are split (rowSplit.convolves): a 1×1 convolution
	// first, which keeps the rows and the shape, lets every case's rule be run split.
	eye := make([]float32, 16)
	for i := range 4 {
		eye[i*5] = 1
	}
	x = b.Op("Conv", []string{x, b.F32([]int{4, 4, 1, 1}, eye...)})
	y := c.build(b, x)
	b.Output(y, tensor.Float32, graphtest.AnyRank)
	return b.Model()
}

// TestRowSplitAnalysis checks which graphs are found to keep the batch's rows apart: one
// operator at a time, with the attributes and constants that make it mix rows or not.
func TestRowSplitAnalysis(t *testing.T) {
	for _, c := range rowCases() {
		m := c.model()
		opsets, err := opsetMap(m.GetOpsetImport(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r, why := analyzeRowSplit(m.GetGraph(), opsets)
		if (r != nil) != c.split {
			t.Errorf("%s: split %v (%s), want %v", c.name, r != nil, why, c.split)
		}
		if r == nil && why == "" {
			t.Errorf("%s: refused without a reason", c.name)
		}
	}
}

// TestRowSplitRuns runs every case on 2 threads against the same model on one thread, where
// nothing is split: a graph split by rows must give the same outputs, and one that mixes rows
// must not be split (the outputs would differ: a softmax or mean over the batch axis computed
// per half, a reshape merging rows of both halves).
func TestRowSplitRuns(t *testing.T) {
	for _, c := range rowCases() {
		if c.fixed {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			m := c.model()
			one, err := NewSession(m, WithThreads(1))
			if err != nil {
				t.Fatal(err)
			}
			two, err := NewSession(m, WithThreads(2))
			if err != nil {
				t.Fatal(err)
			}
			feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(9), 2, 6, 4, 6, 6)}
			want, err := one.Run(feeds)
			if err != nil {
				t.Fatal(err)
			}
			for run := range 3 {
				got, err := two.Run(feeds)
				if err != nil {
					t.Fatal(err)
				}
				for name, w := range want {
					if err := graphtest.Diff(got[name], w, 1e-5, 1e-6); err != nil {
						t.Fatalf("run %d, output %s: %v", run, name, err)
					}
				}
			}
			if split := two.rowParts(feeds, nil) > 1; split != c.split {
				t.Errorf("split into parts: %v, want %v", split, c.split)
			}
		})
	}
}

// TestRowSplitOnlyConvolutions: a graph of products without a convolution qualifies but is not
// split (rowSplit.convolves): its small products run on one thread anyway, and the parts cost more
// than they save.
func TestRowSplitOnlyConvolutions(t *testing.T) {
	b := graphtest.New("rows_mlp", 17)
	x := b.Input("x", tensor.Float32, "batch", 12)
	y := b.Op("Relu", []string{b.Op("MatMul", []string{x, b.Init("m", graphtest.RandF32(graphtest.Seeded(6), 1, 12, 5))})})
	b.Output(y, tensor.Float32, "batch", 5)
	s, err := NewSession(b.Model(), WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	if s.byRows == nil {
		t.Fatal("a MatMul and a Relu on rows do not qualify")
	}
	feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(7), 1, 16, 12)}
	if parts := s.rowParts(feeds, nil); parts != 1 {
		t.Errorf("16 rows of a graph without a convolution on 2 threads: %d parts, want 1", parts)
	}
}

// TestRowSplitMixingOutputs: a softmax over the batch axis, run on 2 threads, against its
// float64 definition; a split by rows would normalize each half on its own.
func TestRowSplitMixingOutputs(t *testing.T) {
	b := graphtest.New("rows_softmax0", 17)
	x := b.Input("x", tensor.Float32, "batch", 3)
	b.Output(b.Op("Softmax", []string{b.Op("Relu", []string{x})}, graphtest.A("axis", int64(0))), tensor.Float32, "batch", 3)
	s, err := NewSession(b.Model(), WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	in := graphtest.RandF32(graphtest.Seeded(3), 2, 8, 3)
	xs := in.Data.([]float32)
	for range 3 {
		out, err := s.Run(map[string]*tensor.Tensor{"x": in})
		if err != nil {
			t.Fatal(err)
		}
		y := out[b.Graph().GetOutput()[0].GetName()].Data.([]float32)
		for j := 0; j < 3; j++ {
			var sum float64
			for i := 0; i < 8; i++ {
				sum += math.Exp(math.Max(float64(xs[i*3+j]), 0))
			}
			for i := 0; i < 8; i++ {
				want := math.Exp(math.Max(float64(xs[i*3+j]), 0)) / sum
				if math.Abs(float64(y[i*3+j])-want) > 1e-6 {
					t.Fatalf("y[%d,%d] = %g, want %g", i, j, y[i*3+j], want)
				}
			}
		}
	}
}

// TestRowSplitModels runs the shared digits_cnn (16 rows) on 2 threads, split by rows, against
// its onnxruntime golden.
func TestRowSplitModels(t *testing.T) {
	dir := testutil.SharedPath(t, "models", "digits_cnn")
	s, inputs := sessionOnDataSet(t, dir, 2, false)
	_, golden, err := s.ReadDataSet(filepath.Join(dir, "test_data_set_0"))
	if err != nil {
		t.Fatal(err)
	}
	for run := range 3 {
		got, err := s.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		for k, w := range golden {
			name := s.Outputs()[k].Name
			if err := graphtest.Diff(got[name], w, 1e-4, 1e-5); err != nil {
				t.Fatalf("run %d, %s: %v", run, name, err)
			}
		}
	}
	if parts := s.rowParts(inputs, nil); parts != 2 {
		t.Fatalf("digits_cnn on 2 threads: %d parts, want 2", parts)
	}
	// Values other than the outputs are split too when they carry rows; others are not.
	names := []string{"/Relu_output_0"}
	if parts := s.rowParts(inputs, names); parts != 2 {
		t.Errorf("asking for %v: %d parts, want 2", names, parts)
	}
	if got, err := s.Run(inputs, names...); err != nil || got[names[0]].Shape[0] != 16 {
		t.Errorf("asking for %v: %v %v", names, err, got)
	}
	if parts := s.rowParts(inputs, []string{"fc.weight"}); parts != 1 {
		t.Errorf("asking for a weight: %d parts, want 1", parts)
	}
	// Inputs whose rows differ are not split; the unsplit run names what is wrong.
	bad := map[string]*tensor.Tensor{}
	for k, v := range inputs {
		bad[k] = rowsView(v, 0, 5)
		bad[k+"_extra"] = v
	}
	if _, err := s.Run(bad); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("unknown input: err %v", err)
	}
	for k, v := range inputs {
		short := &tensor.Tensor{DType: v.DType, Shape: v.Shape, Data: v.F32()[:10]}
		if _, err := s.Run(map[string]*tensor.Tensor{k: short}); err == nil {
			t.Errorf("input whose data is shorter than its shape: no error")
		}
	}
}

// TestRowSplitDeterministic: whether a run is split depends on the graph, the threads and the
// rows only, so every run of a session, one after another or at once, gives the same bits (the
// first run once measured and the later ones split, and kernels round a row differently in
// batches of other sizes: TestRealModels caught it with AVX2 kernels).
func TestRowSplitDeterministic(t *testing.T) {
	s, err := NewSession(rowCases()[0].model(), WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(2), 1, 6, 4, 6, 6)}
	if parts := s.rowParts(feeds, nil); parts != 2 {
		t.Fatalf("6 rows on 2 threads: %d parts before any run, want 2", parts)
	}
	first, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				again, err := s.Run(feeds)
				if err != nil {
					t.Error(err)
					return
				}
				for name, w := range first {
					if err := graphtest.Diff(again[name], w, 0, 0); err != nil {
						t.Errorf("%s differs from the first run: %v", name, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	one := map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(2), 1, 1, 4, 6, 6)}
	if parts := s.rowParts(one, nil); parts != 1 {
		t.Errorf("one row: %d parts", parts)
	}
	// Parts of at least gemm.RowsSummedAlike rows: fewer parts than threads where the rows are few.
	four, err := NewSession(rowCases()[0].model(), WithThreads(4))
	if err != nil {
		t.Fatal(err)
	}
	for rows, want := range map[int]int{2: 1, 5: 1, 6: 2, 11: 3, 12: 4, 40: 4} {
		feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(2), 1, rows, 4, 6, 6)}
		if parts := four.rowParts(feeds, nil); parts != want {
			t.Errorf("%d rows on 4 threads: %d parts, want %d", rows, parts, want)
		}
	}
}

// TestRowSplitKeepsTheBits: the bundled digits models, on batches of 2 to 16 of their rows, give
// on 2 and 3 threads (split by rows where the rows allow) the bits they give on one, with
// AVX-512 (within 1e-6 elsewhere, as TestThreadsGiveIdenticalOutputs). Parts of one or two rows
// would run the row-by-row GEMM kernels and round differently.
func TestRowSplitKeepsTheBits(t *testing.T) {
	differ := firstDifference
	if !simd.Host().Wide() {
		differ = firstDifferenceBeyond(1e-6)
	}
	for _, name := range []string{"digits_cnn", "digits_vit", "digits_mlp_gelu"} {
		dir := filepath.Join(testutil.RepoRoot(t), "models", name)
		sessions := map[int]*Session{}
		var inputs map[string]*tensor.Tensor
		for _, threads := range []int{1, 2, 3} {
			sessions[threads], inputs = sessionOnDataSet(t, dir, threads, false)
		}
		for _, rows := range []int{2, 3, 4, 5, 7, 16} {
			feeds := map[string]*tensor.Tensor{}
			for k, x := range inputs {
				feeds[k] = tensor.SliceRows(x, 0, rows)
			}
			var want map[string]*tensor.Tensor
			for _, threads := range []int{1, 2, 3} {
				got, err := sessions[threads].Run(feeds)
				if err != nil {
					t.Fatal(err)
				}
				if want == nil {
					want = got
					continue
				}
				for k, w := range want {
					if d := differ(got[k].F32(), w.F32()); d != "" {
						t.Errorf("%s, %d rows, %d threads (%d parts), output %q: %s (1 thread is the reference)",
							name, rows, threads, sessions[threads].rowParts(feeds, nil), k, d)
					}
				}
			}
		}
	}
}

// TestRowSplitMemoryEstimate: EstimateMemory's probe runs (1 and 2 rows) are too small to be
// split, so a session that splits batches estimates what one that does not estimates; a probe
// run split into parts that overlap in time would follow neither's values.
func TestRowSplitMemoryEstimate(t *testing.T) {
	m := rowCases()[0].model()
	probe := func(rows int) (map[string]*tensor.Tensor, error) {
		return map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(4), 1, rows, 4, 6, 6)}, nil
	}
	var est [2]int64
	for i, threads := range []int{1, 2} {
		s, err := NewSession(m, WithThreads(threads))
		if err != nil {
			t.Fatal(err)
		}
		if est[i], err = s.EstimateMemory(1000, probe); err != nil {
			t.Fatal(err)
		}
	}
	if est[0] <= 0 || est[1] != est[0] {
		t.Errorf("estimate for 1000 rows: %d bytes on 1 thread, %d on 2 (split by rows)", est[0], est[1])
	}
}
