package onnxops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// kernelCase is one parameterisation of an operator: one parameter set per channel (one set:
// per tensor) and the node attributes.
type kernelCase struct {
	name  string
	fam   Family
	chans []Params
	gate  bool
}

func reluPWLU(bl, br float64, n int) PWLUParams {
	p := PWLUParams{BL: bl, BR: br, KL: 0, KR: 1}
	for i := 0; i <= n; i++ {
		p.Heights = append(p.Heights, ReLU(bl+float64(i)*(br-bl)/float64(n)))
	}
	return p
}

func kernelCases() []kernelCase {
	asym := ZorroParams{AN: 0.7, BN: -1.5, AP: 2.2, BP: 0.9, InScale: 1.3, InShift: 0.1, OutScale: 0.8, OutShift: 0.05}
	bumpy := PWLUParams{BL: -1.7, BR: 2.3, Heights: []float64{0.3, -0.2, 0.1, 0.9, 1.7, 2.0}, KL: -0.05, KR: 1.1}
	flat := PWLUParams{BL: -1, BR: 1, Heights: []float64{0.5, 0, 0.25, 1}, KL: 0, KR: 0}
	return []kernelCase{
		{"crrelu eps=0.01", FamilyCRReLU, []Params{CRReLUParams{0.01}}, false},
		{"crrelu eps=-1.5", FamilyCRReLU, []Params{CRReLUParams{-1.5}}, false},
		{"crrelu per-channel", FamilyCRReLU, []Params{CRReLUParams{0.01}, CRReLUParams{-0.2}, CRReLUParams{0.5}}, false},
		{"pwlu relu N=16", FamilyPWLU, []Params{reluPWLU(-3, 3, 16)}, false},
		{"pwlu bumpy N=5", FamilyPWLU, []Params{bumpy}, false},
		{"pwlu flat tails", FamilyPWLU, []Params{flat}, false},
		{"pwlu N=27 (32-entry table)", FamilyPWLU, []Params{wigglyPWLU(-2.5, 4, 27)}, false},
		{"pwlu N=64", FamilyPWLU, []Params{wigglyPWLU(-6, 6, 64)}, false},
		{"pwlu N=100 (gather)", FamilyPWLU, []Params{wigglyPWLU(-5, 5, 100)}, false},
		{"pwlu far from 0", FamilyPWLU, []Params{wigglyPWLU(1000, 1001, 16)}, false},
		{"pwlu per-channel", FamilyPWLU, []Params{reluPWLU(-2, 2, 4), PWLUParams{BL: -0.5, BR: 3, Heights: []float64{0, 1, -1, 2, 0.5}, KL: 0.2, KR: -0.3}, flat4()}, false},
		{"zorro symmetric", FamilyZorro, []Params{SymmetricZorro(1.2, 1)}, false},
		{"zorro sigmoid", FamilyZorro, []Params{SigmoidZorro(4, 2, 0.5)}, false},
		{"zorro tanh", FamilyZorro, []Params{TanhZorro(4, 2, 1)}, false},
		{"zorro a·b=100", FamilyZorro, []Params{SymmetricZorro(4, 25)}, false},
		{"zorro a·b=400", FamilyZorro, []Params{SymmetricZorro(8, 50)}, false},
		{"zorro asymmetric β<0", FamilyZorro, []Params{asym}, false},
		{"zorro gate sigmoid", FamilyZorro, []Params{gated(SigmoidZorro(2.8, 14.3, 0.685))}, true},
		{"zorro gate asymmetric", FamilyZorro, []Params{gated(asym)}, true},
		{"zorro per-channel gate", FamilyZorro, []Params{gated(SymmetricZorro(1.2, 1)), gated(SigmoidZorro(4, 30, 0.5)), gated(asym)}, true},
		// 19 channels: two full groups of 8 for the rows kernels (channel axis last) and a tail.
		{"crrelu 19 channels", FamilyCRReLU, manyChannels(19, func(i int) Params { return CRReLUParams{0.1*float64(i) - 0.9} }), false},
		{"pwlu 19 channels", FamilyPWLU, manyChannels(19, func(i int) Params { return wigglyPWLU(-2-0.1*float64(i), 1+0.2*float64(i), 12) }), false},
		{"zorro 19 channels", FamilyZorro, manyChannels(19, func(i int) Params {
			return ZorroParams{AN: 0.5 + 0.3*float64(i), BN: 2 - 0.2*float64(i), AP: 4, BP: 0.5 * float64(i), InScale: 1 + 0.05*float64(i), InShift: 0.1, OutScale: 1, OutShift: -0.01 * float64(i)}
		}), false},
	}
}

