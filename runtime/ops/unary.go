package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/tensor"
)

// Elementwise math on one input. Each op is a float64 formula (the reference, also used for
// float64 tensors) plus, where it matters, a float32 formula; float16/bfloat16 compute in float32.

// floatUnary describes an elementwise op over floating-point tensors.
type floatUnary struct {
	f32 func(dst, src []float32) // whole-slice kernel, so hot ops can be tight loops
	f64 func(float64) float64
}

// perElem32 lifts a scalar float32 function to a slice kernel.
func perElem32(f func(float32) float32) func(dst, src []float32) {
	return func(dst, src []float32) {
		for i, v := range src {
			dst[i] = f(v)
		}
	}
}

// via64 evaluates a float64 formula for float32 data; used where float32 math has no shortcut.
func via64(f func(float64) float64) func(dst, src []float32) {
	return func(dst, src []float32) {
		for i, v := range src {
			dst[i] = float32(f(float64(v)))
		}
	}
}

// apply runs the op on a float tensor (float32, float64, float16, bfloat16).
func (u floatUnary) apply(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	if u.f64 == nil {
		return nil, fmt.Errorf("unsupported input type %v (want an integer type)", x.DType)
	}
	switch src := x.Data.(type) {
	case []float32:
		out := ctx.Alloc(tensor.Float32, x.Shape)
		dst := out.F32()
		f := u.f32
		if f == nil {
			f = via64(u.f64)
		}
		if ctx.Inline(len(src), elementwiseMinChunk) { // no closure to allocate
			f(dst, src)
			return out, nil
		}
		ctx.Parallel(len(src), elementwiseMinChunk, func(lo, hi int) { f(dst[lo:hi], src[lo:hi]) })
		return out, nil
	case []float64:
		out := ctx.Alloc(tensor.Float64, x.Shape)
		dst := out.Data.([]float64)
		ctx.Parallel(len(src), elementwiseMinChunk, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dst[i] = u.f64(src[i])
			}
		})
		return out, nil
	case []tensor.Float16Bits, []tensor.BFloat16Bits:
		r, err := u.apply(ctx, widenHalf(x))
		if err != nil {
			return nil, err
		}
		return narrowTo(ctx, r, x.DType), nil
	}
	return nil, fmt.Errorf("unsupported input type %v (want a float type)", x.DType)
}

// unaryKernel wraps a one-input op (float formula u, optional integer handler ints).
func unaryKernel(u floatUnary, ints func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, bool)) Kernel {
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		if ints != nil && !in[0].DType.IsFloat() {
			if out, ok := ints(ctx, in[0]); ok {
				return ctx.Result(out), nil
			}
			return nil, fmt.Errorf("unsupported input type %v", in[0].DType)
		}
		out, err := u.apply(ctx, in[0])
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	})
}

// fusableUnary is a float activation whose float32 kernel also works in place, offered to the
// epilogue of the Conv or Gemm that feeds it (ElementwiseFloat32) — HardSwish and HardSigmoid
// after MobileNetV3's convolutions, LeakyRelu after YOLO's — with the same function, so fusing
// changes no bit.
type fusableUnary struct {
	u floatUnary
	// biased is u's float32 kernel adding a bias to its input first (nil for none).
	biased func(dst, src []float32, b float32)
}

func (k fusableUnary) Run(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	out, err := k.u.apply(ctx, in[0])
	if err != nil {
		return nil, err
	}
	return ctx.Result(out), nil
}

// ElementwiseFloat32 returns the float32 kernel applied in place.
func (k fusableUnary) ElementwiseFloat32() func(dst []float32) {
	f := k.u.f32
	return func(dst []float32) { f(dst, dst) }
}

// BiasedElementwiseFloat32 returns the biased float32 kernel applied in place, or nil.
func (k fusableUnary) BiasedElementwiseFloat32() func(dst []float32, bias float32) {
	f := k.biased
	if f == nil {
		return nil
	}
	return func(dst []float32, bias float32) { f(dst, dst, bias) }
}

// registerFloatUnary registers an attribute-free op under every listed since-version.
func registerFloatUnary(op string, u floatUnary, ints func(*Context, *tensor.Tensor) (*tensor.Tensor, bool), since ...int) {
	f := func(n *Node) (Kernel, error) { return unaryKernel(u, ints), nil }
	RegisterRange(DefaultDomain, op, f, since...)
}

