package ops

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/actswap/actswap/tensor"
)

func TestUnaryAndActivations(t *testing.T) {
	t.Parallel()
	xs := []float64{-3, -1.5, -0.5, 0, 0.25, 1, 2.5}
	in := make([]float32, len(xs))
	for i, v := range xs {
		in[i] = float32(v)
	}
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	cases := []struct {
		op    string
		ver   int
		attrs kattr
		ref   func(float64) float64
	}{
		{"Relu", 14, nil, func(x float64) float64 { return math.Max(x, 0) }},
		{"LeakyRelu", 16, kattr{"alpha": 0.1}, func(x float64) float64 {
			if x < 0 {
				return 0.1 * x
			}
			return x
		}},
		{"Elu", 22, kattr{"alpha": 2.0}, func(x float64) float64 {
			if x < 0 {
				return 2 * (math.Exp(x) - 1)
			}
			return x
		}},
		{"Selu", 22, nil, func(x float64) float64 {
			const a, g = 1.6732632423543772, 1.0507009873554805
			if x <= 0 {
				return g * a * (math.Exp(x) - 1)
			}
			return g * x
		}},
		{"Celu", 12, kattr{"alpha": 2.0}, func(x float64) float64 {
			return math.Max(0, x) + math.Min(0, 2*(math.Exp(x/2)-1))
		}},
		{"HardSigmoid", 22, nil, func(x float64) float64 { return math.Max(0, math.Min(1, 0.2*x+0.5)) }},
		{"HardSwish", 22, nil, func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) }},
		{"Softplus", 22, nil, func(x float64) float64 { return math.Log(1 + math.Exp(x)) }},
		{"Softsign", 22, nil, func(x float64) float64 { return x / (1 + math.Abs(x)) }},
		{"Mish", 22, nil, func(x float64) float64 { return x * math.Tanh(math.Log(1+math.Exp(x))) }},
		{"ThresholdedRelu", 22, kattr{"alpha": 0.5}, func(x float64) float64 {
			if x > 0.5 {
				return x
			}
			return 0
		}},
		{"Sigmoid", 13, nil, sig},
		{"Tanh", 13, nil, math.Tanh},
		{"Swish", 24, kattr{"alpha": 1.5}, func(x float64) float64 { return x * sig(1.5*x) }},
		{"Gelu", 20, nil, func(x float64) float64 { return x / 2 * (1 + math.Erf(x/math.Sqrt2)) }},
		{"Gelu", 20, kattr{"approximate": "tanh"}, func(x float64) float64 {
			return x / 2 * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}},
		{"Shrink", 9, kattr{"lambd": 1.0, "bias": 0.5}, func(x float64) float64 {
			switch {
			case x < -1:
				return x + 0.5
			case x > 1:
				return x - 0.5
			}
			return 0
		}},
		{"Round", 22, nil, math.RoundToEven},
		{"Sign", 13, nil, func(x float64) float64 {
			if x == 0 {
				return 0
			}
			return math.Copysign(1, x)
		}},
		{"Erf", 13, nil, math.Erf},
		{"Atan", 22, nil, math.Atan},
		{"Clip", 6, kattr{"min": -1.0, "max": 1.0}, func(x float64) float64 { return math.Max(-1, math.Min(1, x)) }},
	}
	for _, c := range cases {
		want := make([]float64, len(xs))
		for i, x := range xs {
			want[i] = c.ref(float64(float32(x)))
		}
		got := runKernel(t, c.op, c.ver, c.attrs, 1, f32t([]int{len(in)}, in...))
		wantClose(t, c.op, got[0], []int{len(in)}, want, 1e-6)
		// float64 and float16 inputs go through the same formula.
		got64 := runKernel(t, c.op, c.ver, c.attrs, 1, tensor.New([]int{len(xs)}, xs))
		wantClose(t, c.op+"/float64", got64[0], []int{len(xs)}, want, 1e-7) // attributes are float32
		h := make([]tensor.Float16Bits, len(xs))
		for i, v := range xs {
			h[i] = tensor.Float16FromFloat32(float32(v))
		}
		got16 := runKernel(t, c.op, c.ver, c.attrs, 1, tensor.New([]int{len(xs)}, h))
		if got16[0].DType != tensor.Float16 {
			t.Fatalf("%s: float16 input gave %v", c.op, got16[0].DType)
		}
		wantClose(t, c.op+"/float16", got16[0], []int{len(xs)}, want, 2e-3)
	}
}

