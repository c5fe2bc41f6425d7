package rewrite

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// realModels lists the shared models and the sites their README promises.
var realModels = []struct {
	name    string
	kind    Kind
	pattern string
	count   int
}{
	{"digits_cnn", KindReLU, "relu", 3},
	{"digits_mlp_gelu", KindGELU, "gelu_erf", 2},
	{"digits_mlp_gelu_op20", KindGELU, "gelu_op", 2},
	{"digits_vit", KindGELU, "gelu_erf", 2},
	{"digits_vit_op20", KindGELU, "gelu_op", 2},
	{"digits_vit_tanh", KindGELUTanh, "gelu_tanh", 2},
	{"resnet18", KindReLU, "relu", 17},
	{"vit_tiny", KindGELU, "gelu_erf", 12},
}

func loadShared(t *testing.T, name string) *onnx.ModelProto {
	t.Helper()
	m, err := onnx.LoadFile(testutil.SharedPath(t, "models", name, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func opCounts(g *onnx.GraphProto, skip func(*onnx.NodeProto) bool) map[string]int {
	counts := map[string]int{}
	for _, n := range g.GetNode() {
		if !skip(n) {
			counts[opName(n)]++
		}
	}
	return counts
}

func TestRealModels(t *testing.T) {
	t.Parallel()
	for _, rm := range realModels {
		t.Run(rm.name, func(t *testing.T) {
			m := loadShared(t, rm.name)
			sites, err := Find(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(sites) != rm.count {
				t.Fatalf("found %d sites, want %d", len(sites), rm.count)
			}
			matched := map[string]bool{}
			for _, s := range sites {
				if s.Kind != rm.kind || s.Pattern != rm.pattern || s.Blocked != "" {
					t.Fatalf("site %+v, want kind %s pattern %s, not blocked", s, rm.kind, rm.pattern)
				}
				for _, n := range s.Nodes {
					matched[n] = true
				}
			}
			for _, fam := range onnxops.Families {
				out, rep, err := Apply(m, Options{To: fam})
				if err != nil {
					t.Fatalf("%s: %v", fam, err)
				}
				if len(rep.Replaced) != rm.count || len(rep.Skipped) != 0 {
					t.Fatalf("%s: replaced %d, skipped %+v; want %d replaced", fam, len(rep.Replaced), rep.Skipped, rm.count)
				}
				for _, n := range out.Graph.Node {
					if matched[n.GetName()] {
						t.Fatalf("%s: matched node %q (%s) is still there", fam, n.GetName(), n.GetOpType())
					}
				}
				// Every other node keeps its op type, except the bias Adds the new nodes absorbed;
				// only constants (and Identity nodes passing them on) that fed the chains may go.
				absorbed := map[string]bool{}
				for _, r := range rep.Replaced {
					if r.AbsorbedBias != nil {
						absorbed[r.AbsorbedBias.Node] = true
					}
				}
				want := opCounts(m.Graph, func(n *onnx.NodeProto) bool { return matched[n.GetName()] || absorbed[n.GetName()] })
				got := opCounts(out.Graph, func(n *onnx.NodeProto) bool { return n.GetDomain() == onnxops.Domain })
				for _, op := range []string{"Constant", "Identity"} {
					if got[op] > want[op] {
						t.Fatalf("%s: more %s nodes after the rewrite", fam, op)
					}
					delete(got, op)
					delete(want, op)
				}
				if !maps.Equal(got, want) {
					t.Fatalf("%s: op types changed:\n got %v\nwant %v", fam, got, want)
				}
				if n := opCounts(out.Graph, func(n *onnx.NodeProto) bool { return n.GetDomain() != onnxops.Domain })[onnxops.Domain+":"+string(fam)]; n != rm.count {
					t.Fatalf("%s: %d %s nodes, want %d", fam, n, fam, rm.count)
				}
				checkTopological(t, out.Graph)
			}
		})
	}
}

// checkTopological checks that every node input is defined before the node.
func checkTopological(t *testing.T, g *onnx.GraphProto) {
	t.Helper()
	defined := map[string]bool{"": true}
	for _, vi := range g.GetInput() {
		defined[vi.GetName()] = true
	}
	for _, init := range g.GetInitializer() {
		defined[init.GetName()] = true
	}
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			if !defined[in] {
				t.Fatalf("node %q reads %q before it is defined", n.GetName(), in)
			}
		}
		for _, o := range n.GetOutput() {
			defined[o] = true
		}
	}
	for _, o := range g.GetOutput() {
		if !defined[o.GetName()] {
			t.Fatalf("graph output %q is not produced", o.GetName())
		}
	}
}

// loadInputs reads test_data_set_0's inputs, named after the model's graph inputs.
func loadInputs(t *testing.T, name string, m *onnx.ModelProto) map[string]*tensor.Tensor {
	t.Helper()
	dir := testutil.SharedPath(t, "models", name, "test_data_set_0")
	feeds := map[string]*tensor.Tensor{}
	inits := map[string]bool{}
	for _, init := range m.Graph.GetInitializer() {
		inits[init.GetName()] = true
	}
	k := 0
	for _, vi := range m.Graph.GetInput() {
		if inits[vi.GetName()] {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("input_%d.pb", k)))
		if err != nil {
			t.Fatal(err)
		}
		var tp onnx.TensorProto
		if err := unmarshalTensor(b, &tp); err != nil {
			t.Fatal(err)
		}
		x, err := tensor.FromProto(&tp)
		if err != nil {
			t.Fatal(err)
		}
		feeds[vi.GetName()] = x
		k++
	}
	return feeds
}

func runModel(t *testing.T, m *onnx.ModelProto, feeds map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	s, err := runtime.NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReLURewritesAreExact runs the ReLU models before and after ReLU→PWLU and ReLU→CRReLU
// (both exact with their default parameters) in actswap's runtime.
func TestReLURewritesAreExact(t *testing.T) {
	t.Parallel()
	models := []string{"digits_cnn", "resnet18"}
	if testing.Short() {
		models = models[:1]
	}
	for _, name := range models {
		m := loadShared(t, name)
		feeds := loadInputs(t, name, m)
		want := runModel(t, m, feeds)
		for _, fam := range []onnxops.Family{onnxops.FamilyPWLU, onnxops.FamilyCRReLU} {
			out, _, err := Apply(m, Options{To: fam})
			if err != nil {
				t.Fatal(err)
			}
			got := runModel(t, out, feeds)
			for _, k := range slices.Sorted(maps.Keys(want)) {
				a, b := got[k].F32(), want[k].F32()
				worst := 0.0
				for i := range b {
					worst = math.Max(worst, math.Abs(float64(a[i]-b[i]))/math.Max(1, math.Abs(float64(b[i]))))
				}
				if worst > 1e-5 {
					t.Errorf("%s → %s: output %q differs by %.3g", name, fam, k, worst)
				}
				t.Logf("%s → %s: output %q max difference %.3g", name, fam, k, worst)
			}
		}
	}
}

func unmarshalTensor(b []byte, tp *onnx.TensorProto) error { return proto.Unmarshal(b, tp) }
