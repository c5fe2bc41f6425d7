// Package acttest holds what the tests of the ai.actswap operators share across packages
// (onnxops' function bodies, internal/actkernel's loops, runtime/ops' registered kernels, the
// onnxruntime plugin): parameter cases covering every kernel path, inputs with the special
// values, and the comparison with the float64 reference. Only tests import it.
package acttest

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// KernelCase is one parameterisation of an operator: one parameter set per channel (one set:
// per tensor) and the node attributes.
type KernelCase struct {
	Name  string
	Fam   onnxops.Family
	Chans []onnxops.Params
	Gate  bool
}

func ReluPWLU(bl, br float64, n int) onnxops.PWLUParams {
	p := onnxops.PWLUParams{BL: bl, BR: br, KL: 0, KR: 1}
	for i := 0; i <= n; i++ {
		p.Heights = append(p.Heights, onnxops.ReLU(bl+float64(i)*(br-bl)/float64(n)))
	}
	return p
}

func KernelCases() []KernelCase {
	asym := onnxops.ZorroParams{AN: 0.7, BN: -1.5, AP: 2.2, BP: 0.9, InScale: 1.3, InShift: 0.1, OutScale: 0.8, OutShift: 0.05}
	bumpy := onnxops.PWLUParams{BL: -1.7, BR: 2.3, Heights: []float64{0.3, -0.2, 0.1, 0.9, 1.7, 2.0}, KL: -0.05, KR: 1.1}
	flat := onnxops.PWLUParams{BL: -1, BR: 1, Heights: []float64{0.5, 0, 0.25, 1}, KL: 0, KR: 0}
	return []KernelCase{
		{"crrelu eps=0.01", onnxops.FamilyCRReLU, []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.01}}, false},
		{"crrelu eps=-1.5", onnxops.FamilyCRReLU, []onnxops.Params{onnxops.CRReLUParams{Epsilon: -1.5}}, false},
		{"crrelu per-channel", onnxops.FamilyCRReLU, []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.01}, onnxops.CRReLUParams{Epsilon: -0.2}, onnxops.CRReLUParams{Epsilon: 0.5}}, false},
		{"pwlu relu N=16", onnxops.FamilyPWLU, []onnxops.Params{ReluPWLU(-3, 3, 16)}, false},
		{"pwlu bumpy N=5", onnxops.FamilyPWLU, []onnxops.Params{bumpy}, false},
		{"pwlu flat tails", onnxops.FamilyPWLU, []onnxops.Params{flat}, false},
		{"pwlu N=27 (32-entry table)", onnxops.FamilyPWLU, []onnxops.Params{WigglyPWLU(-2.5, 4, 27)}, false},
		{"pwlu N=64", onnxops.FamilyPWLU, []onnxops.Params{WigglyPWLU(-6, 6, 64)}, false},
		{"pwlu N=100 (gather)", onnxops.FamilyPWLU, []onnxops.Params{WigglyPWLU(-5, 5, 100)}, false},
		{"pwlu far from 0", onnxops.FamilyPWLU, []onnxops.Params{WigglyPWLU(1000, 1001, 16)}, false},
		{"pwlu per-channel", onnxops.FamilyPWLU, []onnxops.Params{ReluPWLU(-2, 2, 4), onnxops.PWLUParams{BL: -0.5, BR: 3, Heights: []float64{0, 1, -1, 2, 0.5}, KL: 0.2, KR: -0.3}, Flat4()}, false},
		{"zorro symmetric", onnxops.FamilyZorro, []onnxops.Params{onnxops.SymmetricZorro(1.2, 1)}, false},
		{"zorro sigmoid", onnxops.FamilyZorro, []onnxops.Params{onnxops.SigmoidZorro(4, 2, 0.5)}, false},
		{"zorro tanh", onnxops.FamilyZorro, []onnxops.Params{onnxops.TanhZorro(4, 2, 1)}, false},
		{"zorro a·b=100", onnxops.FamilyZorro, []onnxops.Params{onnxops.SymmetricZorro(4, 25)}, false},
		{"zorro a·b=400", onnxops.FamilyZorro, []onnxops.Params{onnxops.SymmetricZorro(8, 50)}, false},
		{"zorro asymmetric β<0", onnxops.FamilyZorro, []onnxops.Params{asym}, false},
		{"zorro gate sigmoid", onnxops.FamilyZorro, []onnxops.Params{Gated(onnxops.SigmoidZorro(2.8, 14.3, 0.685))}, true},
		{"zorro gate asymmetric", onnxops.FamilyZorro, []onnxops.Params{Gated(asym)}, true},
		{"zorro gate GELU default", onnxops.FamilyZorro, []onnxops.Params{GELUZorro}, true},
		{"zorro per-channel gate", onnxops.FamilyZorro, []onnxops.Params{Gated(onnxops.SymmetricZorro(1.2, 1)), Gated(onnxops.SigmoidZorro(4, 30, 0.5)), Gated(asym)}, true},
		// 19 channels: two full groups of 8 for the rows kernels (channel axis last) and a tail.
		{"crrelu 19 channels", onnxops.FamilyCRReLU, ManyChannels(19, func(i int) onnxops.Params { return onnxops.CRReLUParams{Epsilon: 0.1*float64(i) - 0.9} }), false},
		{"pwlu 19 channels", onnxops.FamilyPWLU, ManyChannels(19, func(i int) onnxops.Params { return WigglyPWLU(-2-0.1*float64(i), 1+0.2*float64(i), 12) }), false},
		{"zorro 19 channels", onnxops.FamilyZorro, ManyChannels(19, func(i int) onnxops.Params {
			return onnxops.ZorroParams{AN: 0.5 + 0.3*float64(i), BN: 2 - 0.2*float64(i), AP: 4, BP: 0.5 * float64(i), InScale: 1 + 0.05*float64(i), InShift: 0.1, OutScale: 1, OutShift: -0.01 * float64(i)}
		}), false},
		// A per-tensor set that absorbed a per-channel bias (rewrite): channels differ only in
		// where they sit on x, which the PWLU kernel runs as a shift and one per-tensor table.
		{"pwlu 19 shifted channels", onnxops.FamilyPWLU, ManyChannels(19, func(i int) onnxops.Params { return Shifted(WigglyPWLU(-3, 3, 16), 0.37*float64(i)-3) }), false},
		{"zorro 19 shifted channels", onnxops.FamilyZorro, ManyChannels(19, func(i int) onnxops.Params { return Shifted(onnxops.SigmoidZorro(4, 2, 0.5), 0.37*float64(i)-3) }), false},
	}
}

