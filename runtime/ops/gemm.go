package ops

import (
	"fmt"
	"slices"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/tensor"
)

// Gemm and the float plumbing shared by the GEMM-backed kernels (MatMul, Conv, ConvTranspose):
// they compute in float32 and convert float64/float16/bfloat16 at the edges.

func init() {
	RegisterRange(DefaultDomain, "Gemm", newGemm, 1, 6, 7, 9, 11, 13)
}

// floatInput returns a float input as float32 (the tensor's own data for float32, a converted
// copy for the other float types).
func floatInput(t *tensor.Tensor, what string) ([]float32, error) {
	if v, ok := tensor.Float32s(t); ok {
		return v, nil
	}
	return nil, fmt.Errorf("%s: dtype %v is not a float type", what, t.DType)
}

// floatOutput is where a float32-computing kernel writes a result of dtype dt: the output
// tensor's own storage when dt is float32, a scratch buffer converted by tensor() otherwise.
type floatOutput struct {
	dt    tensor.DType
	shape []int
	t     *tensor.Tensor
	v     []float32
}

// newFloatOutput is a zeroed output, for kernels that accumulate into it.
func newFloatOutput(ctx *Context, dt tensor.DType, shape []int) floatOutput {
	return allocFloatOutput(ctx, dt, shape, false)
}

// newFloatOutputOverwrite is an output the kernel writes in full (a GEMM with beta = 0, a
// pooling), so a recycled buffer need not be cleared first.
func newFloatOutputOverwrite(ctx *Context, dt tensor.DType, shape []int) floatOutput {
	return allocFloatOutput(ctx, dt, shape, true)
}

// allocFloatOutput returns the output by value: one fewer heap allocation per node and Run.
func allocFloatOutput(ctx *Context, dt tensor.DType, shape []int, overwrite bool) floatOutput {
	// The shape is kept (cloned) only for the conversion: holding the caller's slice would make
	// it escape with o.v, which kernels hand to the GEMM workers.
	o := floatOutput{dt: dt}
	if dt == tensor.Float32 {
		if overwrite {
			o.t = ctx.AllocOverwrite(tensor.Float32, shape)
		} else {
			o.t = ctx.Alloc(tensor.Float32, shape)
		}
		o.v = o.t.F32()
	} else {
		o.shape = slices.Clone(shape)
		o.v = make([]float32, tensor.NumElements(shape))
	}
	return o
}

// tensor returns the finished output, converting from float32 when needed.
func (o *floatOutput) tensor(ctx *Context) *tensor.Tensor {
	if o.t != nil {
		return o.t
	}
	t := ctx.AllocOverwrite(o.dt, o.shape) // every element is converted below
	switch d := t.Data.(type) {
	case []float64:
		for i, v := range o.v {
			d[i] = float64(v)
		}
	case []tensor.Float16Bits:
		for i, v := range o.v {
			d[i] = tensor.Float16FromFloat32(v)
		}
	case []tensor.BFloat16Bits:
		for i, v := range o.v {
			d[i] = tensor.BFloat16FromFloat32(v)
		}
	}
	return t
}

func isFloatDType(dt tensor.DType) bool {
	return dt == tensor.Float32 || dt == tensor.Float64 || dt == tensor.Float16 || dt == tensor.BFloat16
}

// gemmKernel is Y = alpha·op(A)·op(B) + beta·C, with B packed at session creation when it is a
// float32 initializer.
type gemmKernel struct {
	transA, transB bool
	alpha, beta    float32
	packedB        *gemm.PackedB
	act            func(dst []float32) // fused activation, nil for none
	// constBias is the epilogue for a constant C that is one row (a layer's bias), scaled by
	// beta once at creation; cData is that C's elements, to recognise it in Run.
	constBias *gemm.Epilogue
	cData     []float32
}

// FuseActivation makes the kernel apply act to its output.
func (k *gemmKernel) FuseActivation(act func(dst []float32)) bool {
	k.act = act
	if k.constBias != nil {
		k.constBias.Elementwise = act
	}
	return true
}

func newGemm(n *Node) (Kernel, error) {
	k := &gemmKernel{
		transA: n.AttrInt("transA", 0) != 0,
		transB: n.AttrInt("transB", 0) != 0,
		alpha:  n.AttrFloat("alpha", 1),
		beta:   n.AttrFloat("beta", 1),
	}
	if n.NumInputs() < 2 {
		return nil, fmt.Errorf("Gemm needs inputs A and B, has %d", n.NumInputs())
	}
	if b := n.Const[1]; b != nil && b.DType == tensor.Float32 && b.Rank() == 2 {
		kk, nn := b.Shape[0], b.Shape[1]
		if k.transB {
			kk, nn = nn, kk
		}
		pb, err := gemm.PackB(k.transB, kk, nn, b.F32(), b.Shape[1])
		if err != nil {
			return nil, fmt.Errorf("packing B: %w", err)
		}
		k.packedB = pb
	}
	if c := n.ConstInput(2); c != nil && c.DType == tensor.Float32 && k.beta != 0 &&
		c.Len() > 1 && (c.Rank() == 1 || (c.Rank() == 2 && c.Shape[0] == 1)) {
		// A row bias does not depend on A's row count, so it can be scaled once here.
		cv := c.F32()
		bias := make([]float32, len(cv))
		for j, v := range cv {
			bias[j] = k.beta * v
		}
		k.constBias, k.cData = &gemm.Epilogue{Bias: bias}, cv
	}
	return k, nil
}

