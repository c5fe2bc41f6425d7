package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"google.golang.org/protobuf/proto"
)

// A trace as onnxruntime's profiler writes it: session events, then per run a model_run event
// and, per node, fence events around the kernel's. Two runs; the first is warm-up.
const ortTrace = `[
{"cat":"Session","name":"model_loading_uri","ts":1,"dur":50,"args":{}},
{"cat":"Node","name":"/0/Conv_output_0_nchwc_kernel_time","ts":110,"dur":40,"args":{"op_name":"Conv"}},
{"cat":"Node","name":"/0/Conv_output_0_nchwc_fence_after","ts":150,"dur":0,"args":{"op_name":"Conv"}},
{"cat":"Node","name":"/1/b/b.0/Relu_output_0_nchwc_kernel_time","ts":151,"dur":9,"args":{"op_name":"Conv"}},
{"cat":"Session","name":"model_run","ts":100,"dur":70,"args":{}},
{"cat":"Session","name":"model_run","ts":200,"dur":60,"args":{}},
{"cat":"Node","name":"/0/Conv_output_0_nchwc_fence_before","ts":205,"dur":0,"args":{"op_name":"Conv"}},
{"cat":"Node","name":"/0/Conv_output_0_nchwc_kernel_time","ts":205,"dur":30,"args":{"op_name":"Conv"}},
{"cat":"Node","name":"/1/b/b.0/Relu_output_0_nchwc_kernel_time","ts":236,"dur":7.5,"args":{"op_name":"Conv"}},
{"cat":"Node","name":"ReorderOutput_token_3_kernel_time","ts":244,"dur":2,"args":{"op_name":"ReorderOutput"}},
{"cat":"Node","name":"/2/Gemm_kernel_time","ts":247,"dur":11,"args":{"op_name":"Gemm"}}
]`

// TestParseORTProfile checks that the kernel events of the runs after the warm-up ones are
// summed per node — not the fence events, not the warm-up run's kernels — with their operators.
func TestParseORTProfile(t *testing.T) {
	p, err := ParseORTProfile(strings.NewReader(ortTrace), 1)
	if err != nil {
		t.Fatal(err)
	}
	us := time.Microsecond
	want := []runtime.NodeTime{
		{Node: "/0/Conv_output_0_nchwc", OpType: "Conv", Calls: 1, Total: 30 * us},
		{Node: "/2/Gemm", OpType: "Gemm", Calls: 1, Total: 11 * us},
		{Node: "/1/b/b.0/Relu_output_0_nchwc", OpType: "Conv", Calls: 1, Total: 7500 * time.Nanosecond},
		{Node: "ReorderOutput_token_3", OpType: "ReorderOutput", Calls: 1, Total: 2 * us},
	}
	if p.Runs != 1 || len(p.Nodes) != len(want) {
		t.Fatalf("got %d runs, nodes %+v; want 1 run, %+v", p.Runs, p.Nodes, want)
	}
	for i, w := range want {
		if p.Nodes[i] != w {
			t.Errorf("node %d: %+v, want %+v", i, p.Nodes[i], w)
		}
	}
	all, err := ParseORTProfile(strings.NewReader(ortTrace), 0)
	if err != nil {
		t.Fatal(err)
	}
	if all.Runs != 2 || all.Nodes[0].Calls != 2 || all.Nodes[0].Total != 70*us {
		t.Errorf("without warm-up: %+v", all)
	}
	if _, err := ParseORTProfile(strings.NewReader(ortTrace), 2); err == nil || !strings.Contains(err.Error(), "2 runs recorded") {
		t.Errorf("as many warm-up runs as runs: %v, want an error", err)
	}
	if _, err := ParseORTProfile(strings.NewReader(`{"cat":`), 0); err == nil {
		t.Error("a truncated trace: no error")
	}
}

