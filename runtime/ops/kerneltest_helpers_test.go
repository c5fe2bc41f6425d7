package ops

import (
	"math"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// Test helpers for the elementwise, reduction and normalisation kernels: build a node from a
// table row, run it through the registry, compare with float64 reference values.

// kattr is an attribute in a test table: int64, float32, string, []int64 or []float32.
type kattr map[string]any

func kernelNode(op string, version int, attrs kattr, nIn, nOut int) *Node {
	p := &onnx.NodeProto{OpType: &op}
	for i := 0; i < nIn; i++ {
		p.Input = append(p.Input, "in"+string(rune('0'+i)))
	}
	for i := 0; i < nOut; i++ {
		p.Output = append(p.Output, "out"+string(rune('0'+i)))
	}
	for name, v := range attrs {
		a := &onnx.AttributeProto{Name: &name}
		switch x := v.(type) {
		case int64:
			a.I = &x
		case int:
			i := int64(x)
			a.I = &i
		case float32:
			a.F = &x
		case float64:
			f := float32(x)
			a.F = &f
		case string:
			a.S = []byte(x)
		case []int64:
			a.Ints = x
		case []float32:
			a.Floats = x
		}
		p.Attribute = append(p.Attribute, a)
	}
	return NewNode(p, version)
}

// runKernel builds and runs op; nil inputs stand for missing optional ones.
func runKernel(t *testing.T, op string, version int, attrs kattr, nOut int, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	f, ok := Lookup(DefaultDomain, op, version)
	if !ok {
		t.Fatalf("%s v%d not registered", op, version)
	}
	k, err := f(kernelNode(op, version, attrs, len(in), nOut))
	if err != nil {
		t.Fatalf("%s: factory: %v", op, err)
	}
	out, err := k.Run(NewContext(2), in)
	if err != nil {
		t.Fatalf("%s: run: %v", op, err)
	}
	return out
}

// kernelErr returns the factory or run error of op (nil when it succeeds).
func kernelErr(op string, version int, attrs kattr, in ...*tensor.Tensor) error {
	f, ok := Lookup(DefaultDomain, op, version)
	if !ok {
		return nil
	}
	k, err := f(kernelNode(op, version, attrs, len(in), 1))
	if err != nil {
		return err
	}
	_, err = k.Run(NewContext(1), in)
	return err
}

func f32t(shape []int, v ...float32) *tensor.Tensor { return tensor.New(shape, v) }
func i64t(shape []int, v ...int64) *tensor.Tensor   { return tensor.New(shape, v) }

// wantClose compares any numeric tensor with float64 expectations (NaN equals NaN).
func wantClose(t *testing.T, what string, got *tensor.Tensor, shape []int, want []float64, tol float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	g := toFloat64s(got)
	for i := range want {
		if math.IsNaN(want[i]) && math.IsNaN(g[i]) {
			continue
		}
		if math.Abs(g[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s: element %d = %v, want %v (all: %v)", what, i, g[i], want[i], g)
		}
	}
}
