package ops

import (
	"fmt"
	"github.com/actswap/actswap/internal/testutil"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// TestPool2DFastPathMatchesGeneric runs the 2-D range-arithmetic path and the generic N-d
// per-tap path on the same windows; the backend suite pins the generic path to ONNX's values.
func TestPool2DFastPathMatchesGeneric(t *testing.T) {
	t.Parallel()
	geoms := []map[string]any{
		{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}},
		{"kernel_shape": []int{3, 2}, "strides": []int{2, 3}, "pads": []int{0, 1, 2, 1}, "ceil_mode": 1},
		{"kernel_shape": []int{2, 3}, "dilations": []int{2, 2}, "pads": []int{1, 2, 1, 0}, "count_include_pad": 1},
		{"kernel_shape": []int{3, 3}, "strides": []int{3, 3}, "ceil_mode": 1, "count_include_pad": 1, "pads": []int{1, 1, 0, 0}},
		{"kernel_shape": []int{4, 4}, "auto_pad": "SAME_LOWER", "strides": []int{2, 2}},
		// Windows inside the image: the direct max pool (maxPlaneDirect) as well.
		{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}},
		{"kernel_shape": []int{2, 2}, "strides": []int{1, 3}, "dilations": []int{2, 1}},
		{"kernel_shape": []int{2, 3}, "strides": []int{2, 1}, "dilations": []int{1, 2}},
		{"kernel_shape": []int{3, 2}, "strides": []int{1, 2}, "dilations": []int{2, 1}, "pads": []int{0, 0, 1, 1}},
	}
	r := rand.New(rand.NewPCG(15, 16))
	for trial := 0; trial < 30; trial++ {
		g := map[string]any{
			"kernel_shape": []int{1 + r.IntN(4), 1 + r.IntN(4)},
			"strides":      []int{1 + r.IntN(3), 1 + r.IntN(3)},
			"dilations":    []int{1 + r.IntN(2), 1 + r.IntN(2)},
			"pads":         []int{r.IntN(2), r.IntN(2), r.IntN(2), r.IntN(2)},
		}
		if r.IntN(2) == 0 {
			g["ceil_mode"] = 1
		}
		if r.IntN(2) == 0 {
			g["count_include_pad"] = 1
		}
		geoms = append(geoms, g)
	}
	x := randTensor(r, 2, 3, 11, 13)
	directChecked := 0
	for _, kind := range []poolKind{poolMax, poolAvg} {
		for gi, attrs := range geoms {
			f := poolFactory(kind, false)
			kern, err := f(convTestNode("Pool", attrs, 1))
			if err != nil {
				t.Fatal(err)
			}
			pk := kern.(*poolKernel)
			s, err := pk.shape(x)
			if err != nil {
				t.Fatalf("geometry %d: %v", gi, err)
			}
			plane := x.F32()[:s.inSize]
			fast, generic := make([]float32, s.outSize), make([]float32, s.outSize)
			pk.poolPlane2D(s, plane, fast, make([]float32, 2*s.maxRowLen()))
			pk.poolPlane(s, plane, generic, nil, 0, make([]int, 2))
			for i := range fast {
				if math.Abs(float64(fast[i]-generic[i])) > 1e-5 {
					t.Fatalf("kind %d geometry %d: out[%d] fast %g, generic %g", kind, gi, i, fast[i], generic[i])
				}
			}
			if s.windowsInside {
				direct := make([]float32, s.outSize)
				s.maxPlaneDirect(plane, direct)
				for i := range direct {
					if direct[i] != generic[i] {
						t.Fatalf("geometry %d: out[%d] direct %g, generic %g", gi, i, direct[i], generic[i])
					}
				}
				directChecked++
			}
		}
	}
	if directChecked < 3 {
		t.Errorf("the direct max pool ran on %d geometries, want ≥ 3", directChecked)
	}
}

