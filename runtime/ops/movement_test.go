package ops

import (
	"fmt"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// Helpers for the shape and data-movement kernel tests: build a node from a table row and run
// it through the registry. Attribute values are int, int64, float32, string, []int64, []float32
// or *tensor.Tensor; a nil input is an omitted optional input.

type mvAttrs map[string]any

func mvNode(op string, version int, attrs mvAttrs, inputs []*tensor.Tensor, nOut int) *Node {
	p := &onnx.NodeProto{OpType: &op}
	for i, in := range inputs {
		name := ""
		if in != nil {
			name = fmt.Sprintf("in%d", i)
		}
		p.Input = append(p.Input, name)
	}
	for i := range nOut {
		p.Output = append(p.Output, fmt.Sprintf("out%d", i))
	}
	for name, v := range attrs {
		a := &onnx.AttributeProto{Name: &name}
		switch x := v.(type) {
		case int:
			i := int64(x)
			a.I = &i
		case int64:
			a.I = &x
		case float32:
			a.F = &x
		case string:
			a.S = []byte(x)
		case []int64:
			a.Ints = x
		case []float32:
			a.Floats = x
		case *tensor.Tensor:
			a.T = tensor.ToProto(x, name)
		default:
			panic(fmt.Sprintf("mvNode: attribute %s has unsupported type %T", name, v))
		}
		p.Attribute = append(p.Attribute, a)
	}
	return NewNode(p, version)
}

// mvRun runs op and returns its outputs or the factory/run error.
func mvRun(op string, version int, attrs mvAttrs, nOut int, inputs ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	f, ok := Lookup(DefaultDomain, op, version)
	if !ok {
		return nil, fmt.Errorf("%s-%d not registered", op, version)
	}
	k, err := f(mvNode(op, version, attrs, inputs, nOut))
	if err != nil {
		return nil, err
	}
	return k.Run(NewContext(1), inputs)
}

// mvCheck runs op and compares output 0 with a written-out tensor.
func mvCheck(t *testing.T, name, op string, version int, attrs mvAttrs, want *tensor.Tensor, inputs ...*tensor.Tensor) {
	t.Helper()
	outs, err := mvRun(op, version, attrs, 1, inputs...)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	mvSame(t, name, outs[0], want)
}

func mvSame(t *testing.T, name string, got, want *tensor.Tensor) {
	t.Helper()
	if got.DType != want.DType || !tensor.SameShape(got.Shape, want.Shape) || fmt.Sprint(got.Data) != fmt.Sprint(want.Data) {
		t.Errorf("%s: got %v %v, want %v %v", name, got, got.Data, want, want.Data)
	}
}

func mvF32(shape []int, v ...float32) *tensor.Tensor { return tensor.New(shape, v) }
func mvI64(shape []int, v ...int64) *tensor.Tensor   { return tensor.New(shape, v) }

// mvIota returns float32 0, 1, 2, … in the given shape.
func mvIota(shape ...int) *tensor.Tensor {
	d := make([]float32, tensor.NumElements(shape))
	for i := range d {
		d[i] = float32(i)
	}
	return tensor.New(shape, d)
}

func TestMoveStridedMatchesIndexWalk(t *testing.T) {
	t.Parallel()
	// Every combination of merged, broadcast (0), reversed (negative) and plain strides is
	// compared with a direct per-element evaluation of the strided addressing.
	src := make([]int, 200)
	for i := range src {
		src[i] = i
	}
	cases := []struct {
		shape, srcStrides []int
		srcOff            int
	}{
		{[]int{2, 3, 4}, []int{12, 4, 1}, 0},
		{[]int{2, 3, 4}, []int{1, 2, 6}, 0},
		{[]int{3, 1, 5}, []int{0, 7, 1}, 3},
		{[]int{4, 5}, []int{-5, -1}, 19},
		{[]int{2, 2, 2, 2, 2, 2, 2, 2, 2}, []int{64, 32, 16, 8, 4, 2, 1, 0, 0}, 0},
		{[]int{}, []int{}, 7},
		{[]int{3, 0, 2}, []int{1, 1, 1}, 0},
	}
	for _, c := range cases {
		n := tensor.NumElements(c.shape)
		got := make([]int, n)
		moveStrided(got, 0, tensor.Strides(c.shape), src, c.srcOff, c.srcStrides, c.shape)
		want := make([]int, n)
		coord := make([]int, len(c.shape))
		for p := range want {
			off := c.srcOff
			for i, x := range coord {
				off += x * c.srcStrides[i]
			}
			want[p] = src[off]
			for i := len(coord) - 1; i >= 0; i-- {
				coord[i]++
				if coord[i] < c.shape[i] {
					break
				}
				coord[i] = 0
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("shape %v strides %v: got %v, want %v", c.shape, c.srcStrides, got, want)
		}
	}
}
