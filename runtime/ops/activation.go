package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/tensor"
)

// Activation functions. Formulas are evaluated in float64 per element (then rounded once to the
// tensor's type), except Relu which is exact in any precision and the hot float32 kernels
// (Sigmoid, Tanh, Gelu, HardSwish), which run package vecmath's vectorised float32 math
// (relative error ≤ 6e-7, see its doc).

func init() {
	RegisterRange(DefaultDomain, "Relu", func(n *Node) (Kernel, error) {
		return unaryKernel(floatUnary{f32: reluF32, f64: func(x float64) float64 { return max(x, 0) }}, intRelu), nil
	}, 1)
	Register(DefaultDomain, "Sigmoid", 1, func(n *Node) (Kernel, error) {
		return unaryKernel(floatUnary{f32: vecmath.Sigmoid, f64: sigmoid}, nil), nil
	})
	Register(DefaultDomain, "Tanh", 1, func(n *Node) (Kernel, error) {
		return unaryKernel(floatUnary{f32: vecmath.Tanh, f64: math.Tanh}, nil), nil
	})
	Register(DefaultDomain, "Softsign", 1, fixedActivation(func(x float64) float64 { return x / (1 + math.Abs(x)) }))
	Register(DefaultDomain, "Softplus", 1, fixedActivation(softplus))
	Register(DefaultDomain, "Mish", 18, fixedActivation(func(x float64) float64 { return x * math.Tanh(softplus(x)) }))
	Register(DefaultDomain, "HardSwish", 14, func(n *Node) (Kernel, error) {
		return fusableUnary{u: floatUnary{f32: vecmath.HardSwish, f64: func(x float64) float64 {
			return x * max(0, min(1, x/6+0.5))
		}}, biased: vecmath.HardSwishBias}, nil
	})
	Register(DefaultDomain, "LeakyRelu", 1, func(n *Node) (Kernel, error) {
		alpha32 := n.AttrFloat("alpha", 0.01)
		alpha := float64(alpha32)
		// float32 in a plain loop: the float64 formula costs a call and two conversions a value
		// (YOLOv3-style networks put it after every convolution).
		return fusableUnary{u: floatUnary{
			f32: func(dst, src []float32) {
				// Branch-free (signs of real data mispredict): the factor is 1, or alpha when the
				// sign bit is set; −0 and NaN come out as the formula gives them.
				dst = dst[:len(src)]
				for i, x := range src {
					neg := float32(math.Float32bits(x) >> 31)
					dst[i] = x * (1 - neg + neg*alpha32) // exactly 1 or alpha
				}
			},
			f64: func(x float64) float64 {
				if x < 0 {
					return alpha * x
				}
				return x
			}}}, nil
	})
	Register(DefaultDomain, "Elu", 1, func(n *Node) (Kernel, error) {
		alpha := float64(n.AttrFloat("alpha", 1))
		return unaryKernel(floatUnary{f64: func(x float64) float64 {
			if x < 0 {
				return alpha * (math.Exp(x) - 1)
			}
			return x
		}}, nil), nil
	})
	Register(DefaultDomain, "Selu", 1, func(n *Node) (Kernel, error) {
		alpha := float64(n.AttrFloat("alpha", 1.67326319217681884765625))
		gamma := float64(n.AttrFloat("gamma", 1.05070102214813232421875))
		return unaryKernel(floatUnary{f64: func(x float64) float64 {
			if x <= 0 {
				return gamma * (alpha*math.Exp(x) - alpha)
			}
			return gamma * x
		}}, nil), nil
	})
	Register(DefaultDomain, "Celu", 12, func(n *Node) (Kernel, error) {
		alpha := float64(n.AttrFloat("alpha", 1))
		if alpha == 0 {
			return nil, fmt.Errorf("Celu: alpha must be non-zero")
		}
		return unaryKernel(floatUnary{f64: func(x float64) float64 {
			return max(0, x) + min(0, alpha*(math.Exp(x/alpha)-1))
		}}, nil), nil
	})
	Register(DefaultDomain, "HardSigmoid", 1, func(n *Node) (Kernel, error) {
		alpha32, beta32 := n.AttrFloat("alpha", 0.2), n.AttrFloat("beta", 0.5)
		alpha, beta := float64(alpha32), float64(beta32)
		// float32: an affine map and vecmath.Clamp (MobileNetV3's gates), NaN kept as Clamp does.
		return fusableUnary{u: floatUnary{
			f32: func(dst, src []float32) {
				vecmath.ArithScalar(vecmath.OpMul, dst, src, alpha32)
				vecmath.ArithScalar(vecmath.OpAdd, dst, dst, beta32)
				vecmath.Clamp(dst, dst, 0, 1)
			},
			f64: func(x float64) float64 {
				return max(0, min(1, alpha*x+beta))
			}}}, nil
	})
	Register(DefaultDomain, "ThresholdedRelu", 10, func(n *Node) (Kernel, error) {
		alpha := float64(n.AttrFloat("alpha", 1))
		return unaryKernel(floatUnary{f64: func(x float64) float64 {
			if x > alpha {
				return x
			}
			return 0
		}}, nil), nil
	})
	Register(DefaultDomain, "Swish", 24, func(n *Node) (Kernel, error) {
		alpha := float64(n.AttrFloat("alpha", 1))
		return unaryKernel(floatUnary{f64: func(x float64) float64 { return x * sigmoid(alpha*x) }}, nil), nil
	})
	Register(DefaultDomain, "SwiGLU", 28, newSwiGLU)
	Register(DefaultDomain, "Gelu", 20, newGelu)
	Register(DefaultDomain, "Shrink", 9, newShrink)
	Register(DefaultDomain, "PRelu", 1, newPRelu)
	Register(DefaultDomain, "Clip", 1, newClip)
}