func TestClipInputsAndInts(t *testing.T) {
	t.Parallel()
	x := f32t([]int{4}, -2, -0.5, 0.5, 2)
	got := runKernel(t, "Clip", 13, nil, 1, x, tensor.Scalar[float32](-1), nil)
	wantClose(t, "Clip min only", got[0], []int{4}, []float64{-1, -0.5, 0.5, 2}, 0)
	got = runKernel(t, "Clip", 13, nil, 1, x, nil, tensor.Scalar[float32](0))
	wantClose(t, "Clip max only", got[0], []int{4}, []float64{-2, -0.5, 0, 0}, 0)
	xi := tensor.New([]int{3}, []int64{math.MinInt64, 5, math.MaxInt64})
	got = runKernel(t, "Clip", 13, nil, 1, xi, tensor.Scalar[int64](-3), tensor.Scalar[int64](math.MaxInt64-1))
	if v := got[0].I64(); v[0] != -3 || v[1] != 5 || v[2] != math.MaxInt64-1 {
		t.Fatalf("int64 Clip = %v", v)
	}
}

func TestBinaryBroadcastAndTypes(t *testing.T) {
	t.Parallel()
	a := f32t([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	b := f32t([]int{3}, 10, 20, 30)
	col := f32t([]int{2, 1}, 2, 4)
	cases := []struct {
		op   string
		x, y *tensor.Tensor
		want []float64
	}{
		{"Add", a, b, []float64{11, 22, 33, 14, 25, 36}},
		{"Sub", b, a, []float64{9, 18, 27, 6, 15, 24}},
		{"Mul", a, col, []float64{2, 4, 6, 16, 20, 24}},
		{"Div", a, col, []float64{0.5, 1, 1.5, 1, 1.25, 1.5}},
		{"Pow", a, col, []float64{1, 4, 9, 256, 625, 1296}},
	}
	for _, c := range cases {
		got := runKernel(t, c.op, 14, nil, 1, c.x, c.y)
		wantClose(t, c.op, got[0], []int{2, 3}, c.want, 1e-7)
	}
	// Integer division truncates toward zero; Mod follows the divisor's sign unless fmod=1.
	xi := tensor.New([]int{4}, []int32{-7, 7, -7, 7})
	yi := tensor.New([]int{4}, []int32{2, -2, -2, 0})
	got := runKernel(t, "Div", 14, nil, 1, xi, yi)
	wantClose(t, "Div int", got[0], []int{4}, []float64{-3, -3, 3, 0}, 0)
	got = runKernel(t, "Mod", 13, nil, 1, xi, yi)
	wantClose(t, "Mod int", got[0], []int{4}, []float64{1, -1, -1, 0}, 0)
	got = runKernel(t, "Mod", 13, kattr{"fmod": 1}, 1, f32t([]int{2}, -7.5, 7.5), f32t([]int{2}, 2, -2))
	wantClose(t, "Mod fmod", got[0], []int{2}, []float64{-1.5, 1.5}, 1e-7)
	// Pow with an int64 exponent keeps the base type and is exact for integers.
	got = runKernel(t, "Pow", 15, nil, 1, tensor.New([]int{2}, []int64{3, -2}), tensor.New([]int{2}, []int64{39, 3}))
	if v := got[0].I64(); v[0] != 4052555153018976267 || v[1] != -8 {
		t.Fatalf("int Pow = %v", v)
	}
	if err := kernelErr("Add", 14, nil, a, f32t([]int{2}, 1, 2)); err == nil || !strings.Contains(err.Error(), "broadcast") {
		t.Fatalf("mismatched shapes: err = %v", err)
	}
	if err := kernelErr("Add", 14, nil, a, i64t([]int{1}, 1)); err == nil {
		t.Fatal("mixed dtypes should fail")
	}
}

func TestLegacyBroadcastAxis(t *testing.T) {
	t.Parallel()
	a := f32t([]int{2, 3, 2}, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1)
	b := f32t([]int{3}, 1, 2, 3)
	got := runKernel(t, "Add", 6, kattr{"broadcast": 1, "axis": 1}, 1, a, b)
	wantClose(t, "Add axis=1", got[0], []int{2, 3, 2}, []float64{1, 1, 2, 2, 3, 3, 2, 2, 3, 3, 4, 4}, 0)
}

func TestVariadic(t *testing.T) {
	t.Parallel()
	x := f32t([]int{3}, 1, 5, float32(math.NaN()))
	y := f32t([]int{1}, 3)
	z := f32t([]int{2, 1}, 0, 10)
	got := runKernel(t, "Max", 13, nil, 1, x, y, z)
	nan := math.NaN()
	wantClose(t, "Max", got[0], []int{2, 3}, []float64{3, 5, nan, 10, 10, nan}, 0)
	got = runKernel(t, "Mean", 13, nil, 1, f32t([]int{2}, 1, 2), f32t([]int{2}, 3, 6))
	wantClose(t, "Mean", got[0], []int{2}, []float64{2, 4}, 0)
	got = runKernel(t, "Sum", 13, nil, 1, f32t([]int{2}, 1, 2))
	wantClose(t, "Sum of one", got[0], []int{2}, []float64{1, 2}, 0)
}

func TestCompareLogicalBitwise(t *testing.T) {
	t.Parallel()
	a := f32t([]int{4}, 1, 2, float32(math.NaN()), 4)
	b := f32t([]int{1}, 2)
	for op, want := range map[string][]bool{
		"Equal":          {false, true, false, false},
		"Greater":        {false, false, false, true},
		"GreaterOrEqual": {false, true, false, true},
		"Less":           {true, false, false, false},
		"LessOrEqual":    {true, true, false, false},
	} {
		got := runKernel(t, op, 16, nil, 1, a, b)[0].Data.([]bool)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s = %v, want %v", op, got, want)
			}
		}
	}
	p := tensor.New([]int{2, 2}, []bool{true, true, false, false})
	q := tensor.New([]int{2}, []bool{true, false})
	for op, want := range map[string][]bool{
		"And": {true, false, false, false},
		"Or":  {true, true, true, false},
		"Xor": {false, true, true, false},
	} {
		got := runKernel(t, op, 7, nil, 1, p, q)[0].Data.([]bool)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s = %v, want %v", op, got, want)
			}
		}
	}
	u := tensor.New([]int{3}, []uint8{1, 0x80, 0xff})
	s := tensor.New([]int{3}, []uint8{3, 1, 4})
	got := runKernel(t, "BitShift", 11, kattr{"direction": "LEFT"}, 1, u, s)[0].Data.([]uint8)
	if got[0] != 8 || got[1] != 0 || got[2] != 0xf0 {
		t.Fatalf("BitShift LEFT = %v", got)
	}
	got = runKernel(t, "BitwiseXor", 18, nil, 1, u, s)[0].Data.([]uint8)
	if got[0] != 2 || got[1] != 0x81 || got[2] != 0xfb {
		t.Fatalf("BitwiseXor = %v", got)
	}
	if err := kernelErr("BitShift", 11, kattr{"direction": "UP"}, u, s); err == nil {
		t.Fatal("bad direction accepted")
	}
	if err := kernelErr("BitwiseNot", 18, nil, f32t([]int{1}, 1)); err == nil {
		t.Fatal("BitwiseNot on float accepted")
	}
}

