package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestReductions(t *testing.T) {
	t.Parallel()
	// x is [2, 3]: rows {1, -2, 3} and {4, 5, -6}.
	x := f32t([]int{2, 3}, 1, -2, 3, 4, 5, -6)
	lse := func(v ...float64) float64 {
		s := 0.0
		for _, e := range v {
			s += math.Exp(e)
		}
		return math.Log(s)
	}
	cases := []struct {
		op    string
		ver   int
		attrs kattr
		axes  *tensor.Tensor
		shape []int
		want  []float64
	}{
		{"ReduceSum", 13, nil, i64t([]int{1}, 1), []int{2, 1}, []float64{2, 3}},
		{"ReduceSum", 13, kattr{"keepdims": 0}, i64t([]int{1}, -2), []int{3}, []float64{5, 3, -3}},
		{"ReduceSum", 13, kattr{"keepdims": 0}, nil, []int{}, []float64{5}},
		{"ReduceSum", 11, kattr{"axes": []int64{0}}, nil, []int{1, 3}, []float64{5, 3, -3}},
		{"ReduceMean", 18, nil, i64t([]int{1}, 1), []int{2, 1}, []float64{2.0 / 3, 1}},
		{"ReduceMax", 18, nil, i64t([]int{1}, 1), []int{2, 1}, []float64{3, 5}},
		{"ReduceMin", 13, kattr{"axes": []int64{1}}, nil, []int{2, 1}, []float64{-2, -6}},
		{"ReduceProd", 18, nil, i64t([]int{1}, 0), []int{1, 3}, []float64{4, -10, -18}},
		{"ReduceL1", 18, nil, i64t([]int{1}, 1), []int{2, 1}, []float64{6, 15}},
		{"ReduceL2", 18, nil, i64t([]int{1}, 1), []int{2, 1}, []float64{math.Sqrt(14), math.Sqrt(77)}},
		{"ReduceSumSquare", 18, nil, i64t([]int{1}, 1), []int{2, 1}, []float64{14, 77}},
		{"ReduceLogSumExp", 18, nil, i64t([]int{1}, 1), []int{2, 1}, []float64{lse(1, -2, 3), lse(4, 5, -6)}},
		{"ReduceLogSum", 18, nil, i64t([]int{2}, 0, 1), []int{1, 1}, []float64{math.Log(5)}},
		// noop_with_empty_axes returns the input unchanged.
		{"ReduceSum", 13, kattr{"noop_with_empty_axes": 1}, i64t([]int{0}), []int{2, 3}, []float64{1, -2, 3, 4, 5, -6}},
	}
	for _, c := range cases {
		in := []*tensor.Tensor{x}
		if c.axes != nil {
			in = append(in, c.axes)
		}
		got := runKernel(t, c.op, c.ver, c.attrs, 1, in...)
		wantClose(t, c.op, got[0], c.shape, c.want, 1e-6)
	}
	// Reducing an empty axis gives each reduction's identity.
	empty := f32t([]int{2, 0})
	for op, want := range map[string]float64{
		"ReduceSum": 0, "ReduceProd": 1, "ReduceMax": math.Inf(-1), "ReduceMin": math.Inf(1),
		"ReduceLogSumExp": math.Inf(-1), "ReduceL2": 0,
	} {
		got := runKernel(t, op, 18, nil, 1, empty, i64t([]int{1}, 1))
		wantClose(t, op+" empty", got[0], []int{2, 1}, []float64{want, want}, 0)
	}
	// LogSumExp stays finite for large inputs.
	got := runKernel(t, "ReduceLogSumExp", 18, kattr{"keepdims": 0}, 1, f32t([]int{2}, 1000, 1000))
	wantClose(t, "LogSumExp large", got[0], []int{}, []float64{1000 + math.Ln2}, 1e-6)
	// Integers reduce exactly; bools reduce as any/all.
	gi := runKernel(t, "ReduceSum", 13, kattr{"keepdims": 0}, 1, tensor.New([]int{2}, []int64{1 << 60, 1}))
	if gi[0].I64()[0] != 1<<60+1 {
		t.Fatalf("int64 ReduceSum = %v", gi[0].I64())
	}
	gb := runKernel(t, "ReduceMin", 20, kattr{"keepdims": 0}, 1, tensor.New([]int{2, 2}, []bool{true, false, true, true}), i64t([]int{1}, 1))
	if b := gb[0].Data.([]bool); b[0] || !b[1] {
		t.Fatalf("bool ReduceMin = %v", b)
	}
	gu := runKernel(t, "ReduceMax", 18, kattr{"keepdims": 0}, 1, tensor.New([]int{2}, []uint64{1, math.MaxUint64}))
	if v := gu[0].Data.([]uint64); v[0] != math.MaxUint64 {
		t.Fatalf("uint64 ReduceMax = %v", v)
	}
	g8 := runKernel(t, "ReduceMin", 18, nil, 1, tensor.New([]int{0, 2}, []int8{}), i64t([]int{1}, 0))
	if v := g8[0].Data.([]int8); v[0] != 127 || v[1] != 127 {
		t.Fatalf("empty int8 ReduceMin = %v, want the type's maximum", v)
	}
	if err := kernelErr("ReduceSum", 13, nil, x, i64t([]int{1}, 2)); err == nil {
		t.Fatal("out-of-range axis accepted")
	}
}