func ManyChannels(c int, f func(i int) onnxops.Params) []onnxops.Params {
	ps := make([]onnxops.Params, c)
	for i := range ps {
		ps[i] = f(i)
	}
	return ps
}

// WigglyPWLU has heights onnxops.GELU(B_i) + a deterministic wiggle, so that every segment differs.
func WigglyPWLU(bl, br float64, n int) onnxops.PWLUParams {
	p := onnxops.PWLUParams{BL: bl, BR: br, KL: -0.01, KR: 1.02}
	for i := 0; i <= n; i++ {
		b := bl + float64(i)*(br-bl)/float64(n)
		p.Heights = append(p.Heights, onnxops.GELU(b)+0.05*math.Sin(float64(7*i)))
	}
	return p
}

func Flat4() onnxops.PWLUParams {
	return onnxops.PWLUParams{BL: -4, BR: 0, Heights: []float64{1, 0, 0, 0, 0}, KL: 0, KR: 0}
}

// GELUZorro is the shape of rewrite's gated GELU default (rewrite/defaults.go): humps so steep
// (a = 1e4) that they vanish except within 0.01 of z = 0 and z = 1, so that most blocks of a
// vector kernel need no exp, and a few mix both kinds of lanes.
var GELUZorro = Gated(onnxops.ZorroParams{AN: 1e4, BN: 2e-3, AP: 1e4, BP: 2e-3, InScale: 0.31357, InShift: 0.5, OutScale: 1})

// Gated is p with its gate on: Y = X·(out_scale·Z(z) + out_shift).
func Gated(p onnxops.ZorroParams) onnxops.ZorroParams { p.Gate = true; return p }

// Shifted is p absorbing a bias b added to its input (onnxops.ShiftInput); it panics where p
// cannot, a bug in the test.
func Shifted(p onnxops.Params, b float64) onnxops.Params {
	q, err := onnxops.ShiftInput(p, b)
	if err != nil {
		panic(err)
	}
	return q
}