func init() {
	simple := map[string]func(float64) float64{
		"Acos": math.Acos, "Acosh": math.Acosh, "Asin": math.Asin, "Asinh": math.Asinh,
		"Atan": math.Atan, "Atanh": math.Atanh, "Cos": math.Cos, "Cosh": math.Cosh,
		"Sin": math.Sin, "Sinh": math.Sinh, "Tan": math.Tan,
		"Log": math.Log,
	}
	for op, f := range simple {
		registerFloatUnary(op, floatUnary{f64: f}, nil, 1)
	}
	// Exp and Erf in float32 run package vecmath's vector kernels (relative error ≤ 1.5e-7 and
	// ≤ 4e-7; erf keeps it near 0 too, where it is a polynomial in x²).
	registerFloatUnary("Exp", floatUnary{f32: vecmath.Exp, f64: math.Exp}, nil, 1)
	registerFloatUnary("Erf", floatUnary{f32: vecmath.Erf, f64: math.Erf}, nil, 9)
	// Sqrt in float32 without the float64 closure per value (exact either way: the float64 root
	// of a float32 rounds to the float32 root).
	registerFloatUnary("Sqrt", floatUnary{f32: func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, x := range src {
			dst[i] = float32(math.Sqrt(float64(x)))
		}
	}, f64: math.Sqrt}, nil, 1)
	registerFloatUnary("Ceil", floatUnary{f64: math.Ceil}, nil, 1)
	registerFloatUnary("Floor", floatUnary{f64: math.Floor}, nil, 1)
	registerFloatUnary("Round", floatUnary{f64: math.RoundToEven}, nil, 11)
	registerFloatUnary("Reciprocal", floatUnary{
		f32: perElem32(func(v float32) float32 { return 1 / v }),
		f64: func(v float64) float64 { return 1 / v },
	}, nil, 1)
	registerFloatUnary("Abs", floatUnary{
		f32: perElem32(func(v float32) float32 { return float32(math.Abs(float64(v))) }),
		f64: math.Abs,
	}, intUnary(absOp), 1)
	registerFloatUnary("Neg", floatUnary{
		f32: perElem32(func(v float32) float32 { return -v }),
		f64: func(v float64) float64 { return -v },
	}, intUnary(negOp), 1)
	registerFloatUnary("Sign", floatUnary{f64: signFloat}, intUnary(signOp), 9)

	Register(DefaultDomain, "IsNaN", 9, func(n *Node) (Kernel, error) {
		return floatPredicate(func(v float64) bool { return v != v }), nil
	})
	Register(DefaultDomain, "IsInf", 10, newIsInf)
}

func signFloat(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return v // keeps 0, -0 and NaN
}

type intOpKind int

const (
	absOp intOpKind = iota
	negOp
	signOp
)

// intUnary builds the integer path of Abs, Neg and Sign for every integer dtype.
func intUnary(kind intOpKind) func(*Context, *tensor.Tensor) (*tensor.Tensor, bool) {
	return func(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, bool) {
		out := ctx.Alloc(x.DType, x.Shape)
		switch src := x.Data.(type) {
		case []int8:
			signedUnary(kind, src, out.Data.([]int8))
		case []int16:
			signedUnary(kind, src, out.Data.([]int16))
		case []int32:
			signedUnary(kind, src, out.Data.([]int32))
		case []int64:
			signedUnary(kind, src, out.Data.([]int64))
		case []uint8:
			unsignedUnary(kind, src, out.Data.([]uint8))
		case []uint16:
			unsignedUnary(kind, src, out.Data.([]uint16))
		case []uint32:
			unsignedUnary(kind, src, out.Data.([]uint32))
		case []uint64:
			unsignedUnary(kind, src, out.Data.([]uint64))
		default:
			return nil, false
		}
		return out, true
	}
}

func signedUnary[T signedElem](kind intOpKind, src, dst []T) {
	for i, v := range src {
		switch kind {
		case absOp:
			if v < 0 {
				v = -v
			}
		case negOp:
			v = -v
		case signOp:
			switch {
			case v > 0:
				v = 1
			case v < 0:
				v = -1
			}
		}
		dst[i] = v
	}
}

func unsignedUnary[T unsignedElem](kind intOpKind, src, dst []T) {
	for i, v := range src {
		switch kind {
		case negOp:
			v = -v // wraps, as two's-complement hardware and NumPy do
		case signOp:
			if v > 0 {
				v = 1
			}
		}
		dst[i] = v
	}
}

// floatPredicate maps a float tensor to bool by pred.
func floatPredicate(pred func(float64) bool) Kernel {
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		if !in[0].DType.IsFloat() {
			return nil, fmt.Errorf("unsupported input type %v (want a float type)", in[0].DType)
		}
		out := ctx.Alloc(tensor.Bool, in[0].Shape)
		dst := out.Data.([]bool)
		switch src := widenHalf(in[0]).Data.(type) {
		case []float32:
			for i, v := range src {
				dst[i] = pred(float64(v))
			}
		case []float64:
			for i, v := range src {
				dst[i] = pred(v)
			}
		}
		return ctx.Result(out), nil
	})
}

func newIsInf(n *Node) (Kernel, error) {
	neg := n.AttrInt("detect_negative", 1) != 0
	pos := n.AttrInt("detect_positive", 1) != 0
	return floatPredicate(func(v float64) bool {
		return (pos && math.IsInf(v, 1)) || (neg && math.IsInf(v, -1))
	}), nil
}
