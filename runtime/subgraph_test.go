package runtime

import (
	"strings"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

func graphAttr(name string, g *onnx.GraphProto) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), G: g, Type: onnx.AttributeProto_GRAPH.Enum()}
}

func scalarInfo(name string, dt tensor.DType) *onnx.ValueInfoProto {
	return valueInfo(name, tensorType(dt))
}

// TestIfReadsOuterValues: the branches read "a", which a node listed after the If produces, and
// "x"; the If must be ordered after that node and "a" must survive until the If has run.
func TestIfReadsOuterValues(t *testing.T) {
	thenG := &onnx.GraphProto{Name: proto.String("then"),
		Node:   []*onnx.NodeProto{mkNode(testDomain, "Sum", "then_sum", []string{"a", "x"}, []string{"t"})},
		Output: []*onnx.ValueInfoProto{valueInfo("t", nil)}}
	elseG := &onnx.GraphProto{Name: proto.String("else"),
		Node:   []*onnx.NodeProto{mkNode(testDomain, "Scale", "else_scale", []string{"a"}, []string{"e"}, floatAttr("alpha", -1))},
		Output: []*onnx.ValueInfoProto{valueInfo("e", nil)}}
	m := mkModel(&onnx.GraphProto{
		Input:  []*onnx.ValueInfoProto{valueInfo("x", tensorType(tensor.Float32, 2)), scalarInfo("cond", tensor.Bool)},
		Output: []*onnx.ValueInfoProto{valueInfo("y", tensorType(tensor.Float32, 2))},
		Node: []*onnx.NodeProto{
			mkNode("", "If", "if", []string{"cond"}, []string{"y"}, graphAttr("then_branch", thenG), graphAttr("else_branch", elseG)),
			mkNode(testDomain, "AddOne", "make_a", []string{"x"}, []string{"a"}),
		},
	})
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	x := f32([]int{2}, 1, 2)
	for _, c := range []struct {
		cond bool
		want []float32
	}{{true, []float32{3, 5}}, {false, []float32{-2, -3}}} {
		out, err := s.Run(map[string]*tensor.Tensor{"x": x, "cond": tensor.Scalar(c.cond)})
		if err != nil {
			t.Fatal(err)
		}
		if got := out["y"].F32(); got[0] != c.want[0] || got[1] != c.want[1] {
			t.Errorf("cond %v: y = %v, want %v", c.cond, got, c.want)
		}
	}
	if _, err := s.Run(map[string]*tensor.Tensor{"x": x, "cond": tensor.Scalar(int64(1))}); err == nil ||
		!strings.Contains(err.Error(), `input "cond": expected bool[], got int64[]`) {
		t.Errorf("int64 condition: err = %v", err)
	}

	// A subgraph reading a value nobody defines fails at creation, naming it.
	elseG.Node[0].Input[0] = "ghost"
	if _, err := NewSession(m); err == nil || !strings.Contains(err.Error(), `"ghost"`) {
		t.Errorf("undefined outer value: err = %v", err)
	}
}