// Float32Params rounds every parameter to float32, as the kernels see them, so that the float64
// reference evaluates the same function.
func Float32Params(t *testing.T, c KernelCase) ([]*tensor.Tensor, []onnxops.Params) {
	t.Helper()
	ts, err := onnxops.ParamTensors(c.Fam, c.Chans)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	ps, err := onnxops.ParamsFromTensors(c.Fam, ts)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	for i := range ps {
		if z, ok := ps[i].(onnxops.ZorroParams); ok {
			z.Gate = c.Gate
			ps[i] = z
		}
	}
	return ts, ps
}

// Inputs covers every region of the three functions, knots, and the special values.
func Inputs(n int, rng *rand.Rand) []float32 {
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 1, -1, 0.5,
		40, -40, 40.0001, -41, 1e30, -1e30, 3e38, -3e38, 1e-30, -3, 3, 2, -2, 2.3, -1.7, 87, -87, 200, -200}
	xs := make([]float32, n)
	for i := range xs {
		switch {
		case i < len(special):
			xs[i] = special[i]
		case i%5 == 0:
			xs[i] = float32(rng.NormFloat64() * 30)
		default:
			xs[i] = float32(rng.NormFloat64() * 3)
		}
	}
	return xs
}

// CheckAgainstReference compares a kernel's output with the float64 reference, channel by
// channel along axis.
func CheckAgainstReference(t *testing.T, label string, ps []onnxops.Params, shape []int, axis int, xs []float32, ys []float32) {
	t.Helper()
	checkReference(t, label, ps, shape, axis, len(xs), func(i int) (float64, float64) { return float64(xs[i]), float64(ys[i]) },
		math.MaxFloat32, func(got, want float64) (bool, float64) { return Near(got, want, 1e-5), 1e-5 * max(1, math.Abs(want)) })
}

// checkReference evaluates the reference at element i's input (in(i) gives the input and the
// kernel's output), turns values beyond the type's largest finite value into ±Inf, and
// reports up to five elements that ok rejects (ok also returns the tolerance, for the message).
func checkReference(t *testing.T, label string, ps []onnxops.Params, shape []int, axis, n int, in func(i int) (x, got float64), largest float64, ok func(got, want float64) (bool, float64)) {
	t.Helper()
	strides := tensor.Strides(shape)
	if axis < 0 {
		axis += len(shape)
	}
	bad := 0
	for i := range n {
		ch := 0
		if len(ps) > 1 {
			ch = i / strides[axis] % shape[axis]
		}
		x, got := in(i)
		want := ps[ch].Eval(x)
		if math.Abs(want) > largest { // beyond the type's range: the result is ±Inf
			want = math.Inf(int(math.Copysign(1, want)))
		}
		if good, tol := ok(got, want); !good {
			if bad++; bad <= 5 {
				t.Errorf("%s: x=%v (channel %d): got %v, want %v (tolerance %.3g)", label, x, ch, got, want, tol)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d mismatches in all", label, bad)
	}
}

// HalfTolerance bounds a float16 result against the float64 value of OPS.md at the same float16
// input: the float32 kernel's 1e-5·max(1,|y|) (OPS.md's bound), then one rounding to float16,
// half an ulp: 2⁻¹¹·|y| for normal results, 2⁻²⁵ in the subnormal range.
func HalfTolerance(want float64) float64 {
	return 1e-5*max(1, math.Abs(want)) + math.Ldexp(math.Abs(want), -11) + math.Ldexp(1, -25)
}

// CheckFloat16AgainstReference is CheckAgainstReference for a float16 kernel: ys against the
// float64 reference at the float16 inputs xs within HalfTolerance, results beyond float16's
// range being ±Inf.
func CheckFloat16AgainstReference(t *testing.T, label string, ps []onnxops.Params, shape []int, axis int, xs, ys []tensor.Float16Bits) {
	t.Helper()
	// float16's largest finite value is 65504; from 65520 on, a value rounds to ±Inf.
	checkReference(t, label, ps, shape, axis, len(xs), func(i int) (float64, float64) { return float64(xs[i].Float32()), float64(ys[i].Float32()) },
		65519.99, func(got, want float64) (bool, float64) {
			return Near(got, want, 0) || math.Abs(got-want) <= HalfTolerance(want), HalfTolerance(want)
		})
}

// Near reports |got − want| ≤ tol·max(1, |want|), with NaN matching only NaN and infinities
// matching only the same infinity.
func Near(got, want, tol float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	if math.IsInf(want, 0) || math.IsInf(got, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol*max(1, math.Abs(want))
}

// SaveModel writes m to a file in the test's temporary folder and returns its path.
func SaveModel(t testing.TB, m *onnx.ModelProto) string {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