func (k *gemmKernel) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) < 2 || inputs[0] == nil || inputs[1] == nil {
		return nil, fmt.Errorf("Gemm: inputs A and B are required")
	}
	a, b := inputs[0], inputs[1]
	if a.Rank() != 2 || b.Rank() != 2 {
		return nil, fmt.Errorf("Gemm: A %v and B %v must be matrices", a.Shape, b.Shape)
	}
	m, ka := a.Shape[0], a.Shape[1]
	if k.transA {
		m, ka = ka, m
	}
	kb, n := b.Shape[0], b.Shape[1]
	if k.transB {
		kb, n = n, kb
	}
	if ka != kb {
		return nil, fmt.Errorf("Gemm: inner dimensions differ: op(A) %d×%d, op(B) %d×%d", m, ka, kb, n)
	}
	av, err := floatInput(a, "Gemm: A")
	if err != nil {
		return nil, err
	}
	out := newFloatOutputOverwrite(ctx, a.DType, []int{m, n}) // beta·C is broadcast in or beta is 0
	beta := k.beta
	var ep *gemm.Epilogue
	constEp := false // ep is k.constBias, shared by every Run: not to be modified
	switch {
	case k.constBias != nil && len(inputs) > 2 && inputs[2] != nil && sameData(inputs[2], k.cData) &&
		len(k.cData) == n:
		ep, beta, constEp = k.constBias, 0, true // the activation, when fused, is part of it
	case len(inputs) > 2 && inputs[2] != nil && beta != 0:
		c := inputs[2]
		cv, err := floatInput(c, "Gemm: C")
		if err != nil {
			return nil, err
		}
		bias, perRow, err := gemmBias(c.Shape, cv, m, n, beta)
		if err != nil {
			return nil, err
		}
		if bias != nil {
			ep = &gemm.Epilogue{Bias: bias, BiasPerRow: perRow}
			beta = 0
		} else {
			broadcastInto(out.v, m, n, c.Shape, cv)
		}
	default:
		beta = 0
	}
	lda := a.Shape[1]
	if k.act != nil && !constEp {
		if ep == nil {
			ep = &gemm.Epilogue{}
		}
		ep.Elementwise = k.act
	}
	if k.packedB != nil && k.packedB.K() == ka && k.packedB.N() == n {
		err = gemm.SgemmPackedB(k.transA, m, k.alpha, av, lda, k.packedB, beta, out.v, n, ctx.Threads, ep)
	} else {
		var bv []float32
		if bv, err = floatInput(b, "Gemm: B"); err != nil {
			return nil, err
		}
		err = gemm.SgemmFused(k.transA, k.transB, m, n, ka, k.alpha, av, lda, bv, b.Shape[1], beta, out.v, n, ctx.Threads, ep)
	}
	if err != nil {
		return nil, fmt.Errorf("Gemm: %w", err)
	}
	return ctx.Result(out.tensor(ctx)), nil
}

// sameData reports whether t's elements are exactly the slice d (the same array and length).
func sameData(t *tensor.Tensor, d []float32) bool {
	v, ok := t.Data.([]float32)
	return ok && len(v) == len(d) && len(d) > 0 && &v[0] == &d[0]
}

// gemmBias recognises a C that is a row or column vector (or scalar) and returns it scaled by
// beta as an epilogue bias; it returns nil for a full matrix, which is added through beta.
func gemmBias(shape []int, c []float32, m, n int, beta float32) (bias []float32, perRow bool, err error) {
	dims := append([]int(nil), shape...)
	for len(dims) < 2 {
		dims = append([]int{1}, dims...)
	}
	if len(dims) > 2 || (dims[0] != 1 && dims[0] != m) || (dims[1] != 1 && dims[1] != n) {
		return nil, false, fmt.Errorf("Gemm: C %v does not broadcast to %d×%d", shape, m, n)
	}
	switch {
	case dims[0] == 1 && dims[1] == 1:
		bias = make([]float32, m)
		for i := range bias {
			bias[i] = beta * c[0]
		}
		return bias, true, nil
	case dims[0] == 1:
		bias = make([]float32, n)
		for j := range bias {
			bias[j] = beta * c[j]
		}
		return bias, false, nil
	case dims[1] == 1:
		bias = make([]float32, m)
		for i := range bias {
			bias[i] = beta * c[i]
		}
		return bias, true, nil
	}
	return nil, false, nil
}

// broadcastInto fills the m×n matrix dst with c (shape at most 2-D, each dim 1 or full).
func broadcastInto(dst []float32, m, n int, shape []int, c []float32) {
	dims := append([]int(nil), shape...)
	for len(dims) < 2 {
		dims = append([]int{1}, dims...)
	}
	rs, cs := 0, 0
	if dims[0] != 1 {
		rs = dims[1]
	}
	if dims[1] != 1 {
		cs = 1
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			dst[i*n+j] = c[i*rs+j*cs]
		}
	}
}