// TestLoopCarriesAndScans: acc += x for M iterations (x read from the outer scope), with the
// running value as a scan output.
func TestLoopCarriesAndScans(t *testing.T) {
	body := &onnx.GraphProto{Name: proto.String("body"),
		Input: []*onnx.ValueInfoProto{scalarInfo("i", tensor.Int64), scalarInfo("c", tensor.Bool), valueInfo("acc", nil)},
		Node: []*onnx.NodeProto{
			mkNode(testDomain, "Sum", "acc_next", []string{"acc", "x"}, []string{"acc2"}),
			mkNode("", "Identity", "cond_pass", []string{"c"}, []string{"c2"}),
			mkNode("", "Identity", "scan_copy", []string{"acc2"}, []string{"s"}),
		},
		Output: []*onnx.ValueInfoProto{valueInfo("c2", nil), valueInfo("acc2", nil), valueInfo("s", tensorType(tensor.Float32, 2))},
	}
	m := mkModel(&onnx.GraphProto{
		Input:  []*onnx.ValueInfoProto{valueInfo("x", tensorType(tensor.Float32, 2)), scalarInfo("M", tensor.Int64)},
		Output: []*onnx.ValueInfoProto{valueInfo("final", nil), valueInfo("steps", nil)},
		Initializer: []*onnx.TensorProto{tensor.ToProto(f32([]int{2}, 0, 0), "zero"),
			tensor.ToProto(tensor.Scalar(true), "yes")},
		Node: []*onnx.NodeProto{
			mkNode("", "Loop", "loop", []string{"M", "yes", "zero"}, []string{"final", "steps"}, graphAttr("body", body)),
		},
	})
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*tensor.Tensor{"x": f32([]int{2}, 1, 10), "M": tensor.Scalar(int64(3))})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["final"].F32(); got[0] != 3 || got[1] != 30 {
		t.Errorf("final = %v, want [3 30]", got)
	}
	steps := out["steps"]
	want := []float32{1, 10, 2, 20, 3, 30}
	if !tensor.SameShape(steps.Shape, []int{3, 2}) {
		t.Fatalf("steps shape %v, want [3 2]", steps.Shape)
	}
	for i, v := range steps.F32() {
		if v != want[i] {
			t.Fatalf("steps = %v, want %v", steps.F32(), want)
		}
	}

	// Zero iterations: the carried value passes through, the scan output has no rows of the
	// body's declared type.
	out, err = s.Run(map[string]*tensor.Tensor{"x": f32([]int{2}, 1, 10), "M": tensor.Scalar(int64(0))})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["final"].F32(); got[0] != 0 || got[1] != 0 {
		t.Errorf("zero iterations: final = %v, want [0 0]", got)
	}
	if s := out["steps"]; s.DType != tensor.Float32 || !tensor.SameShape(s.Shape, []int{0, 2}) {
		t.Errorf("zero iterations: steps = %v, want float32[0,2]", s)
	}
}

// TestLocalFunctionInlining: a model-local function with an attribute reference (with a default),
// its own opset_import, and a nested call to another local function.
func TestLocalFunctionInlining(t *testing.T) {
	const fnDomain = "local.fn"
	refAttr := &onnx.AttributeProto{Name: proto.String("alpha"), RefAttrName: proto.String("factor"), Type: onnx.AttributeProto_FLOAT.Enum()}
	scaleThenAdd := &onnx.FunctionProto{
		Name: proto.String("ScaleThenAdd"), Domain: proto.String(fnDomain),
		Input: []string{"p", "q"}, Output: []string{"r"},
		AttributeProto: []*onnx.AttributeProto{floatAttr("factor", 2)},
		OpsetImport:    []*onnx.OperatorSetIdProto{{Domain: proto.String(testDomain), Version: proto.Int64(1)}, {Domain: proto.String(fnDomain), Version: proto.Int64(1)}},
		Node: []*onnx.NodeProto{
			mkNode(testDomain, "Scale", "scale", []string{"p"}, []string{"tmp"}, refAttr),
			mkNode(fnDomain, "Plus", "plus", []string{"tmp", "q"}, []string{"r"}),
		},
	}
	plus := &onnx.FunctionProto{
		Name: proto.String("Plus"), Domain: proto.String(fnDomain),
		Input: []string{"u", "v"}, Output: []string{"w"},
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(testDomain), Version: proto.Int64(1)}},
		Node:        []*onnx.NodeProto{mkNode(testDomain, "Sum", "sum", []string{"u", "v"}, []string{"w"})},
	}
	m := mkModel(&onnx.GraphProto{
		Input:  []*onnx.ValueInfoProto{valueInfo("x", tensorType(tensor.Float32, 2))},
		Output: []*onnx.ValueInfoProto{valueInfo("y", nil), valueInfo("z", nil)},
		Node: []*onnx.NodeProto{
			mkNode(fnDomain, "ScaleThenAdd", "call1", []string{"x", "x"}, []string{"y"}, floatAttr("factor", 3)),
			mkNode(fnDomain, "ScaleThenAdd", "call2", []string{"y", "x"}, []string{"z"}),
		},
	}, scaleThenAdd, plus)
	m.OpsetImport = append(m.OpsetImport, &onnx.OperatorSetIdProto{Domain: proto.String(fnDomain), Version: proto.Int64(1)})
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*tensor.Tensor{"x": f32([]int{2}, 1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	// y = 3x + x = 4x; z = 2y + x = 9x
	if got := out["y"].F32(); got[0] != 4 || got[1] != 8 {
		t.Errorf("y = %v, want [4 8]", got)
	}
	if got := out["z"].F32(); got[0] != 9 || got[1] != 18 {
		t.Errorf("z = %v, want [9 18]", got)
	}

	// An unknown attribute on a call is an error naming the call.
	m.Graph.Node[1].Attribute = []*onnx.AttributeProto{floatAttr("bogus", 1)}
	if _, err := NewSession(m); err == nil || !strings.Contains(err.Error(), `node "call2"`) || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("bogus attribute: err = %v", err)
	}
}

