package vecmath

import "fmt"

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

// asmKernels holds each Op's assembly kernels: x[i] op y[i], x[i] op s and s op x[i] (the
// last the same as the second for Add and Mul, which commute exactly in IEEE arithmetic).
// Calling them through function values adds an ABI wrapper per call, which did not measure
// against the work on rows of 192 (a bias add), unlike Relu's shorter GEMM epilogue rows.
var asmKernels = [...]struct {
	vv     func(dst, x, y []float32)
	vs, sv func(dst, x []float32, s float32)
}{
	OpAdd: {addAVX2, addScalarAVX2, addScalarAVX2},
	OpSub: {subAVX2, subScalarAVX2, scalarSubAVX2},
	OpMul: {mulAVX2, mulScalarAVX2, mulScalarAVX2},
	OpDiv: {divAVX2, divScalarAVX2, scalarDivAVX2},
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
func Arith(op Op, dst, x, y []float32) {
	op.check()
	x, y = x[:len(dst)], y[:len(dst)]
	if useAsm && len(dst) > 0 {
		asmKernels[op].vv(dst, x, y)
		return
	}
	arithGo(op, dst, x, y)
}

// ArithScalar sets dst[i] = x[i] op s for every element of dst, as Arith does.
func ArithScalar(op Op, dst, x []float32, s float32) { withScalar(op, dst, x, s, false) }

// ScalarArith sets dst[i] = s op x[i] for every element of dst, as Arith does.
func ScalarArith(op Op, dst []float32, s float32, x []float32) { withScalar(op, dst, x, s, true) }

// withScalar is ArithScalar, or ScalarArith when scalarFirst.
func withScalar(op Op, dst, x []float32, s float32, scalarFirst bool) {
	op.check()
	x = x[:len(dst)]
	asm := useAsm && len(dst) > 0
	switch {
	case asm && scalarFirst:
		asmKernels[op].sv(dst, x, s)
	case asm:
		asmKernels[op].vs(dst, x, s)
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