func TestWhere(t *testing.T) {
	t.Parallel()
	c := tensor.New([]int{2, 1}, []bool{true, false})
	x := f32t([]int{3}, 1, 2, 3)
	y := f32t([]int{}, -1)
	got := runKernel(t, "Where", 16, nil, 1, c, x, y)
	wantClose(t, "Where", got[0], []int{2, 3}, []float64{1, 2, 3, -1, -1, -1}, 0)
	s := runKernel(t, "Where", 16, nil, 1, tensor.New([]int{2}, []bool{false, true}),
		tensor.New([]int{2}, []string{"a", "b"}), tensor.New([]int{2}, []string{"c", "d"}))
	if v := s[0].Data.([]string); v[0] != "c" || v[1] != "b" {
		t.Fatalf("string Where = %v", v)
	}
}

// TestWhereBroadcasts runs Where over every combination of a broadcast (repeated) or full
// condition, X and Y along the innermost axis and across rows — a causal mask's [T,T] condition
// with a scalar −∞ among them — against an element-by-element evaluation of the definition.
func TestWhereBroadcasts(t *testing.T) {
	t.Parallel()
	const rows, cols = 3, 37
	shapes := [][]int{{}, {cols}, {rows, 1}, {rows, cols}, {2, rows, cols}}
	r := rand.New(rand.NewPCG(3, 4))
	for _, cs := range shapes {
		for _, xs := range shapes {
			for _, ys := range shapes {
				cv := make([]bool, tensor.NumElements(cs))
				for i := range cv {
					cv[i] = r.IntN(2) == 0
				}
				xv, yv := make([]float32, tensor.NumElements(xs)), make([]float32, tensor.NumElements(ys))
				for i := range xv {
					xv[i] = float32(i + 1)
				}
				for i := range yv {
					yv[i] = -float32(i + 1)
				}
				got := runKernel(t, "Where", 16, nil, 1, tensor.New(cs, cv), tensor.New(xs, xv), tensor.New(ys, yv))[0]
				out := make([]int, max(len(cs), len(xs), len(ys)))
				for _, s := range [][]int{cs, xs, ys} {
					for k, d := range s {
						at := len(out) - len(s) + k
						out[at] = max(out[at], d)
					}
				}
				if !slices.Equal(got.Shape, out) {
					t.Fatalf("c%v x%v y%v: shape %v, want %v", cs, xs, ys, got.Shape, out)
				}
				// at is the flat index in an input of shape s of output element o (numpy's
				// broadcasting: dims aligned at the right, size-1 and missing dims repeat).
				at := func(s []int, o int) int {
					idx, stride := 0, 1
					for d := len(out) - 1; d >= 0; d-- {
						coord := o % out[d]
						o /= out[d]
						if k := d - (len(out) - len(s)); k >= 0 && s[k] > 1 {
							idx += coord * stride
							stride *= s[k]
						}
					}
					return idx
				}
				g := got.F32()
				for o := range g {
					want := yv[at(ys, o)]
					if cv[at(cs, o)] {
						want = xv[at(xs, o)]
					}
					if g[o] != want {
						t.Fatalf("c%v x%v y%v: out[%d] = %g, want %g", cs, xs, ys, o, g[o], want)
					}
				}
			}
		}
	}
}