func TestArgMinMax(t *testing.T) {
	t.Parallel()
	x := f32t([]int{2, 3}, 1, 3, 3, 2, 0, 2)
	cases := []struct {
		op    string
		attrs kattr
		shape []int
		want  []float64
	}{
		{"ArgMax", kattr{"axis": 1}, []int{2, 1}, []float64{1, 0}},
		{"ArgMax", kattr{"axis": -1, "select_last_index": 1, "keepdims": 0}, []int{2}, []float64{2, 2}},
		{"ArgMin", kattr{"axis": 0}, []int{1, 3}, []float64{0, 1, 1}},
		{"ArgMin", kattr{"axis": 1, "keepdims": 0}, []int{2}, []float64{0, 1}},
	}
	big := tensor.New([]int{3}, []uint64{5, math.MaxUint64, 1 << 63})
	if got := runKernel(t, "ArgMax", 13, nil, 1, big)[0].I64(); got[0] != 1 {
		t.Fatalf("uint64 ArgMax = %v", got)
	}
	if got := runKernel(t, "TopK", 11, nil, 2, big, i64t([]int{1}, 2))[1].I64(); got[0] != 1 || got[1] != 2 {
		t.Fatalf("uint64 TopK indices = %v", got)
	}
	for _, c := range cases {
		got := runKernel(t, c.op, 13, c.attrs, 1, x)
		if got[0].DType != tensor.Int64 {
			t.Fatalf("%s: dtype %v", c.op, got[0].DType)
		}
		wantClose(t, c.op, got[0], c.shape, c.want, 0)
	}
}

