package runtime

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// The runtime's own tests use kernels of a private domain, so they neither depend on nor collide
// with the standard kernels that live in runtime/ops.
const testDomain = "test.runtime"

var testKernelRuns atomic.Int64

func init() {
	// AddOne: float32 x + 1; counts its runs so tests can see what was folded.
	ops.Register(testDomain, "AddOne", 1, func(n *ops.Node) (ops.Kernel, error) {
		return ops.KernelFunc(func(ctx *ops.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			testKernelRuns.Add(1)
			out := ctx.Alloc(tensor.Float32, in[0].Shape)
			for i, v := range in[0].F32() {
				out.F32()[i] = v + 1
			}
			return []*tensor.Tensor{out}, nil
		}), nil
	})
	// Sum: float32 sum; later inputs repeat over the first (a trailing-axis broadcast).
	ops.Register(testDomain, "Sum", 1, func(n *ops.Node) (ops.Kernel, error) {
		return ops.KernelFunc(func(ctx *ops.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			out := ctx.Alloc(tensor.Float32, in[0].Shape)
			for _, t := range in {
				if t.Len() == 0 || in[0].Len()%t.Len() != 0 {
					return nil, fmt.Errorf("shapes %v and %v do not broadcast", t.Shape, in[0].Shape)
				}
				for i := range out.F32() {
					out.F32()[i] += t.F32()[i%t.Len()]
				}
			}
			return []*tensor.Tensor{out}, nil
		}), nil
	})
	// Scale: x * attribute alpha.
	ops.Register(testDomain, "Scale", 1, func(n *ops.Node) (ops.Kernel, error) {
		alpha := n.AttrFloat("alpha", 1)
		return ops.KernelFunc(func(ctx *ops.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			out := ctx.Alloc(tensor.Float32, in[0].Shape)
			for i, v := range in[0].F32() {
				out.F32()[i] = v * alpha
			}
			return []*tensor.Tensor{out}, nil
		}), nil
	})
	// Ones: a float32 vector of ones whose length is the int64 scalar input; Ones of a constant
	// folds unless the result is huge.
	ops.Register(testDomain, "Ones", 1, func(n *ops.Node) (ops.Kernel, error) {
		return ops.KernelFunc(func(ctx *ops.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			out := ctx.Alloc(tensor.Float32, []int{int(in[0].I64()[0])})
			for i := range out.F32() {
				out.F32()[i] = 1
			}
			return []*tensor.Tensor{out}, nil
		}), nil
	})
	// ParallelPanic panics inside a worker goroutine of ctx.Parallel.
	ops.Register(testDomain, "ParallelPanic", 1, func(n *ops.Node) (ops.Kernel, error) {
		return ops.KernelFunc(func(ctx *ops.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			ctx.Parallel(64, 1, func(lo, hi int) {
				if lo > 0 {
					panic("chunk failed")
				}
			})
			return []*tensor.Tensor{in[0]}, nil
		}), nil
	})
	ops.Register(testDomain, "Panic", 1, func(n *ops.Node) (ops.Kernel, error) {
		return ops.KernelFunc(func(*ops.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) {
			var s []int
			_ = s[3]
			return nil, nil
		}), nil
	})
}

// graph-building helpers for tests.

func tensorType(dt tensor.DType, dims ...any) *onnx.TypeProto {
	shape := &onnx.TensorShapeProto{}
	for _, d := range dims {
		switch d := d.(type) {
		case int:
			shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		case string:
			shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: d}})
		}
	}
	return &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(dt)), Shape: shape}}}
}

func valueInfo(name string, tp *onnx.TypeProto) *onnx.ValueInfoProto {
	return &onnx.ValueInfoProto{Name: proto.String(name), Type: tp}
}

func mkNode(domain, op, name string, inputs, outputs []string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
	return &onnx.NodeProto{Domain: proto.String(domain), OpType: proto.String(op), Name: proto.String(name),
		Input: inputs, Output: outputs, Attribute: attrs}
}

func floatAttr(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), F: proto.Float32(v), Type: onnx.AttributeProto_FLOAT.Enum()}
}

func mkModel(g *onnx.GraphProto, funcs ...*onnx.FunctionProto) *onnx.ModelProto {
	return &onnx.ModelProto{
		IrVersion: proto.Int64(9),
		OpsetImport: []*onnx.OperatorSetIdProto{
			{Domain: proto.String(""), Version: proto.Int64(21)},
			{Domain: proto.String(testDomain), Version: proto.Int64(1)},
		},
		Graph:     g,
		Functions: funcs,
	}
}