func fixedActivation(f func(float64) float64) Factory {
	return func(n *Node) (Kernel, error) { return unaryKernel(floatUnary{f64: f}, nil), nil }
}

// ReluInPlace is Relu as an epilogue of the GEMM and convolution kernels: max(x, 0) in place, NaN
// kept. The assembly takes short rows (conv epilogue rows) whole, its last partial block through
// masked loads and stores.
func ReluInPlace(dst []float32) { vecmath.Relu(dst, dst) }

// reluBiasInPlace is ReluInPlace of dst plus bias, in one pass: a GEMM epilogue's per-row bias
// and fused Relu (gemm.Epilogue.BiasedElementwise).
func reluBiasInPlace(dst []float32, bias float32) { vecmath.ReluBias(dst, dst, bias) }

func reluF32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = max(v, 0) // branch-free; keeps NaN
	}
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x) // avoids overflow of exp(-x) for very negative x
	return e / (1 + e)
}

// softplus is log(1+exp(x)) computed without overflow for large x.
func softplus(x float64) float64 {
	if x > 30 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// geluErf is the exact GELU, x·Φ(x). Writing 1 + erf(x/√2) as erfc(−x/√2) keeps the negative
// tail's relative accuracy where 1 + erf would cancel to zero.
func geluErf(x float64) float64 { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }

// geluTanh is GELU's tanh approximation, ½x·(1 + tanh z) with z = √(2/π)(x + 0.044715x³),
// evaluated as x·σ(2z): the same value without 1 + tanh z cancelling for negative x.
func geluTanh(x float64) float64 {
	if math.IsInf(x, -1) {
		return 0 // the limit; −Inf·σ(−Inf) would be NaN
	}
	const c = 0.7978845608028654 // sqrt(2/π)
	return x * sigmoid(2*c*(x+0.044715*x*x*x))
}

func newGelu(n *Node) (Kernel, error) {
	switch a := n.AttrString("approximate", "none"); a {
	case "none":
		return unaryKernel(floatUnary{f32: vecmath.GELU, f64: geluErf}, nil), nil
	case "tanh":
		return unaryKernel(floatUnary{f32: vecmath.GELUTanh, f64: geluTanh}, nil), nil
	default:
		return nil, fmt.Errorf("Gelu: approximate must be \"none\" or \"tanh\", got %q", a)
	}
}

func newShrink(n *Node) (Kernel, error) {
	lambd := float64(n.AttrFloat("lambd", 0.5))
	bias := float64(n.AttrFloat("bias", 0))
	f := func(x float64) float64 {
		switch {
		case x < -lambd:
			return x + bias
		case x > lambd:
			return x - bias
		}
		return 0
	}
	// Integer inputs are allowed: evaluate in float64 and convert back.
	ints := func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, bool) {
		vals := toFloat64s(x)
		for i, v := range vals {
			vals[i] = f(v)
		}
		out := ctx.Alloc(x.DType, x.Shape)
		return out, storeFloats(vals, out) == nil
	}
	return unaryKernel(floatUnary{f64: f}, ints), nil
}

// intRelu is Relu for signed integer tensors (opset 14).
func intRelu(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, bool) {
	out := ctx.Alloc(x.DType, x.Shape)
	switch src := x.Data.(type) {
	case []int8:
		reluInts(src, out.Data.([]int8))
	case []int16:
		reluInts(src, out.Data.([]int16))
	case []int32:
		reluInts(src, out.Data.([]int32))
	case []int64:
		reluInts(src, out.Data.([]int64))
	default:
		return nil, false
	}
	return out, true
}

