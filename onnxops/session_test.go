package onnxops_test

import (
	"fmt"
	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/onnxops"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// TestSessionEndToEnd saves single-node models, loads them back and runs them through the actswap
// runtime (which picks the fused kernel over the attached function), against the float64 reference.
func TestSessionEndToEnd(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(15, 16))
	for _, c := range acttest.KernelCases() {
		_, ps := acttest.Float32Params(t, c)
		shape, axis := []int{2, len(ps), 4, 9}, 1
		label := fmt.Sprintf("%s %v", c.Name, shape)
		m, err := onnxops.SingleNodeModel(c.Fam, ps, tensor.Float32, shape, axis)
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := onnx.LoadFile(acttest.SaveModel(t, m))
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		s, err := runtime.NewSession(loaded, runtime.WithThreads(2))
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		xs := acttest.Inputs(tensor.NumElements(shape), rng)
		out, err := s.Run(map[string]*tensor.Tensor{"X": tensor.New(shape, xs)})
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		acttest.CheckAgainstReference(t, label, ps, shape, axis, xs, out["Y"].F32())
	}
}

// TestSessionRunsFunctionBody runs each function body in the actswap runtime itself: the node's
// domain is renamed so that no fused kernel matches and the runtime must inline the body. This
// checks the bodies with a second ONNX implementation besides onnxruntime.
func TestSessionRunsFunctionBody(t *testing.T) {
	t.Parallel()
	const bodyDomain = "test.actswap.body"
	rng := rand.New(rand.NewPCG(17, 18))
	for _, c := range acttest.KernelCases() {
		_, ps := acttest.Float32Params(t, c)
		shape, axis := []int{3, len(ps), 21}, -2
		label := fmt.Sprintf("%s %v", c.Name, shape)
		m, err := onnxops.SingleNodeModel(c.Fam, ps, tensor.Float32, shape, axis)
		if err != nil {
			t.Fatal(err)
		}
		m.Graph.Node[0].Domain = proto.String(bodyDomain)
		m.Functions[0].Domain = proto.String(bodyDomain)
		m.OpsetImport = append(m.OpsetImport, &onnx.OperatorSetIdProto{Domain: proto.String(bodyDomain), Version: proto.Int64(1)})
		s, err := runtime.NewSession(m, runtime.WithThreads(1))
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		xs := acttest.Inputs(tensor.NumElements(shape), rng)
		out, err := s.Run(map[string]*tensor.Tensor{"X": tensor.New(shape, xs)})
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		acttest.CheckAgainstReference(t, label+" (function body)", ps, shape, axis, xs, out["Y"].F32())
	}
}

// Invalid constant parameters fail when the session is created, with the node named.
func TestSessionRejectsBadParameters(t *testing.T) {
	t.Parallel()
	m, err := onnxops.SingleNodeModel(onnxops.FamilyPWLU, []onnxops.Params{acttest.ReluPWLU(-1, 1, 4)}, tensor.Float32, []int{2, 8}, 1)
	if err != nil {
		t.Fatal(err)
	}
	bounds := m.Graph.Initializer[0]
	bad, err := tensor.FromProto(bounds)
	if err != nil {
		t.Fatal(err)
	}
	bad.F32()[0], bad.F32()[1] = 2, 1 // B_L > B_R
	m.Graph.Initializer[0] = tensor.ToProto(bad, bounds.GetName())
	if _, err := runtime.NewSession(m); err == nil {
		t.Fatal("B_L > B_R: session created")
	} else if !strings.Contains(err.Error(), "PWLU_0") {
		t.Errorf("error does not name the node: %v", err)
	} else {
		t.Log(err)
	}
}

// Per-channel parameters whose C cannot match X as the model declares it fail when the session is
// created, naming the node; a symbolic channel dimension is left to Run.
func TestSessionRejectsChannelMismatch(t *testing.T) {
	t.Parallel()
	channels := []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.1}, onnxops.CRReLUParams{Epsilon: 0.2}, onnxops.CRReLUParams{Epsilon: 0.3}}
	for _, c := range []struct {
		shape []int
		axis  int
		want  string
	}{
		{[]int{2, 5, 4}, 1, "C=3"},
		{[]int{2, 3, 4}, -1, "C=3"},
		{[]int{2, 3}, 4, "out of range"},
	} {
		m, err := onnxops.SingleNodeModel(onnxops.FamilyCRReLU, channels, tensor.Float32, c.shape, c.axis)
		if err != nil {
			t.Fatal(err)
		}
		_, err = runtime.NewSession(m)
		if err == nil || !strings.Contains(err.Error(), "CRReLU_0") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("X %v axis %d: got %v, want a creation error naming CRReLU_0 and %q", c.shape, c.axis, err, c.want)
		}
	}
	m, err := onnxops.SingleNodeModel(onnxops.FamilyCRReLU, channels, tensor.Float32, []int{2, 3, 4}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runtime.NewSession(m); err != nil {
		t.Errorf("matching C: %v", err)
	}
}
