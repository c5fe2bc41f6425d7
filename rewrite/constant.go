package rewrite

import (
	"math"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// maxConstDepth bounds how deep scalarConst follows a chain of constant-producing nodes; exporters
// emit at most a handful (Sqrt(CastLike(Div(2, π)))), and the bound keeps a pathological graph cheap.
const maxConstDepth = 16

// scalarConst resolves value to a single number when the graph fixes it: an initializer or a
// Constant node holding one element of any numeric type, or a small chain of scalar arithmetic
// (Sqrt, Div, Mul, Add, Sub, Neg, Reciprocal, Cast, CastLike, Identity) over such constants, which the
// dynamo exporter leaves unfolded. It reports false for anything else.
func (v *graphView) scalarConst(value string) (float64, bool) {
	return v.scalarAt(value, 0)
}

func (v *graphView) scalarAt(value string, depth int) (float64, bool) {
	if r, ok := v.scalars[value]; ok {
		return r.v, r.ok
	}
	x, ok := v.resolveScalar(value, depth)
	v.scalars[value] = scalarResult{x, ok}
	return x, ok
}

func (v *graphView) resolveScalar(value string, depth int) (float64, bool) {
	if depth > maxConstDepth || value == "" {
		return 0, false
	}
	if t, ok := v.initializer[value]; ok {
		return tensorScalar(t)
	}
	_, n := v.producerOf(value)
	if n == nil || !isStandardDomain(n.GetDomain()) {
		return 0, false
	}
	arg := func(i int) (float64, bool) {
		if i >= len(n.GetInput()) {
			return 0, false
		}
		return v.scalarAt(n.GetInput()[i], depth+1)
	}
	binary := func(f func(a, b float64) float64) (float64, bool) {
		if len(n.GetInput()) != 2 {
			return 0, false
		}
		a, okA := arg(0)
		b, okB := arg(1)
		if !okA || !okB {
			return 0, false
		}
		return f(a, b), true
	}
	unary := func(f func(a float64) float64) (float64, bool) {
		a, ok := arg(0)
		if !ok {
			return 0, false
		}
		return f(a), true
	}
	switch n.GetOpType() {
	case "Constant":
		return constantNodeScalar(n)
	case "Identity", "CastLike": // CastLike's second input only gives the type; it need not be constant
		return unary(func(a float64) float64 { return a })
	case "Cast":
		to := tensor.Float32
		for _, a := range n.GetAttribute() {
			if a.GetName() == "to" {
				to = tensor.DType(a.GetI())
			}
		}
		return unary(func(a float64) float64 { return roundTo(to, a) })
	case "Sqrt":
		return unary(math.Sqrt)
	case "Neg":
		return unary(func(a float64) float64 { return -a })
	case "Reciprocal":
		return unary(func(a float64) float64 { return 1 / a })
	case "Add":
		return binary(func(a, b float64) float64 { return a + b })
	case "Sub":
		return binary(func(a, b float64) float64 { return a - b })
	case "Mul":
		return binary(func(a, b float64) float64 { return a * b })
	case "Div":
		return binary(func(a, b float64) float64 { return a / b })
	}
	return 0, false
}

// constantNodeScalar reads a Constant node that holds exactly one number.
func constantNodeScalar(n *onnx.NodeProto) (float64, bool) {
	for _, a := range n.GetAttribute() {
		switch a.GetName() {
		case "value":
			return tensorScalar(a.GetT())
		case "value_float":
			return float64(a.GetF()), true
		case "value_int":
			return float64(a.GetI()), true
		case "value_floats":
			if len(a.GetFloats()) == 1 {
				return float64(a.GetFloats()[0]), true
			}
		case "value_ints":
			if len(a.GetInts()) == 1 {
				return float64(a.GetInts()[0]), true
			}
		}
	}
	return 0, false
}

// tensorScalar reads a one-element numeric tensor (any float or integer type, any rank).
func tensorScalar(tp *onnx.TensorProto) (float64, bool) {
	if tp == nil {
		return 0, false
	}
	n := 1
	for _, d := range tp.GetDims() {
		n *= int(d)
	}
	if n != 1 || tp.GetDataLocation() == onnx.TensorProto_EXTERNAL {
		return 0, false
	}
	t, err := tensor.FromProto(tp)
	if err != nil {
		return 0, false
	}
	return tensor.ScalarValue(t)
}

// roundTo rounds a to the precision of a Cast target type, so a folded chain sees what a runtime would.
func roundTo(dt tensor.DType, a float64) float64 {
	switch dt {
	case tensor.Float32:
		return float64(float32(a))
	case tensor.Float16:
		return float64(tensor.Float16FromFloat32(float32(a)).Float32())
	case tensor.BFloat16:
		return float64(tensor.BFloat16FromFloat32(float32(a)).Float32())
	case tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64, tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64:
		return math.Trunc(a)
	}
	return a
}
