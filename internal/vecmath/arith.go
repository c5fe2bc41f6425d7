package vecmath

import (
	"fmt"

	"github.com/actswap/actswap/internal/simd"
)

// Op is one of the four float32 arithmetic operations of Arith, ArithScalar and ScalarArith.
type Op uint8

// The operations of ONNX Add, Sub, Mul and Div.
const (
	OpAdd Op = iota
	OpSub
	OpMul
	OpDiv
)

func (op Op) String() string {
	switch op {
	case OpAdd:
		return "Add"
	case OpSub:
		return "Sub"
	case OpMul:
		return "Mul"
	case OpDiv:
		return "Div"
	}
	return fmt.Sprintf("Op(%d)", uint8(op))
}

// arithAsm runs op's assembly kernel, x[i] op y[i]. The kernels are called directly, not
// through a table of function values: an indirect call makes every slice argument escape, which
// moved callers' stack buffers (the SiLU epilogue's σ(x) chunk) to the heap on every call.
func arithAsm(op Op, dst, x, y []float32) {
	switch op {
	case OpAdd:
		addAVX2(dst, x, y)
	case OpSub:
		subAVX2(dst, x, y)
	case OpMul:
		mulAVX2(dst, x, y)
	default:
		divAVX2(dst, x, y)
	}
}

// arithScalarAsm runs x[i] op s, or s op x[i] when scalarFirst (the same kernel for Add and
// Mul, which commute exactly in IEEE arithmetic).
func arithScalarAsm(op Op, dst, x []float32, s float32, scalarFirst bool) {
	switch {
	case op == OpAdd:
		addScalarAVX2(dst, x, s)
	case op == OpMul:
		mulScalarAVX2(dst, x, s)
	case op == OpSub && scalarFirst:
		scalarSubAVX2(dst, x, s)
	case op == OpSub:
		subScalarAVX2(dst, x, s)
	case scalarFirst:
		scalarDivAVX2(dst, x, s)
	default:
		divScalarAVX2(dst, x, s)
	}
}

// check panics for an Op outside the four: a bug in the caller, not bad data.
func (op Op) check() {
	if op > OpDiv {
		panic("vecmath: invalid " + op.String())
	}
}

// Arith sets dst[i] = x[i] op y[i] for every element of dst; x and y must be at least as long.
// Each element is one correctly rounded IEEE operation, so the results are exactly those of the
// Go expression (NaN payloads aside). dst may be x or y (in place), not otherwise overlap them.
// The assembly takes rows of any length, the short ones (bias adds) included.
func Arith(op Op, dst, x, y []float32) { arithOn(simd.Host(), op, dst, x, y) }

// arithOn is Arith with the kernels of level l.
func arithOn(l simd.Level, op Op, dst, x, y []float32) {
	op.check()
	x, y = x[:len(dst)], y[:len(dst)]
	if l.Asm() && len(dst) > 0 {
		arithAsm(op, dst, x, y)
		return
	}
	arithGo(op, dst, x, y)
}

// ArithScalar sets dst[i] = x[i] op s for every element of dst, as Arith does.
func ArithScalar(op Op, dst, x []float32, s float32) { arithScalarOn(simd.Host(), op, dst, x, s) }

// arithScalarOn is ArithScalar with the kernels of level l.
func arithScalarOn(l simd.Level, op Op, dst, x []float32, s float32) {
	withScalarOn(l, op, dst, x, s, false)
}

// ScalarArith sets dst[i] = s op x[i] for every element of dst, as Arith does.
func ScalarArith(op Op, dst []float32, s float32, x []float32) {
	scalarArithOn(simd.Host(), op, dst, s, x)
}

// scalarArithOn is ScalarArith with the kernels of level l.
func scalarArithOn(l simd.Level, op Op, dst []float32, s float32, x []float32) {
	withScalarOn(l, op, dst, x, s, true)
}

// withScalarOn is ArithScalar, or ScalarArith when scalarFirst.
func withScalarOn(l simd.Level, op Op, dst, x []float32, s float32, scalarFirst bool) {
	op.check()
	x = x[:len(dst)]
	asm := l.Asm() && len(dst) > 0
	switch {
	case asm:
		arithScalarAsm(op, dst, x, s, scalarFirst)
	case scalarFirst:
		scalarArithGo(op, dst, s, x)
	default:
		arithScalarGo(op, dst, x, s)
	}
}

// arithGo, arithScalarGo and scalarArithGo are the pure-Go kernels, one loop per Op (checked
// by the callers, so the last case is Div).
func arithGo(op Op, dst, x, y []float32) {
	x, y = x[:len(dst)], y[:len(dst)]
	switch op {
	case OpAdd:
		for i := range dst {
			dst[i] = x[i] + y[i]
		}
	case OpSub:
		for i := range dst {
			dst[i] = x[i] - y[i]
		}
	case OpMul:
		for i := range dst {
			dst[i] = x[i] * y[i]
		}
	default:
		for i := range dst {
			dst[i] = x[i] / y[i]
		}
	}
}

func arithScalarGo(op Op, dst, x []float32, s float32) {
	x = x[:len(dst)]
	switch op {
	case OpAdd:
		for i, v := range x {
			dst[i] = v + s
		}
	case OpSub:
		for i, v := range x {
			dst[i] = v - s
		}
	case OpMul:
		for i, v := range x {
			dst[i] = v * s
		}
	default:
		for i, v := range x {
			dst[i] = v / s
		}
	}
}

func scalarArithGo(op Op, dst []float32, s float32, x []float32) {
	x = x[:len(dst)]
	switch op {
	case OpSub:
		for i, v := range x {
			dst[i] = s - v
		}
	case OpDiv:
		for i, v := range x {
			dst[i] = s / v
		}
	default:
		arithScalarGo(op, dst, x, s)
	}
}