// TestModuleOf checks the module names both profiles are joined on.
func TestModuleOf(t *testing.T) {
	for _, c := range []struct {
		node  string
		depth int
		want  string
	}{
		{"/layer1/layer1.0/conv1/Conv", 2, "/layer1/layer1.0"},
		{"/layer1/layer1.0/relu/Relu_output_0_nchwc", 2, "/layer1/layer1.0"},
		{"/layer1/layer1.0/conv1/Conv", 3, "/layer1/layer1.0/conv1"},
		{"/0/Conv_output_0_nchwc", 2, "/0"},
		{"/0/Conv", 1, "/0"},
		{"ReorderInput", 2, "ReorderInput"},
		{"/Gemm", 2, "/Gemm"},
	} {
		if got := ModuleOf(c.node, c.depth); got != c.want {
			t.Errorf("ModuleOf(%q, %d) = %q, want %q", c.node, c.depth, got, c.want)
		}
	}
}

// TestFusionRoots checks that both profilers' names for a fused node lead to the node that
// begins the fusion, and that an activation is not stepped past when its input feeds others.
func TestFusionRoots(t *testing.T) {
	node := func(name, op string, in []string, out string) *onnx.NodeProto {
		return &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: []string{out}}
	}
	g := &onnx.GraphProto{Node: []*onnx.NodeProto{
		node("/c1/Conv", "Conv", []string{"x", "w1"}, "/c1/Conv_output_0"),
		node("/Relu", "Relu", []string{"/c1/Conv_output_0"}, "/Relu_output_0"),
		node("/c2/Conv", "Conv", []string{"/Relu_output_0", "w2"}, "/c2/Conv_output_0"),
		node("/Add", "Add", []string{"/c2/Conv_output_0", "/Relu_output_0"}, "/Add_output_0"),
		node("/Relu_1", "Relu", []string{"/Add_output_0"}, "/Relu_1_output_0"),
		node("/Sigmoid", "Sigmoid", []string{"/Relu_output_0"}, "/Sigmoid_output_0"),
	}}
	root := FusionRoots(g)
	for name, want := range map[string]string{
		"/Relu_output_0_nchwc":   "/c1/Conv", // onnxruntime: Conv+Relu, named by the Relu's output
		"/c1/Conv":               "/c1/Conv", // actswap: the same fusion, named by the Conv
		"/Relu":                  "/c1/Conv",
		"/Relu_1_output_0_nchwc": "/Add",     // Add is no activation: the walk stops there
		"/Sigmoid":               "/Sigmoid", // its input feeds three nodes
		"ReorderInput":           "ReorderInput",
	} {
		if got := root(name); got != want {
			t.Errorf("root(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestJoinByModule checks that each side's node times land in their modules as per-run times,
// the busiest module first.
func TestJoinByModule(t *testing.T) {
	us := time.Microsecond
	ours := []runtime.NodeTime{
		{Node: "/1/b/b.0/Conv", OpType: "Conv+Relu", Calls: 4, Total: 40 * us},
		{Node: "/1/b/b.3/Conv", OpType: "Conv", Calls: 4, Total: 20 * us},
		{Node: "/0/Conv", OpType: "Conv", Calls: 4, Total: 400 * us},
	}
	theirs := ORTProfile{Runs: 2, Nodes: []runtime.NodeTime{
		{Node: "/1/b/b.0/Relu_output_0_nchwc", OpType: "Conv", Calls: 2, Total: 40 * us},
		{Node: "ReorderOutput_token_3", OpType: "ReorderOutput", Calls: 2, Total: 6 * us},
	}}
	got := JoinByModule(ours, 4, theirs, func(n string) string { return n }, 2)
	want := []ModuleTime{
		{Module: "/0", Actswap: 100 * us},
		{Module: "/1/b", Actswap: 15 * us, Onnxruntime: 20 * us},
		{Module: "ReorderOutput_token_3", Onnxruntime: 3 * us},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("module %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