func manyChannels(c int, f func(i int) Params) []Params {
	ps := make([]Params, c)
	for i := range ps {
		ps[i] = f(i)
	}
	return ps
}

// wigglyPWLU has heights GELU(B_i) + a deterministic wiggle, so that every segment differs.
func wigglyPWLU(bl, br float64, n int) PWLUParams {
	p := PWLUParams{BL: bl, BR: br, KL: -0.01, KR: 1.02}
	for i := 0; i <= n; i++ {
		b := bl + float64(i)*(br-bl)/float64(n)
		p.Heights = append(p.Heights, GELU(b)+0.05*math.Sin(float64(7*i)))
	}
	return p
}

func flat4() PWLUParams {
	return PWLUParams{BL: -4, BR: 0, Heights: []float64{1, 0, 0, 0, 0}, KL: 0, KR: 0}
}

func gated(p ZorroParams) ZorroParams { p.Gate = true; return p }

// float32Params rounds every parameter to float32, as the kernels see them, so that the float64
// reference evaluates the same function.
func float32Params(t *testing.T, c kernelCase) ([]*tensor.Tensor, []Params) {
	t.Helper()
	ts, err := ParamTensors(c.fam, c.chans)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	ps, err := ParamsFromTensors(c.fam, ts)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	for i := range ps {
		if z, ok := ps[i].(ZorroParams); ok {
			z.Gate = c.gate
			ps[i] = z
		}
	}
	return ts, ps
}