func reluInts[T signedElem](src, dst []T) {
	for i, v := range src {
		dst[i] = max(v, 0)
	}
}

// newPRelu: y = x for x ≥ 0, slope·x otherwise, with slope broadcast to x.
func newPRelu(n *Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		x, slope := in[0], in[1]
		if x.DType != slope.DType {
			return nil, fmt.Errorf("input types differ: %v and %v", x.DType, slope.DType)
		}
		if n.Version < 7 && slope.Rank() == 1 && x.Rank() >= 2 && slope.Shape[0] == x.Shape[1] && x.Rank() > 2 {
			// Opset 6 and earlier broadcast a 1-D slope over the channel axis.
			shape := make([]int, x.Rank()-1)
			for i := range shape {
				shape[i] = 1
			}
			shape[0] = slope.Shape[0]
			slope, _ = slope.Reshape(shape)
		}
		p, err := broadcastPlanOf(x.Shape, slope.Shape)
		if err != nil {
			return nil, err
		}
		if !tensor.SameShape(p.Out, x.Shape) {
			return nil, fmt.Errorf("slope %v does not broadcast to X %v", slope.Shape, x.Shape)
		}
		half := x.DType
		x, slope = widenHalf(x), widenHalf(slope)
		out := ctx.Alloc(x.DType, p.Out)
		switch xs := x.Data.(type) {
		case []float32:
			broadcastMap2(ctx, p, xs, slope.F32(), out.F32(), preluElem[float32])
		case []float64:
			broadcastMap2(ctx, p, xs, slope.Data.([]float64), out.Data.([]float64), preluElem[float64])
		case []int8:
			broadcastMap2(ctx, p, xs, slope.Data.([]int8), out.Data.([]int8), preluElem[int8])
		case []int16:
			broadcastMap2(ctx, p, xs, slope.Data.([]int16), out.Data.([]int16), preluElem[int16])
		case []int32:
			broadcastMap2(ctx, p, xs, slope.Data.([]int32), out.Data.([]int32), preluElem[int32])
		case []int64:
			broadcastMap2(ctx, p, xs, slope.Data.([]int64), out.Data.([]int64), preluElem[int64])
		case []uint8, []uint16, []uint32, []uint64:
			out, _ := castTensor(ctx, x, x.DType) // a copy: unsigned values are never negative
			return ctx.Result(out), nil
		default:
			return nil, fmt.Errorf("unsupported input type %v", x.DType)
		}
		return []*tensor.Tensor{narrowTo(ctx, out, half)}, nil
	}), nil
}

func preluElem[T floatElem | signedElem](x, s T) T {
	if x < 0 {
		return s * x
	}
	return x
}

// clipKernel is Clip. Before opset 11 the bounds are float attributes; from 11 they are optional
// scalar inputs of the data's type (absent means unbounded). Float data is clamped by
// vecmath.Clamp (float32, and float16/bfloat16 widened to it) or clampF64, both as x < lo ? lo :
// x, then x > hi ? hi : x: NaN passes through as in NumPy's clip, and lo > hi gives hi as the
// ONNX spec says. When the bounds are known at session creation (attributes, constant inputs
// or none) the kernel offers the in-place float32 form, so Conv→Clip (Relu6) fuses into the
// convolution's epilogue.
type clipKernel struct {
	useAttrs       bool
	attrLo, attrHi float64
	// fixed reports that the float32 bounds lo32, hi32 are known at session creation.
	fixed      bool
	lo32, hi32 float32
}

func newClip(n *Node) (Kernel, error) {
	k := &clipKernel{
		useAttrs: n.Version < 11,
		attrLo:   float64(n.AttrFloat("min", float32(math.Inf(-1)))),
		attrHi:   float64(n.AttrFloat("max", float32(math.Inf(1)))),
	}
	if k.useAttrs {
		k.fixed, k.lo32, k.hi32 = true, float32(k.attrLo), float32(k.attrHi)
		return k, nil
	}
	k.fixed, k.lo32, k.hi32 = true, float32(math.Inf(-1)), float32(math.Inf(1))
	for i, bound := range []*float32{&k.lo32, &k.hi32} {
		if !n.HasInput(i + 1) {
			continue
		}
		c := n.Const[i+1]
		if c == nil || c.DType != tensor.Float32 || c.Len() != 1 {
			k.fixed = false // known only at run time, or not float32 data: Run checks it
			break
		}
		*bound = c.F32()[0]
	}
	return k, nil
}