func TestCast(t *testing.T) {
	t.Parallel()
	x := f32t([]int{5}, -1.7, 0.5, 2.5, 300, float32(math.Inf(1)))
	got := runKernel(t, "Cast", 21, kattr{"to": int(tensor.Int32)}, 1, x)[0].Data.([]int32)
	if got[0] != -1 || got[1] != 0 || got[2] != 2 || got[3] != 300 {
		t.Fatalf("float→int32 = %v", got)
	}
	s := runKernel(t, "Cast", 21, kattr{"to": int(tensor.String)}, 1, x)[0].Data.([]string)
	if strings.Join(s, " ") != "-1.7 0.5 2.5 300 INF" {
		t.Fatalf("float→string = %v", s)
	}
	h16 := tensor.New([]int{2}, []tensor.Float16Bits{tensor.Float16FromFloat32(0.1), tensor.Float16FromFloat32(-1500)})
	if s := runKernel(t, "Cast", 21, kattr{"to": int(tensor.String)}, 1, h16)[0].Data.([]string); s[0] != "0.1" || s[1] != "-1500" {
		t.Fatalf("float16→string = %v", s)
	}
	back := runKernel(t, "Cast", 21, kattr{"to": int(tensor.Float32)}, 1, tensor.New([]int{3}, []string{"1e-3", "-INF", "NaN"}))
	wantClose(t, "string→float", back[0], []int{3}, []float64{1e-3, math.Inf(-1), math.NaN()}, 1e-7)
	big := tensor.New([]int{1}, []uint64{math.MaxUint64})
	i := runKernel(t, "Cast", 21, kattr{"to": int(tensor.Int64)}, 1, big)[0].I64()
	if i[0] != -1 {
		t.Fatalf("uint64 max → int64 = %d, want -1 (two's complement)", i[0])
	}
	bc := runKernel(t, "BitCast", 26, kattr{"to": int(tensor.Int32)}, 1, f32t([]int{2}, 1, -2))[0].Data.([]int32)
	if bc[0] != 0x3f800000 || uint32(bc[1]) != 0xc0000000 {
		t.Fatalf("BitCast float32→int32 = %#x", bc)
	}
	h := runKernel(t, "CastLike", 21, nil, 1, f32t([]int{1}, 65519), tensor.New([]int{0}, []tensor.Float16Bits{}))
	if v := h[0].Data.([]tensor.Float16Bits)[0].Float32(); v != 65504 {
		t.Fatalf("CastLike to float16 = %v", v)
	}
}