func TestGlobalPools(t *testing.T) {
	t.Parallel()
	x := tensor.New([]int{1, 2, 2, 2}, []float32{1, -2, 3, 4, -1, -5, 0, 2})
	for _, tc := range []struct {
		kind poolKind
		want []float32
	}{
		{poolMax, []float32{4, 2}},
		{poolAvg, []float32{1.5, -1}},
		{poolLp, []float32{float32(math.Sqrt(30)), float32(math.Sqrt(30))}},
	} {
		kern, err := poolFactory(tc.kind, true)(convTestNode("GlobalPool", nil, 1))
		if err != nil {
			t.Fatal(err)
		}
		outs, err := kern.Run(NewContext(1), []*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		y := outs[0]
		if !tensor.SameShape(y.Shape, []int{1, 2, 1, 1}) {
			t.Fatalf("kind %d: shape %v", tc.kind, y.Shape)
		}
		for i, v := range y.F32() {
			if math.Abs(float64(v-tc.want[i])) > 1e-5 {
				t.Errorf("kind %d: y[%d] = %g, want %g", tc.kind, i, v, tc.want[i])
			}
		}
	}
}

// BenchmarkMaxPoolResNet is ResNet-18's stem pool: 3×3, stride 2, pad 1 over 64×112×112, on 1
// and 2 threads, into a reused output as a session's arena gives it (a fresh 800 KB output per
// run made the benchmark measure the garbage collector: ≈ 0.5 ms of CPU per run).
func BenchmarkMaxPoolResNet(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randTensor(r, 1, 64, 112, 112)
	kern, err := poolFactory(poolMax, false)(convTestNode("MaxPool",
		map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}, 1))
	if err != nil {
		b.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			ctx := &Context{Threads: threads, Allocator: reusedOutput{}}
			start := testutil.ProcessCPU()
			for b.Loop() {
				if _, err := kern.Run(ctx, []*tensor.Tensor{x}); err != nil {
					b.Fatal(err)
				}
			}
			testutil.ReportCPU(b, start, 64*56*56*9)
		})
	}
}

// TestPoolGeometryOwnsItsDims runs a pooling kernel, then rewrites the first input's shape
// storage in place (as the runtime's arena reuses a run's shape slab) and runs it on an input of
// the original shape: the cached geometry must not have kept the first input's dims by reference.
func TestPoolGeometryOwnsItsDims(t *testing.T) {
	t.Parallel()
	for op, kind := range map[string]poolKind{"AveragePool": poolAvg, "MaxPool": poolMax} {
		k, err := poolFactory(kind, false)(convTestNode(op, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}}, 1))
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(81, 82))
		x := randTensor(r, 1, 2, 4, 6)
		first, err := k.Run(NewContext(1), []*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		want := first[0].Clone()
		copy(x.Shape, []int{1, 2, 6, 4}) // the storage now describes another tensor
		again := &tensor.Tensor{DType: x.DType, Shape: []int{1, 2, 4, 6}, Data: x.Data}
		got, err := k.Run(NewContext(1), []*tensor.Tensor{again})
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if err := tensor.AllClose(got[0], want, 0, 0); err != nil {
			t.Fatalf("%s: second run: %v", op, err)
		}
	}
}

// refMaxPool2D is a 2-D MaxPool from the ONNX definition, in float64: each output the largest
// of its window's taps inside the image, NaN if any of them is NaN, +0 over −0 (Go's max, which
// the kernels keep), −∞ for a window wholly in the padding.
func refMaxPool2D(x *tensor.Tensor, kernel, strides, dilations, padBegin, out []int) []float32 {
	planes, ih, iw := x.Shape[0]*x.Shape[1], x.Shape[2], x.Shape[3]
	xv := x.F32()
	y := make([]float32, 0, planes*out[0]*out[1])
	for p := range planes {
		for oy := range out[0] {
			for ox := range out[1] {
				best, nan := math.Inf(-1), false
				for ky := range kernel[0] {
					for kx := range kernel[1] {
						iy, ix := oy*strides[0]-padBegin[0]+ky*dilations[0], ox*strides[1]-padBegin[1]+kx*dilations[1]
						if iy < 0 || iy >= ih || ix < 0 || ix >= iw {
							continue
						}
						v := float64(xv[(p*ih+iy)*iw+ix])
						nan = nan || math.IsNaN(v)
						if v > best || v == 0 && best == 0 && !math.Signbit(v) {
							best = v
						}
					}
				}
				if nan {
					best = math.NaN()
				}
				y = append(y, float32(best))
			}
		}
	}
	return y
}

