package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/tensor"
)

// Two-input arithmetic with multidirectional broadcasting (Add, Sub, Mul, Div, Mod, Pow) and
// the variadic folds built on it (Sum, Mean, Max, Min). Each row of the broadcast walk is a
// tight loop over one concrete element type; the op is chosen once per row, not per element.

type arithOp int

const (
	opAdd arithOp = iota
	opSub
	opMul
	opDiv
	opMax
	opMin
	opMod  // integer remainder with the divisor's sign (Python %)
	opFmod // remainder with the dividend's sign (C fmod)
)

func init() {
	for op, a := range map[string]arithOp{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv} {
		RegisterRange(DefaultDomain, op, binaryFactory(a), 1, 7)
	}
	Register(DefaultDomain, "Mod", 10, newMod)
	Register(DefaultDomain, "Pow", 1, newPow)
	Register(DefaultDomain, "Sum", 1, variadicFactory(opAdd, false))
	Register(DefaultDomain, "Mean", 1, variadicFactory(opAdd, true))
	Register(DefaultDomain, "Max", 1, variadicFactory(opMax, false))
	Register(DefaultDomain, "Min", 1, variadicFactory(opMin, false))
}

// binaryFactory builds Add/Sub/Mul/Div. Before opset 7 broadcasting was opt-in (broadcast=1,
// optional axis aligning B inside A); that is turned into an explicit reshape of B.
func binaryFactory(op arithOp) Factory {
	return func(n *Node) (Kernel, error) {
		legacy, axis := legacyBroadcast(n)
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 2); err != nil {
				return nil, err
			}
			b := in[1]
			if legacy {
				var err error
				if b, err = alignLegacy(in[0], b, axis); err != nil {
					return nil, err
				}
			}
			out, err := arith(ctx, op, in[0], b)
			if err != nil {
				return nil, err
			}
			return ctx.Result(out), nil
		}), nil
	}
}

// legacyBroadcast reports whether a pre-opset-7 node asked for broadcasting and with which axis
// (-1 when B aligns to A's trailing dimensions).
func legacyBroadcast(n *Node) (bool, int) {
	if n.Version >= 7 || n.AttrInt("broadcast", 0) == 0 {
		return false, -1
	}
	if n.HasAttr("axis") {
		return true, int(n.AttrInt("axis", 0))
	}
	return true, -1
}

// alignLegacy reshapes B so NumPy broadcasting matches the old axis rule: B's dimensions sit at
// A's axis..axis+rank(B)-1, with ones after.
func alignLegacy(a, b *tensor.Tensor, axis int) (*tensor.Tensor, error) {
	if axis < 0 {
		return b, nil
	}
	if axis+b.Rank() > a.Rank() {
		return nil, fmt.Errorf("broadcast axis %d does not fit B %v into A %v", axis, b.Shape, a.Shape)
	}
	shape := append([]int(nil), b.Shape...)
	for i := axis + b.Rank(); i < a.Rank(); i++ {
		shape = append(shape, 1)
	}
	return b.Reshape(shape)
}