// TestGeluTail checks that GELU keeps its relative accuracy far into the negative tail, where
// the textbook 1 + erf(x/√2) cancels to zero (reference values: x·Φ(x) from the normal tail).
func TestGeluTail(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ x, want float64 }{
		{-10, -10 * 7.619853024160527e-24},
		{-6, -6 * 9.865876450376946e-10},
		{-1, -1 * 0.15865525393145707},
		{3, 3 * 0.9986501019683699},
	} {
		if got := geluErf(c.x); math.Abs(got-c.want) > 1e-12*math.Abs(c.want) {
			t.Errorf("gelu(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

func TestWindows(t *testing.T) {
	t.Parallel()
	got := runKernel(t, "HannWindow", 17, nil, 1, i64t([]int{}, 4))
	wantClose(t, "Hann periodic", got[0], []int{4}, []float64{0, 0.5, 1, 0.5}, 1e-7)
	got = runKernel(t, "HammingWindow", 17, kattr{"periodic": 0, "output_datatype": int(tensor.Float64)}, 1, i64t([]int{}, 3))
	wantClose(t, "Hamming symmetric", got[0], []int{3}, []float64{4.0 / 46, 1, 4.0 / 46}, 1e-12)
	got = runKernel(t, "BlackmanWindow", 17, nil, 1, i64t([]int{}, 2))
	wantClose(t, "Blackman periodic", got[0], []int{2}, []float64{0, 0.42 + 0.5 + 0.08}, 1e-7)
}

func TestSwiGLU(t *testing.T) {
	t.Parallel()
	a := f32t([]int{3}, -1, 0, 2)
	b := f32t([]int{3}, 2, 5, -3)
	got := runKernel(t, "SwiGLU", 28, kattr{"alpha": 1.5}, 1, a, b)
	sw := func(x float64) float64 { return x / (1 + math.Exp(-1.5*x)) }
	wantClose(t, "SwiGLU", got[0], []int{3}, []float64{sw(-1) * 2, 0, sw(2) * -3}, 1e-6)
	if err := kernelErr("SwiGLU", 28, nil, a, f32t([]int{1}, 1)); err == nil {
		t.Fatal("SwiGLU broadcast accepted")
	}
}