// TestMaxPoolRowKernel runs MaxPool through the row kernel (vecmath.MaxPool2D) on the shapes CNNs
// use and on random ones — odd sides, padding, ceil mode, dilations, rows narrower than a vector —
// with NaN, ±Inf and signed zeros among the inputs, on one thread and two, against
// refMaxPool2D; and checks which pools take the kernel (not Indices, not a horizontal stride
// of 3).
func TestMaxPoolRowKernel(t *testing.T) {
	t.Parallel()
	type pool struct {
		shape []int
		attrs map[string]any
	}
	pools := []pool{
		{[]int{1, 64, 112, 112}, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}},
		{[]int{2, 3, 17, 19}, map[string]any{"kernel_shape": []int{3, 3}, "pads": []int{1, 1, 1, 1}}},
		{[]int{1, 5, 15, 15}, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}}},
		{[]int{1, 4, 15, 33}, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "ceil_mode": 1}},
	}
	r := rand.New(rand.NewPCG(61, 62))
	for len(pools) < 60 {
		k := []int{1 + r.IntN(4), 1 + r.IntN(4)}
		d := []int{1 + r.IntN(2), 1 + r.IntN(2)}
		attrs := map[string]any{
			"kernel_shape": k, "strides": []int{1 + r.IntN(3), 1 + r.IntN(2)}, "dilations": d,
			"pads": []int{r.IntN(k[0]), r.IntN(k[1]), r.IntN(k[0]), r.IntN(k[1])},
		}
		if r.IntN(2) == 0 {
			attrs["ceil_mode"] = 1
		}
		shape := []int{1 + r.IntN(2), 1 + r.IntN(3), (k[0]-1)*d[0] + 1 + r.IntN(30), (k[1]-1)*d[1] + 1 + r.IntN(40)}
		pools = append(pools, pool{shape, attrs})
	}
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1))}
	for _, pl := range pools {
		x := randTensor(r, pl.shape...)
		xv := x.F32()
		for i := range xv {
			if r.IntN(12) == 0 {
				xv[i] = special[r.IntN(len(special))]
			}
		}
		f, err := poolFactory(poolMax, false)(convTestNode("MaxPool", pl.attrs, 1))
		if err != nil {
			t.Fatal(err)
		}
		k := f.(*poolKernel)
		s, err := k.cachedShape(x)
		if err != nil {
			t.Fatalf("%v %v: %v", pl.shape, pl.attrs, err)
		}
		if s.rowPool == nil {
			t.Fatalf("%v %v: the row kernel was not planned", pl.shape, pl.attrs)
		}
		s.evenPairs2x2 = false // the row kernel, also where MaxPool2x2 would run
		want := refMaxPool2D(x, s.kernel, s.strides, s.dilations, s.padBegin, s.out)
		for threads := 1; threads <= 2; threads++ {
			outs, err := k.Run(NewContext(threads), []*tensor.Tensor{x})
			if err != nil {
				t.Fatal(err)
			}
			for i, g := range outs[0].F32() {
				if w := want[i]; math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
					t.Fatalf("%v %v, %d threads: y[%d] = %g, want %g", pl.shape, pl.attrs, threads, i, g, w)
				}
			}
		}
	}
	x := randTensor(r, 1, 2, 9, 9)
	for _, c := range []struct {
		attrs   map[string]any
		outputs int
	}{
		{map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}}, 2}, // Indices
		{map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{1, 3}}, 1},
	} {
		f, err := poolFactory(poolMax, false)(convTestNode("MaxPool", c.attrs, 1))
		if err != nil {
			t.Fatal(err)
		}
		k := f.(*poolKernel)
		k.wantIndices = c.outputs == 2
		if s, err := k.shape(x); err != nil || s.rowPool != nil {
			t.Errorf("%v with %d outputs: row kernel %v (error %v), want none", c.attrs, c.outputs, s.rowPool != nil, err)
		}
	}
}