// ElementwiseFloat32 returns Clip as an in-place float32 clamp when the bounds are fixed.
func (k *clipKernel) ElementwiseFloat32() func(dst []float32) {
	if !k.fixed {
		return nil
	}
	lo, hi := k.lo32, k.hi32
	return func(dst []float32) { vecmath.Clamp(dst, dst, lo, hi) }
}

func (k *clipKernel) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	lo, hi := math.Inf(-1), math.Inf(1)
	var loT, hiT *tensor.Tensor
	if k.useAttrs {
		lo, hi = k.attrLo, k.attrHi
	} else {
		for i, name := range []string{"min", "max"} {
			if len(in) <= i+1 || in[i+1] == nil {
				continue
			}
			b := in[i+1]
			if b.Len() != 1 {
				return nil, fmt.Errorf("%s must be a scalar, got shape %v", name, b.Shape)
			}
			if i == 0 {
				loT, lo = b, toFloat64s(b)[0]
			} else {
				hiT, hi = b, toFloat64s(b)[0]
			}
		}
	}
	if !x.DType.IsFloat() {
		out, err := clipInts(ctx, x, loT, hiT)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}
	lo32, hi32 := float32(lo), float32(hi)
	u := floatUnary{
		f32: func(dst, src []float32) { vecmath.Clamp(dst, src, lo32, hi32) },
		f64: func(v float64) float64 { return clampF64(v, lo, hi) },
	}
	out, err := u.apply(ctx, x)
	if err != nil {
		return nil, err
	}
	return ctx.Result(out), nil
}

// clampF64 is vecmath.Clamp's rule for one float64.
func clampF64(v, lo, hi float64) float64 {
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}

// clipInts clips integer data with bounds read exactly from their own integer tensors.
func clipInts(ctx *Context, x, loT, hiT *tensor.Tensor) (*tensor.Tensor, error) {
	out := ctx.Alloc(x.DType, x.Shape)
	switch src := x.Data.(type) {
	case []int8:
		clipSlice(src, out.Data.([]int8), loT, hiT)
	case []int16:
		clipSlice(src, out.Data.([]int16), loT, hiT)
	case []int32:
		clipSlice(src, out.Data.([]int32), loT, hiT)
	case []int64:
		clipSlice(src, out.Data.([]int64), loT, hiT)
	case []uint8:
		clipSlice(src, out.Data.([]uint8), loT, hiT)
	case []uint16:
		clipSlice(src, out.Data.([]uint16), loT, hiT)
	case []uint32:
		clipSlice(src, out.Data.([]uint32), loT, hiT)
	case []uint64:
		clipSlice(src, out.Data.([]uint64), loT, hiT)
	default:
		return nil, fmt.Errorf("unsupported input type %v", x.DType)
	}
	return out, nil
}

func clipSlice[T integerElem](src, dst []T, loT, hiT *tensor.Tensor) {
	copy(dst, src)
	if loT != nil {
		if lo, ok := loT.Data.([]T); ok {
			for i, v := range dst {
				dst[i] = max(v, lo[0])
			}
		}
	}
	if hiT != nil {
		if hi, ok := hiT.Data.([]T); ok {
			for i, v := range dst {
				dst[i] = min(v, hi[0])
			}
		}
	}
}

// newSwiGLU: Y = Swish_alpha(A) · B for a gate A and a value B of identical shape (no broadcasting).
func newSwiGLU(n *Node) (Kernel, error) {
	alpha := float64(n.AttrFloat("alpha", 1))
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if a.DType != b.DType || !tensor.SameShape(a.Shape, b.Shape) {
			return nil, fmt.Errorf("A %v and B %v must have the same type and shape", a, b)
		}
		if err := requireFloat(a, "A"); err != nil {
			return nil, err
		}
		gate := func(x float64) float64 { return x * sigmoid(alpha*x) }
		wa, wb := widenHalf(a), widenHalf(b)
		out := ctx.Alloc(wa.DType, a.Shape)
		switch x := wa.Data.(type) {
		case []float32:
			y, dst := wb.F32(), out.F32()
			ctx.Parallel(len(x), elementwiseMinChunk, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					dst[i] = float32(gate(float64(x[i])) * float64(y[i]))
				}
			})
		case []float64:
			y, dst := wb.Data.([]float64), out.Data.([]float64)
			for i := range x {
				dst[i] = gate(x[i]) * y[i]
			}
		}
		return []*tensor.Tensor{narrowTo(ctx, out, a.DType)}, nil
	}), nil
}