// testInputs covers every region of the three functions, knots, and the special values.
func testInputs(n int, rng *rand.Rand) []float32 {
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

func newKernelNode(t *testing.T, c kernelCase, params []*tensor.Tensor, axis int) ops.Kernel {
	t.Helper()
	names := ParamInputNames(c.fam)
	np, err := NewNodeProto(c.fam, "act0", "X", "Y", names, axis, c.gate)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := ops.Lookup(Domain, string(c.fam), Version)
	if !ok {
		t.Fatalf("%s:%s not registered", Domain, c.fam)
	}
	node := ops.NewNode(np, Version)
	for i, p := range params {
		node.Const[i+1] = p
	}
	k, err := f(node)
	if err != nil {
		t.Fatalf("%s: factory: %v", c.name, err)
	}
	return k
}

// checkAgainstReference compares a kernel's output with the float64 reference, channel by
// channel along axis.
func checkAgainstReference(t *testing.T, label string, ps []Params, shape []int, axis int, xs []float32, ys []float32) {
	t.Helper()
	strides := tensor.Strides(shape)
	if axis < 0 {
		axis += len(shape)
	}
	bad := 0
	for i, x := range xs {
		ch := 0
		if len(ps) > 1 {
			ch = i / strides[axis] % shape[axis]
		}
		want := ps[ch].Eval(float64(x))
		if math.Abs(want) > math.MaxFloat32 { // beyond float32's range: the float32 result is ±Inf
			want = math.Inf(int(math.Copysign(1, want)))
		}
		got := float64(ys[i])
		if !near(got, want, 1e-5) {
			if bad++; bad <= 5 {
				t.Errorf("%s: x=%v (channel %d): got %v, want %v", label, x, ch, got, want)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d mismatches in all", label, bad)
	}
}

// eachPath runs f with the pure-Go kernels and with each assembly variant the CPU has.
func eachPath(t *testing.T, f func(t *testing.T)) {
	type path struct {
		name        string
		asm, avx512 bool
	}
	paths := []path{{"go", false, false}}
	if asmAvailable {
		paths = append(paths, path{"avx2", true, false})
	}
	if useAVX512 {
		paths = append(paths, path{"avx512", true, true})
	}
	savedAsm, savedZ := useAsm, useAVX512
	defer func() { useAsm, useAVX512 = savedAsm, savedZ }()
	for _, p := range paths {
		useAsm, useAVX512 = p.asm, p.avx512
		t.Run(p.name, f)
	}
}

func TestKernelsAgainstReference(t *testing.T) {
	eachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, c := range kernelCases() {
			params, ps := float32Params(t, c)
			shapes := [][]int{{7, 301}, {2, 3, 5, 41}}
			if len(ps) > 1 {
				shapes = [][]int{{101, len(ps)}, {2, len(ps), 5, 41}}
			}
			for _, shape := range shapes {
				axis := 1
				if len(ps) > 1 && shape[0] == 101 {
					axis = -1
				}
				k := newKernelNode(t, c, params, axis)
				xs := testInputs(tensor.NumElements(shape), rng)
				for _, threads := range []int{1, 2} {
					out, err := k.Run(ops.NewContext(threads), []*tensor.Tensor{tensor.New(shape, xs)})
					if err != nil {
						t.Fatalf("%s: %v", c.name, err)
					}
					checkAgainstReference(t, fmt.Sprintf("%s %v threads=%d", c.name, shape, threads), ps, shape, axis, xs, out[0].F32())
				}
			}
		}
	})
}

// Every length from 0 to 40 checks the vector loop's tail handling.
func TestKernelTails(t *testing.T) {
	eachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, c := range kernelCases() {
			if len(c.chans) > 1 {
				continue
			}
			params, ps := float32Params(t, c)
			tab, err := buildTable(c, params)
			if err != nil {
				t.Fatal(err)
			}
			for n := 0; n <= 40; n++ {
				xs := testInputs(64, rng)[64-n:]
				dst := make([]float32, n+1)
				dst[n] = 12345 // sentinel: the kernel must not write past len(src)
				tab.apply(dst[:n], xs, 0, false)
				if dst[n] != 12345 {
					t.Fatalf("%s: n=%d: wrote past the end", c.name, n)
				}
				checkAgainstReference(t, fmt.Sprintf("%s n=%d", c.name, n), ps, []int{n}, 0, xs, dst[:n])
			}
		}
	})
}

// TestKernelStreaming takes the non-temporal-store path (used for large outputs) on slices at
// every alignment, so its aligned head and tail are checked too.
func TestKernelStreaming(t *testing.T) { eachPath(t, testKernelStreaming) }

func testKernelStreaming(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, c := range kernelCases() {
		if len(c.chans) > 1 {
			continue
		}
		params, ps := float32Params(t, c)
		tab, err := buildTable(c, params)
		if err != nil {
			t.Fatal(err)
		}
		xs := testInputs(300, rng)
		for off := 0; off < 16; off++ {
			dst := make([]float32, 300)
			tab.apply(dst[off:], xs[off:], 0, true)
			checkAgainstReference(t, fmt.Sprintf("%s streaming offset %d", c.name, off), ps, []int{300 - off}, 0, xs[off:], dst[off:])
		}
	}
}

func buildTable(c kernelCase, params []*tensor.Tensor) (table, error) {
	k := &activationKernel{fam: c.fam, gate: c.gate}
	_, tab, err := k.build(params)
	return tab, err
}

func TestKernelOtherDTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range kernelCases() {
		params, ps := float32Params(t, c)
		shape := []int{2, len(ps), 9}
		k := newKernelNode(t, c, params, 1)
		xs := testInputs(tensor.NumElements(shape), rng)
		x64 := make([]float64, len(xs))
		x16 := make([]tensor.Float16Bits, len(xs))
		for i, x := range xs {
			x64[i] = float64(x) * 1.0000001
			x16[i] = tensor.Float16FromFloat32(x)
		}
		out, err := k.Run(ops.NewContext(1), []*tensor.Tensor{tensor.New(shape, x64)})
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range x64 {
			ch := i / 9 % len(ps)
			if got, want := out[0].Data.([]float64)[i], ps[ch].Eval(x); !near(got, want, 1e-12) {
				t.Errorf("%s float64 x=%v: got %v want %v", c.name, x, got, want)
			}
		}
		out, err = k.Run(ops.NewContext(1), []*tensor.Tensor{tensor.New(shape, x16)})
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range x16 {
			ch := i / 9 % len(ps)
			want := tensor.Float16FromFloat32(float32(ps[ch].Eval(float64(h.Float32())))).Float32()
			got := out[0].Data.([]tensor.Float16Bits)[i].Float32()
			if !near(float64(got), float64(want), 2e-3) {
				t.Errorf("%s float16 x=%v: got %v want %v", c.name, h.Float32(), got, want)
			}
		}
	}
}