// TestAveragePoolRowKernel runs AveragePool through the row kernel (vecmath.Pool2D) on random
// 2-D geometries (odd sides, padding, ceil mode, dilations, count_include_pad both ways) with
// ±Inf and NaN among the inputs, on one thread and two, against the generic per-tap path, which
// the ONNX suite pins (within float32 rounding, the same NaN and infinities), and against the
// separable path it replaced (poolPlane2D), bit for bit.
func TestAveragePoolRowKernel(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(63, 64))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0}
	for trial := range 60 {
		k := []int{1 + r.IntN(4), 1 + r.IntN(4)}
		d := []int{1 + r.IntN(2), 1 + r.IntN(2)}
		attrs := map[string]any{
			"kernel_shape": k, "strides": []int{1 + r.IntN(3), 1 + r.IntN(2)}, "dilations": d,
			"pads":              []int{r.IntN(k[0]), r.IntN(k[1]), r.IntN(k[0]), r.IntN(k[1])},
			"count_include_pad": trial % 2,
		}
		if r.IntN(2) == 0 {
			attrs["ceil_mode"] = 1
		}
		shape := []int{1 + r.IntN(2), 1 + r.IntN(3), (k[0]-1)*d[0] + 1 + r.IntN(30), (k[1]-1)*d[1] + 1 + r.IntN(40)}
		x := randTensor(r, shape...)
		xv := x.F32()
		for i := range xv {
			if r.IntN(40) == 0 {
				xv[i] = special[r.IntN(len(special))]
			}
		}
		f, err := poolFactory(poolAvg, false)(convTestNode("AveragePool", attrs, 1))
		if err != nil {
			t.Fatal(err)
		}
		pk := f.(*poolKernel)
		s, err := pk.cachedShape(x)
		if err != nil {
			t.Fatalf("%v %v: %v", shape, attrs, err)
		}
		if s.rowPool == nil {
			t.Fatalf("%v %v: the row kernel was not planned", shape, attrs)
		}
		want, separable := make([]float32, s.planes*s.outSize), make([]float32, s.planes*s.outSize)
		for p := range s.planes {
			plane := xv[p*s.inSize : (p+1)*s.inSize]
			pk.poolPlane(s, plane, want[p*s.outSize:(p+1)*s.outSize], nil, 0, make([]int, 2))
			pk.poolPlane2D(s, plane, separable[p*s.outSize:(p+1)*s.outSize], make([]float32, 2*s.maxRowLen()))
		}
		for threads := 1; threads <= 2; threads++ {
			outs, err := pk.Run(NewContext(threads), []*tensor.Tensor{x})
			if err != nil {
				t.Fatal(err)
			}
			for i, g := range outs[0].F32() {
				if sep := separable[i]; math.Float32bits(g) != math.Float32bits(sep) && !(g != g && sep != sep) {
					t.Fatalf("%v %v, %d threads: y[%d] = %g, the separable path's %g", shape, attrs, threads, i, g, sep)
				}
				w := want[i]
				same := g == w || g != g && w != w
				if !same && !(math.Abs(float64(g-w)) <= 1e-5*(1+math.Abs(float64(w)))) {
					t.Fatalf("%v %v, %d threads: y[%d] = %g, want %g", shape, attrs, threads, i, g, w)
				}
			}
		}
	}
}