// TestKernelOrFunctionBody: an op with both a kernel and a model-local function runs the kernel,
// and the function body under WithFunctionBodies.
func TestKernelOrFunctionBody(t *testing.T) {
	body := &onnx.FunctionProto{
		Name: proto.String("AddOne"), Domain: proto.String(testDomain),
		Input: []string{"a"}, Output: []string{"b"},
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(testDomain), Version: proto.Int64(1)}},
		// Deliberately not x+1, so the test sees which one ran.
		Node: []*onnx.NodeProto{mkNode(testDomain, "Scale", "times10", []string{"a"}, []string{"b"}, floatAttr("alpha", 10))},
	}
	m := mkModel(&onnx.GraphProto{
		Input:  []*onnx.ValueInfoProto{valueInfo("x", tensorType(tensor.Float32, 1))},
		Output: []*onnx.ValueInfoProto{valueInfo("y", nil)},
		Node:   []*onnx.NodeProto{mkNode(testDomain, "AddOne", "call", []string{"x"}, []string{"y"})},
	}, body)
	for _, c := range []struct {
		opts []Option
		want float32
	}{{nil, 3}, {[]Option{WithFunctionBodies()}, 20}} {
		s, err := NewSession(m, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(map[string]*tensor.Tensor{"x": f32([]int{1}, 2)})
		if err != nil {
			t.Fatal(err)
		}
		if got := out["y"].F32()[0]; got != c.want {
			t.Errorf("options %d: y = %v, want %v", len(c.opts), got, c.want)
		}
	}
}

// TestScanSums: running sum over the rows of xs, forward, with the partial sums stacked; and the
// same with no rows at all.
func TestScanSums(t *testing.T) {
	body := &onnx.GraphProto{Name: proto.String("body"),
		Input: []*onnx.ValueInfoProto{valueInfo("acc", nil), valueInfo("row", nil)},
		Node: []*onnx.NodeProto{
			mkNode(testDomain, "Sum", "add", []string{"acc", "row"}, []string{"acc2"}),
			mkNode(testDomain, "Scale", "copy", []string{"acc2"}, []string{"partial"}, floatAttr("alpha", 1)),
		},
		Output: []*onnx.ValueInfoProto{valueInfo("acc2", nil), valueInfo("partial", tensorType(tensor.Float32, 2))},
	}
	intAttr := &onnx.AttributeProto{Name: proto.String("num_scan_inputs"), I: proto.Int64(1), Type: onnx.AttributeProto_INT.Enum()}
	m := mkModel(&onnx.GraphProto{
		Input:  []*onnx.ValueInfoProto{valueInfo("init", tensorType(tensor.Float32, 2)), valueInfo("xs", tensorType(tensor.Float32, "n", 2))},
		Output: []*onnx.ValueInfoProto{valueInfo("total", nil), valueInfo("partials", nil)},
		Node: []*onnx.NodeProto{mkNode("", "Scan", "scan", []string{"init", "xs"}, []string{"total", "partials"},
			graphAttr("body", body), intAttr)},
	})
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*tensor.Tensor{"init": f32([]int{2}, 0, 0), "xs": f32([]int{3, 2}, 1, 2, 3, 4, 5, 6)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["total"].F32(); got[0] != 9 || got[1] != 12 {
		t.Errorf("total = %v, want [9 12]", got)
	}
	if p := out["partials"]; !tensor.SameShape(p.Shape, []int{3, 2}) || p.F32()[2] != 4 || p.F32()[5] != 12 {
		t.Errorf("partials = %v %v, want [[1 2] [4 6] [9 12]]", p, p.F32())
	}
	out, err = s.Run(map[string]*tensor.Tensor{"init": f32([]int{2}, 7, 8), "xs": tensor.Zeros(tensor.Float32, []int{0, 2})})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["total"].F32(); got[0] != 7 || got[1] != 8 {
		t.Errorf("no rows: total = %v, want [7 8]", got)
	}
	if p := out["partials"]; p.DType != tensor.Float32 || !tensor.SameShape(p.Shape, []int{0, 2}) {
		t.Errorf("no rows: partials = %v, want float32[0,2]", p)
	}
}