func TestKernelErrors(t *testing.T) {
	pc := kernelCase{name: "pwlu per-channel", fam: FamilyPWLU, chans: []Params{reluPWLU(-2, 2, 4), reluPWLU(-1, 1, 4), reluPWLU(-3, 3, 4)}}
	params, _ := float32Params(t, pc)
	k := newKernelNode(t, pc, params, 1)
	_, err := k.Run(ops.NewContext(1), []*tensor.Tensor{tensor.New([]int{2, 4}, make([]float32, 8))})
	if err == nil {
		t.Fatal("C=3 against X.shape[1]=4: no error")
	}
	t.Log(err)
	k = newKernelNode(t, pc, params, 5)
	if _, err := k.Run(ops.NewContext(1), []*tensor.Tensor{tensor.New([]int{2, 3}, make([]float32, 6))}); err == nil {
		t.Fatal("axis 5 on rank 2: no error")
	}
	if _, err := k.Run(ops.NewContext(1), []*tensor.Tensor{tensor.New([]int{3}, make([]int32, 3))}); err == nil {
		t.Fatal("int32 X: no error")
	}

	// Invalid constant parameters fail at session creation.
	f, _ := ops.Lookup(Domain, "PWLU", Version)
	np, _ := NewNodeProto(FamilyPWLU, "bad", "X", "Y", ParamInputNames(FamilyPWLU), 1, false)
	node := ops.NewNode(np, Version)
	node.Const[1] = tensor.New([]int{2}, []float32{1, 1})
	node.Const[2] = tensor.New([]int{3}, []float32{0, 1, 2})
	node.Const[3] = tensor.New([]int{2}, []float32{0, 1})
	if _, err := f(node); err == nil {
		t.Fatal("B_L = B_R: factory accepted it")
	} else {
		t.Log(err)
	}
	// Non-constant parameters are read per Run.
	node.Const[1] = nil
	k2, err := f(node)
	if err != nil {
		t.Fatal(err)
	}
	out, err := k2.Run(ops.NewContext(1), []*tensor.Tensor{tensor.New([]int{2}, []float32{-5, 0.5}),
		tensor.New([]int{2}, []float32{-1, 1}), node.Const[2], node.Const[3]})
	if err != nil || out[0].F32()[0] != 0 || out[0].F32()[1] != 1.5 {
		t.Fatalf("run-time parameters: %v %v", err, out)
	}
	zf, _ := ops.Lookup(Domain, "Zorro", Version)
	zp, _ := NewNodeProto(FamilyZorro, "z", "X", "Y", []string{"params"}, 1, false)
	zp.Attribute[1].I = new(int64(2))
	zn := ops.NewNode(zp, Version)
	if _, err := zf(zn); err == nil {
		t.Fatal("gate=2 accepted")
	}
}

// ElementwiseFloat32 (fuse.go) works in place and only for per-tensor parameters.
func TestElementwiseFloat32(t *testing.T) {
	for _, c := range kernelCases() {
		params, ps := float32Params(t, c)
		k := newKernelNode(t, c, params, 1).(*activationKernel)
		act := k.ElementwiseFloat32()
		if len(ps) > 1 {
			if act != nil {
				t.Errorf("%s: per-channel kernel offered an in-place function", c.name)
			}
			continue
		}
		xs := testInputs(333, rand.New(rand.NewPCG(21, 22)))
		buf := append([]float32(nil), xs...)
		act(buf)
		checkAgainstReference(t, c.name+" in place", ps, []int{len(xs)}, 0, xs, buf)
	}
}