func TestSoftmaxFamily(t *testing.T) {
	t.Parallel()
	x := f32t([]int{2, 2, 2}, 0, 1, 2, 3, 4, 5, 6, 1000)
	softmax := func(v ...float64) []float64 {
		m := math.Inf(-1)
		for _, e := range v {
			m = math.Max(m, e)
		}
		s := 0.0
		for _, e := range v {
			s += math.Exp(e - m)
		}
		out := make([]float64, len(v))
		for i, e := range v {
			out[i] = math.Exp(e-m) / s
		}
		return out
	}
	cat := func(parts ...[]float64) []float64 {
		var out []float64
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	// Opset 13: along the last axis.
	got := runKernel(t, "Softmax", 13, nil, 1, x)
	want := cat(softmax(0, 1), softmax(2, 3), softmax(4, 5), softmax(6, 1000))
	wantClose(t, "Softmax axis -1", got[0], []int{2, 2, 2}, want, 1e-6)
	// Opset 11 with axis=1 flattens to [2, 4].
	got = runKernel(t, "Softmax", 11, nil, 1, x)
	want = cat(softmax(0, 1, 2, 3), softmax(4, 5, 6, 1000))
	wantClose(t, "Softmax flattened", got[0], []int{2, 2, 2}, want, 1e-6)
	// Opset 13 with axis=1 normalises across the middle axis.
	got = runKernel(t, "Softmax", 13, kattr{"axis": 1}, 1, x)
	a, b := softmax(0, 2), softmax(1, 3)
	c, d := softmax(4, 6), softmax(5, 1000)
	want = []float64{a[0], b[0], a[1], b[1], c[0], d[0], c[1], d[1]}
	wantClose(t, "Softmax axis 1", got[0], []int{2, 2, 2}, want, 1e-6)
	got = runKernel(t, "LogSoftmax", 13, nil, 1, f32t([]int{3}, 1, 2, 3))
	s := softmax(1, 2, 3)
	wantClose(t, "LogSoftmax", got[0], []int{3}, []float64{math.Log(s[0]), math.Log(s[1]), math.Log(s[2])}, 1e-6)
	got = runKernel(t, "Hardmax", 13, nil, 1, f32t([]int{2, 3}, 1, 3, 3, -1, -2, -3))
	wantClose(t, "Hardmax", got[0], []int{2, 3}, []float64{0, 1, 0, 1, 0, 0}, 0)
}

func TestCumulative(t *testing.T) {
	t.Parallel()
	x := f32t([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	axis := i64t([]int{}, 1)
	cases := []struct {
		op    string
		attrs kattr
		want  []float64
	}{
		{"CumSum", nil, []float64{1, 3, 6, 4, 9, 15}},
		{"CumSum", kattr{"exclusive": 1}, []float64{0, 1, 3, 0, 4, 9}},
		{"CumSum", kattr{"reverse": 1}, []float64{6, 5, 3, 15, 11, 6}},
		{"CumSum", kattr{"reverse": 1, "exclusive": 1}, []float64{5, 3, 0, 11, 6, 0}},
		{"CumProd", nil, []float64{1, 2, 6, 4, 20, 120}},
		{"CumProd", kattr{"exclusive": 1, "reverse": 1}, []float64{6, 3, 1, 30, 6, 1}},
	}
	for _, c := range cases {
		got := runKernel(t, c.op, 26, c.attrs, 1, x, axis)
		wantClose(t, c.op, got[0], []int{2, 3}, c.want, 0)
	}
	got := runKernel(t, "CumSum", 14, nil, 1, x, tensor.New([]int{1}, []int32{0}))
	wantClose(t, "CumSum axis 0", got[0], []int{2, 3}, []float64{1, 2, 3, 5, 7, 9}, 0)
}

func TestTopK(t *testing.T) {
	t.Parallel()
	x := f32t([]int{2, 4}, 3, 1, 3, 2, 0, -1, 5, 5)
	got := runKernel(t, "TopK", 11, nil, 2, x, i64t([]int{1}, 2))
	wantClose(t, "TopK values", got[0], []int{2, 2}, []float64{3, 3, 5, 5}, 0)
	wantClose(t, "TopK indices", got[1], []int{2, 2}, []float64{0, 2, 2, 3}, 0)
	got = runKernel(t, "TopK", 11, kattr{"largest": 0, "axis": 0}, 2, x, i64t([]int{1}, 1))
	wantClose(t, "TopK smallest", got[0], []int{1, 4}, []float64{0, -1, 3, 2}, 0)
	wantClose(t, "TopK smallest indices", got[1], []int{1, 4}, []float64{1, 1, 0, 0}, 0)
	got = runKernel(t, "TopK", 1, kattr{"k": 1}, 2, x)
	wantClose(t, "TopK v1", got[0], []int{2, 1}, []float64{3, 5}, 0)
	if err := kernelErr("TopK", 11, nil, x, i64t([]int{1}, 5)); err == nil {
		t.Fatal("k larger than the axis accepted")
	}
}

func TestNormalizations(t *testing.T) {
	t.Parallel()
	// X is [1, 2, 2]: channel 0 = {1, 3}, channel 1 = {2, 6}.
	x := f32t([]int{1, 2, 2}, 1, 3, 2, 6)
	eps := 1e-5
	norm := func(v, m, variance float64) float64 { return (v - m) / math.Sqrt(variance+eps) }

	got := runKernel(t, "BatchNormalization", 15, nil, 1, x, f32t([]int{2}, 1, 2), f32t([]int{2}, 0, 1),
		f32t([]int{2}, 2, 4), f32t([]int{2}, 1, 4))
	wantClose(t, "BatchNorm", got[0], []int{1, 2, 2}, []float64{
		norm(1, 2, 1), norm(3, 2, 1), 2*norm(2, 4, 4) + 1, 2*norm(6, 4, 4) + 1}, 1e-6)

	got = runKernel(t, "InstanceNormalization", 22, nil, 1, x, f32t([]int{2}, 1, 1), f32t([]int{2}, 0, 0))
	wantClose(t, "InstanceNorm", got[0], []int{1, 2, 2}, []float64{
		norm(1, 2, 1), norm(3, 2, 1), norm(2, 4, 4), norm(6, 4, 4)}, 1e-6)

	got = runKernel(t, "LayerNormalization", 17, nil, 3, x, f32t([]int{2}, 1, 2), f32t([]int{2}, 0.5, 0.5))
	wantClose(t, "LayerNorm", got[0], []int{1, 2, 2}, []float64{
		norm(1, 2, 1) + 0.5, 2*norm(3, 2, 1) + 0.5, norm(2, 4, 4) + 0.5, 2*norm(6, 4, 4) + 0.5}, 1e-6)
	wantClose(t, "LayerNorm mean", got[1], []int{1, 2, 1}, []float64{2, 4}, 1e-6)
	wantClose(t, "LayerNorm invstd", got[2], []int{1, 2, 1}, []float64{1 / math.Sqrt(1+eps), 1 / math.Sqrt(4+eps)}, 1e-6)

	got = runKernel(t, "RMSNormalization", 23, kattr{"axis": 1}, 1, x, f32t([]int{1}, 2))
	rms := math.Sqrt((1+9+4+36)/4.0 + eps)
	wantClose(t, "RMSNorm", got[0], []int{1, 2, 2}, []float64{2 / rms, 6 / rms, 4 / rms, 12 / rms}, 1e-6)

	got = runKernel(t, "GroupNormalization", 21, kattr{"num_groups": 1}, 1, x, f32t([]int{2}, 1, 2), f32t([]int{2}, 0, 1))
	m, v := 3.0, (4+0+1+9)/4.0
	wantClose(t, "GroupNorm", got[0], []int{1, 2, 2}, []float64{
		norm(1, m, v), norm(3, m, v), 2*norm(2, m, v) + 1, 2*norm(6, m, v) + 1}, 1e-6)

	got = runKernel(t, "LpNormalization", 22, kattr{"p": 1, "axis": 2}, 1, x)
	wantClose(t, "L1Norm", got[0], []int{1, 2, 2}, []float64{0.25, 0.75, 0.25, 0.75}, 1e-7)

	got = runKernel(t, "LRN", 13, kattr{"size": 3, "alpha": 0.5, "beta": 1.0, "bias": 2.0}, 1, x)
	sq := 1.0 + 4   // channels 0 and 1 at position 0
	sq1 := 9.0 + 36 // position 1
	wantClose(t, "LRN", got[0], []int{1, 2, 2}, []float64{
		1 / (2 + 0.5/3*sq), 3 / (2 + 0.5/3*sq1), 2 / (2 + 0.5/3*sq), 6 / (2 + 0.5/3*sq1)}, 1e-6)

	got = runKernel(t, "MeanVarianceNormalization", 13, kattr{"axes": []int64{2}}, 1, x)
	wantClose(t, "MVN", got[0], []int{1, 2, 2}, []float64{-1, 1, -1, 1}, 1e-6)

	if err := kernelErr("GroupNormalization", 21, kattr{"num_groups": 3}, x, f32t([]int{2}, 1, 1), f32t([]int{2}, 0, 0)); err == nil {
		t.Fatal("channels not divisible by groups accepted")
	}
}

func TestDet(t *testing.T) {
	t.Parallel()
	x := f32t([]int{2, 3, 3}, 2, 0, 1, 1, 3, 2, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1)
	got := runKernel(t, "Det", 22, nil, 1, x)
	wantClose(t, "Det", got[0], []int{2}, []float64{2*(3-2) - 0 + 1*(1-3), -1}, 1e-6)
}

func TestLosses(t *testing.T) {
	t.Parallel()
	// Two samples, three classes; sample 1's target is ignored.
	scores := f32t([]int{2, 3}, 1, 2, 3, 0, 0, 0)
	target := i64t([]int{2}, 2, 1)
	weight := f32t([]int{3}, 0.5, 1, 2)
	got := runKernel(t, "NegativeLogLikelihoodLoss", 22, kattr{"reduction": "none"}, 1, scores, target, weight)
	wantClose(t, "NLL none", got[0], []int{2}, []float64{-3 * 2, 0 * 1}, 1e-7)
	got = runKernel(t, "NegativeLogLikelihoodLoss", 22, kattr{"ignore_index": 1}, 1, scores, target, weight)
	wantClose(t, "NLL mean ignore", got[0], []int{}, []float64{-3}, 1e-7)
	got = runKernel(t, "SoftmaxCrossEntropyLoss", 13, kattr{"reduction": "sum"}, 2, scores, target)
	lse := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
	wantClose(t, "SCE sum", got[0], []int{}, []float64{(lse - 3) + math.Log(3)}, 1e-6)
	wantClose(t, "SCE log_prob", got[1], []int{2, 3}, []float64{1 - lse, 2 - lse, 3 - lse,
		-math.Log(3), -math.Log(3), -math.Log(3)}, 1e-6)
	if err := kernelErr("NegativeLogLikelihoodLoss", 22, nil, scores, i64t([]int{2}, 3, 0)); err == nil {
		t.Fatal("target out of range accepted")
	}
}

// TestKernelsConcurrentRuns runs one kernel instance from several goroutines at once (go test
// -race makes this meaningful): kernels must keep no per-run state.
func TestKernelsConcurrentRuns(t *testing.T) {
	t.Parallel()
	x := benchInput([]int{8, 64})
	cases := []struct {
		op    string
		ver   int
		attrs kattr
		in    []*tensor.Tensor
	}{
		{"Add", 14, nil, []*tensor.Tensor{x, benchInput([]int{64})}},
		{"Softmax", 13, nil, []*tensor.Tensor{x}},
		{"ReduceSum", 13, nil, []*tensor.Tensor{x, i64t([]int{1}, 1)}},
		{"LayerNormalization", 17, nil, []*tensor.Tensor{x, benchInput([]int{64})}},
		{"TopK", 11, nil, []*tensor.Tensor{x, i64t([]int{1}, 3)}},
		{"Clip", 13, nil, []*tensor.Tensor{x, tensor.Scalar[float32](-0.5), tensor.Scalar[float32](0.5)}},
	}
	for _, c := range cases {
		f, _ := Lookup(DefaultDomain, c.op, c.ver)
		k, err := f(kernelNode(c.op, c.ver, c.attrs, len(c.in), 2))
		if err != nil {
			t.Fatal(err)
		}
		want, err := k.Run(NewContext(2), c.in)
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			go func() {
				got, err := k.Run(NewContext(2), c.in)
				if err == nil && fmt.Sprint(got[0].Data) != fmt.Sprint(want[0].Data) {
					err = fmt.Errorf("%s: concurrent run differs", c.op)
				}
				errs <- err
			}()
		}
		for g := 0; g < 4; g++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestBatchNormFloat32Path checks the float32 inference path (per-channel parameters) against
// the float64 definition, over several images and channels.
func TestBatchNormFloat32Path(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(61, 62))
	x := randTensor(r, 2, 5, 3, 7)
	params := []*tensor.Tensor{randTensor(r, 5), randTensor(r, 5), randTensor(r, 5), randTensor(r, 5)}
	for i, v := range params[3].F32() {
		params[3].F32()[i] = v*v + 0.1 // variances
	}
	for _, constant := range []bool{false, true} { // parameters at run time, or folded at creation
		node := kernelNode("BatchNormalization", 15, kattr{"epsilon": float32(1e-3)}, 5, 1)
		if constant {
			copy(node.Const[1:], params)
		}
		k, err := newBatchNorm(node)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := k.Run(NewContext(1), append([]*tensor.Tensor{x}, params...))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range outs[0].F32() {
			ch := (i / 21) % 5
			s, b, m, vr := params[0].F32()[ch], params[1].F32()[ch], params[2].F32()[ch], params[3].F32()[ch]
			want := (float64(x.F32()[i])-float64(m))/math.Sqrt(float64(vr)+1e-3)*float64(s) + float64(b)
			if math.Abs(float64(v)-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("constant %v: y[%d] = %g, want %g", constant, i, v, want)
			}
		}
	}
}