// arith applies a binary op to two tensors of the same dtype.
func arith(ctx *Context, op arithOp, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if a.DType != b.DType {
		return nil, fmt.Errorf("input types differ: %v and %v", a.DType, b.DType)
	}
	p, err := broadcastPlanOf(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	if a.DType == tensor.Float16 || a.DType == tensor.BFloat16 {
		r, err := arith(ctx, op, widenHalf(a), widenHalf(b))
		if err != nil {
			return nil, err
		}
		return narrowTo(ctx, r, a.DType), nil
	}
	out := ctx.AllocOverwrite(a.DType, p.Out) // every row is written
	switch x := a.Data.(type) {
	case []float32:
		err = arithFloat(ctx, p, op, x, b.Data.([]float32), out.Data.([]float32))
	case []float64:
		err = arithFloat(ctx, p, op, x, b.Data.([]float64), out.Data.([]float64))
	case []int8:
		err = arithInt(ctx, p, op, x, b.Data.([]int8), out.Data.([]int8))
	case []int16:
		err = arithInt(ctx, p, op, x, b.Data.([]int16), out.Data.([]int16))
	case []int32:
		err = arithInt(ctx, p, op, x, b.Data.([]int32), out.Data.([]int32))
	case []int64:
		err = arithInt(ctx, p, op, x, b.Data.([]int64), out.Data.([]int64))
	case []uint8:
		err = arithInt(ctx, p, op, x, b.Data.([]uint8), out.Data.([]uint8))
	case []uint16:
		err = arithInt(ctx, p, op, x, b.Data.([]uint16), out.Data.([]uint16))
	case []uint32:
		err = arithInt(ctx, p, op, x, b.Data.([]uint32), out.Data.([]uint32))
	case []uint64:
		err = arithInt(ctx, p, op, x, b.Data.([]uint64), out.Data.([]uint64))
	default:
		err = fmt.Errorf("unsupported input type %v", a.DType)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// arithFloat runs op over float rows; rows where one side repeats get their own loops so the
// common bias-add and scale cases stay as tight as a same-shape add.
func arithFloat[T floatElem](ctx *Context, p *broadcastPlan, op arithOp, a, b, out []T) error {
	if op == opMod {
		return arithFloatMod(ctx, p, a, b, out)
	}
	if rowsInline(ctx, p) {
		arithFloatRows(p, op, a, b, out, 0, p.Rows())
		return nil
	}
	if a32, ok := any(a).([]float32); ok { // the common case, through a pooled task
		job := arithRowsF32{p: p, op: op, a: a32, b: any(b).([]float32), out: any(out).([]float32)}
		if rows := p.Rows(); rows > 0 {
			arithTasksF32.Run(ctx, rows, rowsPerChunk(p), &job)
		}
		return nil
	}
	parallelRows(ctx, p, func(lo, hi int) { arithFloatRows(p, op, a, b, out, lo, hi) })
	return nil
}

// arithRowsF32 is float32 arithFloat's work for the workers.
type arithRowsF32 struct {
	p         *broadcastPlan
	op        arithOp
	a, b, out []float32
}

var arithTasksF32 TaskPool[arithRowsF32, *arithRowsF32]

// Chunk implements workers.Task: rows [lo, hi).
func (j *arithRowsF32) Chunk(lo, hi int) { arithFloatRows(j.p, j.op, j.a, j.b, j.out, lo, hi) }

// arithFloatRows is arithFloat over rows [lo, hi).
func arithFloatRows[T floatElem](p *broadcastPlan, op arithOp, a, b, out []T, lo, hi int) {
	sa, sb, inner := p.InnerStride[0], p.InnerStride[1], p.Inner
	if len(p.dims) == 2 && sa == 1 && sb == 0 && p.steps[0][0] == inner && p.steps[1][0] == 1 {
		// One scalar of b per row of a, in order: the squeeze-and-excitation block's Mul of
		// [N,C,H,W] planes by [N,C,1,1] scales. A plain loop over the rows, without the
		// odometer's per-row callback, which cost as much as the 49-value rows of a 7×7 plane.
		for r := lo; r < hi; r++ {
			o := r * inner
			floatRowVS(op, out[o:o+inner], a[o:o+inner], b[r])
		}
		return
	}
	p.ForRows2(lo, hi, func(o, ia, ib int) {
		dst := out[o : o+inner]
		switch {
		case sa == 1 && sb == 1:
			floatRowVV(op, dst, a[ia:ia+inner], b[ib:ib+inner])
		case sa == 1:
			floatRowVS(op, dst, a[ia:ia+inner], b[ib])
		case sb == 1:
			floatRowSV(op, dst, a[ia], b[ib:ib+inner])
		default:
			v := floatScalar(op, a[ia], b[ib])
			for j := range dst {
				dst[j] = v
			}
		}
	})
}

func floatScalar[T floatElem](op arithOp, x, y T) T {
	switch op {
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opMul:
		return x * y
	case opDiv:
		return x / y
	case opMax:
		if x != x || y != y {
			return T(math.NaN())
		}
		return max(x, y)
	case opMin:
		if x != x || y != y {
			return T(math.NaN())
		}
		return min(x, y)
	case opFmod:
		return T(math.Mod(float64(x), float64(y)))
	}
	return 0
}

// vecmathOps are the ops whose float32 rows run on package vecmath's vector kernels.
var vecmathOps = [...]vecmath.Op{opAdd: vecmath.OpAdd, opSub: vecmath.OpSub, opMul: vecmath.OpMul, opDiv: vecmath.OpDiv}

// vecmathRow returns dst as []float32 and op's vecmath kernel when both exist (ok false for
// float64 rows and for Max, Min and Fmod).
func vecmathRow[T floatElem](op arithOp, dst []T) (d []float32, vop vecmath.Op, ok bool) {
	if int(op) >= len(vecmathOps) {
		return nil, 0, false
	}
	d, ok = any(dst).([]float32)
	return d, vecmathOps[op], ok
}

func floatRowVV[T floatElem](op arithOp, dst, x, y []T) {
	if d, vop, ok := vecmathRow(op, dst); ok {
		vecmath.Arith(vop, d, any(x).([]float32), any(y).([]float32))
		return
	}
	y = y[:len(dst)]
	x = x[:len(dst)]
	switch op {
	case opAdd:
		for j := range dst {
			dst[j] = x[j] + y[j]
		}
	case opSub:
		for j := range dst {
			dst[j] = x[j] - y[j]
		}
	case opMul:
		for j := range dst {
			dst[j] = x[j] * y[j]
		}
	case opDiv:
		for j := range dst {
			dst[j] = x[j] / y[j]
		}
	default:
		for j := range dst {
			dst[j] = floatScalar(op, x[j], y[j])
		}
	}
}

func floatRowVS[T floatElem](op arithOp, dst, x []T, y T) {
	if d, vop, ok := vecmathRow(op, dst); ok {
		vecmath.ArithScalar(vop, d, any(x).([]float32), any(y).(float32))
		return
	}
	x = x[:len(dst)]
	switch op {
	case opAdd:
		for j := range dst {
			dst[j] = x[j] + y
		}
	case opSub:
		for j := range dst {
			dst[j] = x[j] - y
		}
	case opMul:
		for j := range dst {
			dst[j] = x[j] * y
		}
	case opDiv:
		for j := range dst {
			dst[j] = x[j] / y
		}
	default:
		for j := range dst {
			dst[j] = floatScalar(op, x[j], y)
		}
	}
}

func floatRowSV[T floatElem](op arithOp, dst []T, x T, y []T) {
	if d, vop, ok := vecmathRow(op, dst); ok {
		vecmath.ScalarArith(vop, d, any(x).(float32), any(y).([]float32))
		return
	}
	y = y[:len(dst)]
	switch op {
	case opAdd:
		for j := range dst {
			dst[j] = x + y[j]
		}
	case opSub:
		for j := range dst {
			dst[j] = x - y[j]
		}
	case opMul:
		for j := range dst {
			dst[j] = x * y[j]
		}
	case opDiv:
		for j := range dst {
			dst[j] = x / y[j]
		}
	default:
		for j := range dst {
			dst[j] = floatScalar(op, x, y[j])
		}
	}
}

// arithFloatMod is Mod with fmod=0 on floats: the result takes the divisor's sign (NumPy mod).
func arithFloatMod[T floatElem](ctx *Context, p *broadcastPlan, a, b, out []T) error {
	broadcastMap2(ctx, p, a, b, out, func(x, y T) T {
		r := math.Mod(float64(x), float64(y))
		if r != 0 && (r < 0) != (y < 0) {
			r += float64(y)
		}
		return T(r)
	})
	return nil
}

// arithInt runs op over integer rows. Division and remainder by zero yield 0 instead of a
// panic: ONNX leaves them undefined and a runtime must not crash on data.
func arithInt[T integerElem](ctx *Context, p *broadcastPlan, op arithOp, a, b, out []T) error {
	var f func(x, y T) T
	switch op {
	case opAdd:
		f = func(x, y T) T { return x + y }
	case opSub:
		f = func(x, y T) T { return x - y }
	case opMul:
		f = func(x, y T) T { return x * y }
	case opDiv:
		f = func(x, y T) T {
			if y == 0 {
				return 0
			}
			return x / y
		}
	case opMax:
		f = func(x, y T) T { return max(x, y) }
	case opMin:
		f = func(x, y T) T { return min(x, y) }
	case opMod:
		f = func(x, y T) T {
			if y == 0 {
				return 0
			}
			r := x % y
			if r != 0 && (r < 0) != (y < 0) {
				r += y
			}
			return r
		}
	case opFmod:
		f = func(x, y T) T {
			if y == 0 {
				return 0
			}
			return x % y
		}
	default:
		return fmt.Errorf("op %d not defined for integers", op)
	}
	if op <= opMul {
		// Hot integer arithmetic (index math in shape subgraphs) stays loop-tight.
		sa, sb, inner := p.InnerStride[0], p.InnerStride[1], p.Inner
		parallelRows(ctx, p, func(lo, hi int) {
			p.ForRows(lo, hi, func(o int, in []int) {
				dst := out[o : o+inner]
				for j := range dst {
					x, y := a[in[0]+j*sa], b[in[1]+j*sb]
					switch op {
					case opAdd:
						dst[j] = x + y
					case opSub:
						dst[j] = x - y
					default:
						dst[j] = x * y
					}
				}
			})
		})
		return nil
	}
	broadcastMap2(ctx, p, a, b, out, f)
	return nil
}

func newMod(n *Node) (Kernel, error) {
	fmod := n.AttrInt("fmod", 0)
	if fmod != 0 && fmod != 1 {
		return nil, fmt.Errorf("Mod: fmod must be 0 or 1, got %d", fmod)
	}
	op := opMod
	if fmod == 1 {
		op = opFmod
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		out, err := arith(ctx, op, in[0], in[1])
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

// newPow builds Pow. Since opset 12 base and exponent may have different types; the result has
// the base's type. Integer bases with integer exponents are computed exactly.
func newPow(n *Node) (Kernel, error) {
	legacy, axis := legacyBroadcast(n)
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		base, exp := in[0], in[1]
		if legacy {
			var err error
			if exp, err = alignLegacy(base, exp, axis); err != nil {
				return nil, err
			}
		}
		p, err := broadcastPlanOf(base.Shape, exp.Shape)
		if err != nil {
			return nil, err
		}
		if base.DType == tensor.Float16 || base.DType == tensor.BFloat16 {
			r, err := powTensor(ctx, p, widenHalf(base), widenHalf(exp))
			if err != nil {
				return nil, err
			}
			return []*tensor.Tensor{narrowTo(ctx, r, base.DType)}, nil
		}
		r, err := powTensor(ctx, p, base, widenHalf(exp))
		if err != nil {
			return nil, err
		}
		return ctx.Result(r), nil
	}), nil
}

func powTensor(ctx *Context, p *broadcastPlan, base, exp *tensor.Tensor) (*tensor.Tensor, error) {
	out := ctx.Alloc(base.DType, p.Out)
	if x, ok := base.Data.([]float32); ok {
		if y, ok := exp.Data.([]float32); ok {
			broadcastMap2(ctx, p, x, y, out.F32(), func(x, y float32) float32 {
				if y == 2 {
					return x * x
				}
				return float32(math.Pow(float64(x), float64(y)))
			})
			return out, nil
		}
	}
	intExp := !exp.DType.IsFloat() && exp.DType != tensor.Bool
	var ie []int64
	if intExp {
		var err error
		if ie, err = toInt64s(exp); err != nil {
			return nil, err
		}
	}
	fe := toFloat64s(exp)
	switch x := base.Data.(type) {
	case []float32:
		broadcastMap2(ctx, p, x, fe, out.F32(), func(x float32, y float64) float32 {
			return float32(math.Pow(float64(x), y))
		})
	case []float64:
		broadcastMap2(ctx, p, x, fe, out.Data.([]float64), math.Pow)
	case []int32:
		powInt(ctx, p, x, ie, fe, out.Data.([]int32))
	case []int64:
		powInt(ctx, p, x, ie, fe, out.Data.([]int64))
	case []int8:
		powInt(ctx, p, x, ie, fe, out.Data.([]int8))
	case []int16:
		powInt(ctx, p, x, ie, fe, out.Data.([]int16))
	case []uint8:
		powInt(ctx, p, x, ie, fe, out.Data.([]uint8))
	case []uint16:
		powInt(ctx, p, x, ie, fe, out.Data.([]uint16))
	case []uint32:
		powInt(ctx, p, x, ie, fe, out.Data.([]uint32))
	case []uint64:
		powInt(ctx, p, x, ie, fe, out.Data.([]uint64))
	default:
		return nil, fmt.Errorf("Pow: unsupported base type %v", base.DType)
	}
	return out, nil
}

// powInt raises integers: by repeated squaring for integer exponents (exact, wrapping like C),
// through float64 and truncation for float exponents.
func powInt[T integerElem](ctx *Context, p *broadcastPlan, base []T, ie []int64, fe []float64, out []T) {
	if ie == nil {
		broadcastMap2(ctx, p, base, fe, out, func(x T, y float64) T { return T(math.Pow(float64(x), y)) })
		return
	}
	broadcastMap2(ctx, p, base, ie, out, func(x T, y int64) T {
		if y < 0 {
			return T(math.Pow(float64(x), float64(y)))
		}
		r := T(1)
		for y > 0 {
			if y&1 == 1 {
				r *= x
			}
			x *= x
			y >>= 1
		}
		return r
	})
}

// variadicFactory builds Sum, Mean, Max and Min: a left fold of the binary op over all inputs,
// broadcasting at each step (since opset 8; earlier versions required equal shapes, a subset).
func variadicFactory(op arithOp, mean bool) Factory {
	return func(n *Node) (Kernel, error) {
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			var acc *tensor.Tensor
			count := 0
			for i, t := range in {
				if t == nil {
					continue
				}
				count++
				if acc == nil {
					acc = t
					continue
				}
				r, err := arith(ctx, op, acc, t)
				if err != nil {
					return nil, fmt.Errorf("input %d: %w", i, err)
				}
				acc = r
			}
			if acc == nil {
				return nil, fmt.Errorf("needs at least one input")
			}
			if count == 1 {
				acc, _ = castTensor(ctx, acc, acc.DType) // the output must not alias the input
			}
			if mean {
				div := tensor.Zeros(acc.DType, []int{})
				if err := storeIntegers([]int64{int64(count)}, div); err != nil {
					return nil, err
				}
				r, err := arith(ctx, opDiv, acc, div)
				if err != nil {
					return nil, err
				}
				acc = r
			}
			return ctx.Result(acc), nil
		}), nil
	}
}
