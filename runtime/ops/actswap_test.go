package ops

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// The registered ai.actswap kernels: element types other than float32, and the errors of the
// node wrapper (the float32 loops are tested in internal/actkernel).

func newKernelNode(t *testing.T, c acttest.KernelCase, params []*tensor.Tensor, axis int) Kernel {
	t.Helper()
	names := onnxops.ParamInputNames(c.Fam)
	np, err := onnxops.NewNodeProto(c.Fam, "act0", "X", "Y", names, axis, c.Gate)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := Lookup(onnxops.Domain, string(c.Fam), onnxops.Version)
	if !ok {
		t.Fatalf("%s:%s not registered", onnxops.Domain, c.Fam)
	}
	node := NewNode(np, onnxops.Version)
	for i, p := range params {
		node.Const[i+1] = p
	}
	k, err := f(node)
	if err != nil {
		t.Fatalf("%s: factory: %v", c.Name, err)
	}
	return k
}

func TestActswapKernelOtherDTypes(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range acttest.KernelCases() {
		params, ps := acttest.Float32Params(t, c)
		shape := []int{2, len(ps), 9}
		k := newKernelNode(t, c, params, 1)
		xs := acttest.Inputs(tensor.NumElements(shape), rng)
		x64 := make([]float64, len(xs))
		x16 := make([]tensor.Float16Bits, len(xs))
		for i, x := range xs {
			x64[i] = float64(x) * 1.0000001
			x16[i] = tensor.Float16FromFloat32(x)
		}
		out, err := k.Run(NewContext(1), []*tensor.Tensor{tensor.New(shape, x64)})
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range x64 {
			ch := i / 9 % len(ps)
			if got, want := out[0].Data.([]float64)[i], ps[ch].Eval(x); !acttest.Near(got, want, 1e-12) {
				t.Errorf("%s float64 x=%v: got %v want %v", c.Name, x, got, want)
			}
		}
		out, err = k.Run(NewContext(1), []*tensor.Tensor{tensor.New(shape, x16)})
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range x16 {
			ch := i / 9 % len(ps)
			want := tensor.Float16FromFloat32(float32(ps[ch].Eval(float64(h.Float32())))).Float32()
			got := out[0].Data.([]tensor.Float16Bits)[i].Float32()
			if !acttest.Near(float64(got), float64(want), 2e-3) {
				t.Errorf("%s float16 x=%v: got %v want %v", c.Name, h.Float32(), got, want)
			}
		}
		// bfloat16: 8 significant bits, so within 2⁻⁸ (two half-ulps) of the rounded reference.
		xb := make([]tensor.BFloat16Bits, len(xs))
		for i, x := range xs {
			xb[i] = tensor.BFloat16FromFloat32(x)
		}
		out, err = k.Run(NewContext(1), []*tensor.Tensor{tensor.New(shape, xb)})
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range xb {
			ch := i / 9 % len(ps)
			want := tensor.BFloat16FromFloat32(float32(ps[ch].Eval(float64(h.Float32())))).Float32()
			got := out[0].Data.([]tensor.BFloat16Bits)[i].Float32()
			if !acttest.Near(float64(got), float64(want), 1.0/256) {
				t.Errorf("%s bfloat16 x=%v: got %v want %v", c.Name, h.Float32(), got, want)
			}
		}
	}
}

// A float16 run allocates its output and nothing in proportion to X beyond it: the kernel widens
// a block at a time (internal/actkernel), not the whole tensor to float32 (which would be twice
// the output again).
func TestActswapFloat16Memory(t *testing.T) {
	c := acttest.KernelCases()[3] // PWLU, per tensor
	params, _ := acttest.Float32Params(t, c)
	k := newKernelNode(t, c, params, 1)
	const n = 1 << 20
	x := tensor.New([]int{4, n / 4}, make([]tensor.Float16Bits, n))
	ctx := NewContext(1)
	if _, err := k.Run(ctx, []*tensor.Tensor{x}); err != nil { // warm the block pool
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := k.Run(ctx, []*tensor.Tensor{x}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(2*n+64<<10); got > limit {
		t.Errorf("a float16 run of %d elements allocated %d bytes, want ≤ %d (the 2-byte output and a block)", n, got, limit)
	}
}

func TestActswapKernelErrors(t *testing.T) {
	t.Parallel()
	pc := acttest.KernelCase{Name: "pwlu per-channel", Fam: onnxops.FamilyPWLU, Chans: []onnxops.Params{acttest.ReluPWLU(-2, 2, 4), acttest.ReluPWLU(-1, 1, 4), acttest.ReluPWLU(-3, 3, 4)}}
	params, _ := acttest.Float32Params(t, pc)
	k := newKernelNode(t, pc, params, 1)
	_, err := k.Run(NewContext(1), []*tensor.Tensor{tensor.New([]int{2, 4}, make([]float32, 8))})
	if err == nil {
		t.Fatal("C=3 against X.shape[1]=4: no error")
	}
	t.Log(err)
	k = newKernelNode(t, pc, params, 5)
	if _, err := k.Run(NewContext(1), []*tensor.Tensor{tensor.New([]int{2, 3}, make([]float32, 6))}); err == nil {
		t.Fatal("axis 5 on rank 2: no error")
	}
	if _, err := k.Run(NewContext(1), []*tensor.Tensor{tensor.New([]int{3}, make([]int32, 3))}); err == nil {
		t.Fatal("int32 X: no error")
	}

	// Invalid constant parameters fail at session creation.
	f, _ := Lookup(onnxops.Domain, "PWLU", onnxops.Version)
	np, _ := onnxops.NewNodeProto(onnxops.FamilyPWLU, "bad", "X", "Y", onnxops.ParamInputNames(onnxops.FamilyPWLU), 1, false)
	node := NewNode(np, onnxops.Version)
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
	out, err := k2.Run(NewContext(1), []*tensor.Tensor{tensor.New([]int{2}, []float32{-5, 0.5}),
		tensor.New([]int{2}, []float32{-1, 1}), node.Const[2], node.Const[3]})
	if err != nil || out[0].F32()[0] != 0 || out[0].F32()[1] != 1.5 {
		t.Fatalf("run-time parameters: %v %v", err, out)
	}
	zf, _ := Lookup(onnxops.Domain, "Zorro", onnxops.Version)
	zp, _ := onnxops.NewNodeProto(onnxops.FamilyZorro, "z", "X", "Y", []string{"params"}, 1, false)
	zp.Attribute[1].I = new(int64(2))
	zn := NewNode(zp, onnxops.Version)
	if _, err := zf(zn); err == nil {
		t.Fatal("gate=2 accepted")
	}
}