func f32(shape []int, vals ...float32) *tensor.Tensor { return tensor.New(shape, vals) }

// chainModel: x[batch,2] → AddOne → a → Sum(a, w) → b → AddOne → y, where w = AddOne(c) is
// foldable from the initializer c.
func chainModel() *onnx.ModelProto {
	c := tensor.ToProto(f32([]int{2}, 10, 20), "c")
	return mkModel(&onnx.GraphProto{
		Name:        proto.String("chain"),
		Input:       []*onnx.ValueInfoProto{valueInfo("x", tensorType(tensor.Float32, "batch", 2))},
		Output:      []*onnx.ValueInfoProto{valueInfo("y", tensorType(tensor.Float32, "batch", 2))},
		Initializer: []*onnx.TensorProto{c},
		// Listed out of order on purpose: the session must sort them.
		Node: []*onnx.NodeProto{
			mkNode(testDomain, "AddOne", "last", []string{"b"}, []string{"y"}),
			mkNode(testDomain, "Sum", "sum", []string{"a", "w"}, []string{"b"}),
			mkNode(testDomain, "AddOne", "first", []string{"x"}, []string{"a"}),
			mkNode(testDomain, "AddOne", "fold", []string{"c"}, []string{"w"}),
		},
	})
}

func TestSessionRunsAndFolds(t *testing.T) {
	s, err := NewSession(chainModel(), WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.main.nodes); got != 3 {
		t.Errorf("%d nodes left after folding, want 3", got)
	}
	out, err := s.Run(map[string]*tensor.Tensor{"x": f32([]int{1, 2}, 1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	// y = (x+1) + (c+1) + 1
	want := []float32{1 + 1 + 11 + 1, 2 + 1 + 21 + 1}
	if got := out["y"].F32(); got[0] != want[0] || got[1] != want[1] {
		t.Errorf("y = %v, want %v", got, want)
	}
	// Intermediate values and constants can be requested by name.
	out, err = s.Run(map[string]*tensor.Tensor{"x": f32([]int{1, 2}, 1, 2)}, "a", "w", "x")
	if err != nil {
		t.Fatal(err)
	}
	if got := out["a"].F32(); got[0] != 2 || got[1] != 3 {
		t.Errorf("a = %v, want [2 3]", got)
	}
	if got := out["w"].F32(); got[0] != 11 || got[1] != 21 {
		t.Errorf("w = %v, want [11 21]", got)
	}
	out["w"].F32()[0] = 99 // must not leak into the session's constant
	out, err = s.Run(map[string]*tensor.Tensor{"x": f32([]int{1, 2}, 1, 2)}, "w")
	if err != nil || out["w"].F32()[0] != 11 {
		t.Errorf("constant changed by a caller: %v %v", out, err)
	}
	if _, err := s.Run(map[string]*tensor.Tensor{"x": f32([]int{1, 2}, 1, 2)}, "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown output: err = %v", err)
	}
	in := s.Inputs()
	if len(in) != 1 || in[0].Name != "x" || in[0].DType != tensor.Float32 || in[0].Shape[0] != (Dim{-1, "batch"}) || in[0].Shape[1] != (Dim{2, ""}) {
		t.Errorf("Inputs() = %+v", in)
	}
}

func TestSessionConcurrentRuns(t *testing.T) {
	s, err := NewSession(chainModel())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				v := float32(g*100 + i)
				out, err := s.Run(map[string]*tensor.Tensor{"x": f32([]int{1, 2}, v, v)}, "y", "a")
				if err != nil {
					errs <- err
					return
				}
				if out["y"].F32()[0] != v+13 || out["y"].F32()[1] != v+23 || out["a"].F32()[1] != v+1 {
					errs <- fmt.Errorf("run %d/%d: y=%v a=%v", g, i, out["y"].F32(), out["a"].F32())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSessionInputValidation(t *testing.T) {
	m := chainModel()
	m.Graph.Input = append(m.Graph.Input, valueInfo("z", tensorType(tensor.Float32, "batch", 1, 8, 8)))
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	x := f32([]int{2, 2}, 1, 2, 3, 4)
	z := tensor.Zeros(tensor.Float32, []int{2, 1, 8, 8})
	cases := []struct {
		name   string
		inputs map[string]*tensor.Tensor
		want   string
	}{
		{"missing", map[string]*tensor.Tensor{"x": x}, `missing input "z": expected float32[batch,1,8,8]`},
		{"unknown", map[string]*tensor.Tensor{"x": x, "z": z, "q": x}, `unknown input "q"`},
		{"initializer", map[string]*tensor.Tensor{"x": x, "z": z, "c": x}, `input "c" is an initializer`},
		{"dtype", map[string]*tensor.Tensor{"x": x, "z": tensor.Zeros(tensor.Float64, []int{2, 1, 8, 8})}, `input "z": expected float32[batch,1,8,8], got float64[2,1,8,8]`},
		{"rank", map[string]*tensor.Tensor{"x": x, "z": tensor.Zeros(tensor.Float32, []int{2, 8, 8})}, `input "z": expected float32[batch,1,8,8], got float32[2,8,8]`},
		{"fixed dim", map[string]*tensor.Tensor{"x": x, "z": tensor.Zeros(tensor.Float32, []int{2, 1, 8, 9})}, `dimension 3 is 9, want 8`},
		{"symbol", map[string]*tensor.Tensor{"x": x, "z": tensor.Zeros(tensor.Float32, []int{3, 1, 8, 8})}, `"batch" is 3, but input "x" set it to 2`},
		{"bad data", map[string]*tensor.Tensor{"x": {DType: tensor.Float32, Shape: []int{2, 2}, Data: []float32{1}}, "z": z}, `needs 4 elements`},
	}
	for _, c := range cases {
		_, err := s.Run(c.inputs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", c.name, err)
		}
	}
	if _, err := s.Run(map[string]*tensor.Tensor{"x": x, "z": z}); err != nil {
		t.Errorf("valid inputs: %v", err)
	}
}

func TestSessionCompileErrors(t *testing.T) {
	base := func(nodes ...*onnx.NodeProto) *onnx.ModelProto {
		return mkModel(&onnx.GraphProto{
			Input:  []*onnx.ValueInfoProto{valueInfo("x", tensorType(tensor.Float32, 2))},
			Output: []*onnx.ValueInfoProto{valueInfo("y", tensorType(tensor.Float32, 2))},
			Node:   nodes,
		})
	}
	cases := []struct {
		name string
		m    *onnx.ModelProto
		want string
	}{
		{"cycle", base(
			mkNode(testDomain, "Sum", "s1", []string{"x", "b"}, []string{"a"}),
			mkNode(testDomain, "AddOne", "s2", []string{"a"}, []string{"b"}),
			mkNode(testDomain, "AddOne", "s3", []string{"b"}, []string{"y"}),
		), "cycle through value"},
		{"unsupported op", base(mkNode("", "NoSuchOp", "n1", []string{"x"}, []string{"y"})),
			`node "n1" (NoSuchOp): op NoSuchOp of domain ai.onnx (opset version 21) is not supported`},
		{"unknown domain", base(mkNode("com.example", "Thing", "n2", []string{"x"}, []string{"y"})),
			`domain "com.example" is not in the model's opset_import`},
		{"undefined input", base(mkNode(testDomain, "AddOne", "n3", []string{"ghost"}, []string{"y"})),
			`input "ghost" is not a graph input`},
		{"produced twice", base(
			mkNode(testDomain, "AddOne", "a", []string{"x"}, []string{"y"}),
			mkNode(testDomain, "AddOne", "b", []string{"x"}, []string{"y"})), `output "y" is already produced`},
		{"missing output", base(mkNode(testDomain, "AddOne", "a", []string{"x"}, []string{"q"})), `graph output "y"`},
	}
	for _, c := range cases {
		_, err := NewSession(c.m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestSessionRecoversKernelPanic(t *testing.T) {
	for _, op := range []string{"Panic", "ParallelPanic"} {
		m := mkModel(&onnx.GraphProto{
			Input:  []*onnx.ValueInfoProto{valueInfo("x", tensorType(tensor.Float32, 2))},
			Output: []*onnx.ValueInfoProto{valueInfo("y", tensorType(tensor.Float32, 2))},
			Node:   []*onnx.NodeProto{mkNode(testDomain, op, "boom", []string{"x"}, []string{"y"})},
		})
		s, err := NewSession(m, WithThreads(4))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Run(map[string]*tensor.Tensor{"x": f32([]int{2}, 1, 2)})
		if err == nil || !strings.Contains(err.Error(), `node "boom" (`+op+`): kernel panicked`) {
			t.Errorf("%s: err = %v", op, err)
		}
		// The error keeps the stack and, for a runtime error, the chain to it.
		var pe *PanicError
		if !errors.As(err, &pe) || !strings.Contains(string(pe.Stack), "goroutine") {
			t.Errorf("%s: no PanicError with a stack in %v", op, err)
		}
		if op == "Panic" {
			var re goruntime.Error
			if !errors.As(err, &re) {
				t.Errorf("%s: the index error is not reachable with errors.As: %v", op, err)
			}
			if !strings.Contains(string(pe.Stack), "session_test.go") {
				t.Errorf("%s: the stack does not show the panicking kernel:\n%s", op, pe.Stack)
			}
		}
	}
}

// TestSessionFreesValues checks that a run drops intermediates after their last reader: the plan
// counts readers, and only requested values stay pinned.
func TestSessionFreesValues(t *testing.T) {
	s, err := NewSession(chainModel())
	if err != nil {
		t.Fatal(err)
	}
	g := s.main
	p := g.defaultPlan
	a := g.slotOf["a"]
	if p.uses[a] != 1 || p.pinned[a] {
		t.Errorf("value a: uses %d pinned %v, want 1 reader and not pinned", p.uses[a], p.pinned[a])
	}
	if !p.pinned[g.slotOf["y"]] {
		t.Error("graph output y is not pinned")
	}
	// A plan for an intermediate runs only what it needs.
	if q := g.planFor([]int{a}); len(q.steps) != 1 {
		t.Errorf("plan for a has %d steps, want 1", len(q.steps))
	}
}

func TestFoldingLimits(t *testing.T) {
	model := func(size int64) *onnx.ModelProto {
		return mkModel(&onnx.GraphProto{
			Initializer: []*onnx.TensorProto{tensor.ToProto(tensor.Scalar(size), "n")},
			Output:      []*onnx.ValueInfoProto{valueInfo("y", nil)},
			Node:        []*onnx.NodeProto{mkNode(testDomain, "Ones", "ones", []string{"n"}, []string{"y"})},
		})
	}
	for _, c := range []struct {
		size  int64
		nodes int
	}{{10, 0}, {maxFoldElements + 1, 1}} {
		s, err := NewSession(model(c.size))
		if err != nil {
			t.Fatal(err)
		}
		if len(s.main.nodes) != c.nodes {
			t.Errorf("size %d: %d nodes left, want %d", c.size, len(s.main.nodes), c.nodes)
		}
		out, err := s.Run(nil)
		if err != nil || out["y"].Len() != int(c.size) {
			t.Errorf("size %d: %v %v", c.size, out["y"], err)
		}
	}
}

func TestUnsupportedOpError(t *testing.T) {
	m := mkModel(&onnx.GraphProto{
		Input:  []*onnx.ValueInfoProto{valueInfo("x", tensorType(tensor.Float32, 2))},
		Output: []*onnx.ValueInfoProto{valueInfo("y", nil)},
		Node:   []*onnx.NodeProto{mkNode(testDomain, "Missing", "m", []string{"x"}, []string{"y"})},
	})
	_, err := NewSession(m)
	var u *UnsupportedOpError
	if !errors.As(err, &u) || u.OpType != "Missing" || u.Domain != testDomain || u.Version != 1 || u.Node != "m" {
		t.Errorf("err = %v (%#v)", err, u)
	}
}

func TestRunContextCancelled(t *testing.T) {
	s, err := NewSession(chainModel())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.RunContext(ctx, map[string]*tensor.Tensor{"x": f32([]int{1, 2}, 1, 2)}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestTopologicalOrderKeepsModelOrder(t *testing.T) {
	m := mkModel(&onnx.GraphProto{
		Input:  []*onnx.ValueInfoProto{valueInfo("x", tensorType(tensor.Float32, 2))},
		Output: []*onnx.ValueInfoProto{valueInfo("b", nil), valueInfo("c", nil)},
		Node: []*onnx.NodeProto{
			mkNode(testDomain, "AddOne", "A", []string{"x"}, []string{"a"}),
			mkNode(testDomain, "AddOne", "B", []string{"a"}, []string{"b"}),
			mkNode(testDomain, "AddOne", "C", []string{"x"}, []string{"c"}),
		},
	})
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range s.main.nodes {
		got = append(got, n.label)
	}
	if strings.Join(got, ",") != "A,B,C" {
		t.Errorf("order %v, want the model's A,B,C", got)
	}
}
