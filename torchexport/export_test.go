package torchexport

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/tensor"
)

// The scopes are the exporter's: torch.onnx names a node by the unqualified names of the modules
// whose forward produced it (torch/onnx/utils.py _unqualified_variable_name keeps trailing
// numeric atoms).
func TestModulePath(t *testing.T) {
	for _, c := range []struct{ node, module string }{
		{"/enc/layers.0/activation/Mul_1", "enc.layers.0.activation"},
		{"/layer1/layer1.0/relu/Relu", "layer1.0.relu"},
		{"/stages/stages.0/stages.0.2/Relu", "stages.0.2"},
		{"/features/features.0/features.0.1/features.0.1.2/Relu", "features.0.1.2"},
		{"/blocks.0/mlp/act/Mul_1", "blocks.0.mlp.act"},
		{"/act/Relu", "act"},
		{"/Relu", ""},
		{"Relu_3", ""},
	} {
		if got := ModulePath(ScopeOf(c.node)); got != c.module {
			t.Errorf("ModulePath(ScopeOf(%q)) = %q, want %q", c.node, got, c.module)
		}
	}
}

// The layout is the safetensors specification's: u64 little-endian header size, JSON header
// with dtype, shape and data_offsets relative to the byte after the header, data in little endian.
func TestSafetensorsLayout(t *testing.T) {
	var b bytes.Buffer
	err := writeSafetensors(&b, []namedTensor{
		{Key: "b", Shape: []int{2}, Data: []float32{1, -2}},
		{Key: "a", Shape: nil, Data: []float32{0.5}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	n := binary.LittleEndian.Uint64(raw)
	if (8+n)%8 != 0 {
		t.Errorf("data starts at byte %d, not 8-aligned", 8+n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	if string(header["a"]) != `{"dtype":"F32","shape":[],"data_offsets":[0,4]}` ||
		string(header["b"]) != `{"dtype":"F32","shape":[2],"data_offsets":[4,12]}` ||
		string(header["__metadata__"]) != `{"format":"pt"}` {
		t.Errorf("header %s", raw[8:8+n])
	}
	data := raw[8+n:]
	want := []float32{0.5, 1, -2}
	if len(data) != 4*len(want) {
		t.Fatalf("%d data bytes, want %d", len(data), 4*len(want))
	}
	for i, w := range want {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])); got != w {
			t.Errorf("value %d = %v, want %v", i, got, w)
		}
	}
	if err := writeSafetensors(&b, []namedTensor{{Key: "x", Shape: []int{3}, Data: []float32{1}}}, nil); err == nil {
		t.Error("a shape that does not match the data was accepted")
	}
}

// rewrittenMLP is a two-site model (ReLU then GELU by erf) rewritten to PWLU per channel for the
// first site, by the rewriter itself.
func rewrittenMLP(t *testing.T) *onnx.ModelProto {
	t.Helper()
	m, err := onnx.LoadFile(filepath.Join("..", "models", "digits_mlp_gelu", "model.onnx"))
	if err != nil {
		t.Skipf("bundled model: %v", err)
	}
	out, _, err := rewrite.Apply(m, rewrite.Options{To: onnxops.FamilyPWLU})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteRefusesToOverwrite(t *testing.T) {
	m := rewrittenMLP(t)
	dir := filepath.Join(t.TempDir(), "export")
	sites, err := Write(dir, m, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ModuleFile, ParamsFile, SitesFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := Write(dir, m, "test", false); err == nil || !strings.Contains(err.Error(), "force argument") {
		t.Errorf("second write without force: %v, want a refusal naming the force argument", err)
	}
	if _, err := Write(dir, m, "test", true); err != nil {
		t.Errorf("force over an earlier export: %v", err)
	}
	// A folder with anything else in it is never replaced, even with force.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, m, "test", true); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("force over a folder with a user's file: %v, want a refusal naming it", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("the user's file: %q, %v", b, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("temporary folders left beside the export: %v", entries)
	}
	// The parameters in the file are the model's.
	var doc sitesDocument
	b, _ := os.ReadFile(filepath.Join(dir, SitesFile))
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Sites) != len(sites) {
		t.Fatalf("%s: %v, %d sites, want %d", SitesFile, err, len(doc.Sites), len(sites))
	}
	for _, s := range doc.Sites {
		if s.Family != onnxops.FamilyPWLU || !slices.Equal(s.Scope, ScopeOf(s.Replaced)) || s.Params["heights"] != s.Name+".heights" {
			t.Errorf("site %+v", s)
		}
	}
}

func TestSitesErrors(t *testing.T) {
	m := rewrittenMLP(t)
	// Not rewritten: nothing to export.
	orig, err := onnx.LoadFile(filepath.Join("..", "models", "digits_mlp_gelu", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Sites(orig); err == nil || !strings.Contains(err.Error(), "rewrite the model first") {
		t.Errorf("original model: %v", err)
	}
	// A parameter fed by a graph input rather than an initializer names the node.
	var node *onnx.NodeProto
	for _, n := range m.GetGraph().GetNode() {
		if n.GetDomain() == onnxops.Domain {
			node = n
			break
		}
	}
	node.Input[2] = "missing_heights"
	if _, _, err := Sites(m); err == nil || !strings.Contains(err.Error(), node.GetName()) || !strings.Contains(err.Error(), "missing_heights") {
		t.Errorf("parameter not an initializer: %v", err)
	}
	// Invalid parameters (B_L ≥ B_R) are refused, not exported.
	m = rewrittenMLP(t)
	for _, init := range m.GetGraph().GetInitializer() {
		if strings.HasSuffix(init.GetName(), "bounds") {
			bad := tensor.ToProto(tensor.New([]int{2}, []float32{1, -1}), init.GetName())
			init.Reset()
			init.Name, init.Dims, init.DataType, init.RawData = bad.Name, bad.Dims, bad.DataType, bad.RawData
			init.FloatData = bad.FloatData
			break
		}
	}
	if _, _, err := Sites(m); err == nil || !strings.Contains(err.Error(), "B_L < B_R") {
		t.Errorf("bounds reversed: %v", err)
	}
}

// TestSitesUndoAbsorbedBias: a node that absorbed the bias in front of it reads the pre-bias
// value, but the PyTorch module sits after the layer that adds the bias, so export-torch writes
// the activation's own parameters: the same as for the model rewritten with the bias kept.
func TestSitesUndoAbsorbedBias(t *testing.T) {
	m, err := onnx.LoadFile(filepath.Join("..", "models", "digits_vit", "model.onnx"))
	if err != nil {
		t.Skipf("bundled model: %v", err)
	}
	var got [2][]namedTensor
	for i, keep := range []bool{false, true} {
		out, rep, err := rewrite.Apply(m, rewrite.Options{To: onnxops.FamilyPWLU, KeepBias: keep})
		if err != nil {
			t.Fatal(err)
		}
		if (rep.Replaced[0].AbsorbedBias != nil) == keep {
			t.Fatalf("KeepBias %v: absorbed %+v", keep, rep.Replaced[0].AbsorbedBias)
		}
		sites, ts, err := Sites(out)
		if err != nil {
			t.Fatal(err)
		}
		if sites[0].Channels != 1 {
			t.Fatalf("KeepBias %v: %d channels, want the one per-tensor set", keep, sites[0].Channels)
		}
		got[i] = ts
	}
	for k := range got[0] {
		a, b := got[0][k], got[1][k]
		if !slices.Equal(a.Shape, b.Shape) {
			t.Fatalf("%s: shape %v absorbed, %v kept", a.Key, a.Shape, b.Shape)
		}
		for i := range a.Data {
			if math.Abs(float64(a.Data[i]-b.Data[i])) > 1e-6*max(1, math.Abs(float64(b.Data[i]))) {
				t.Fatalf("%s[%d]: %v absorbed, %v kept", a.Key, i, a.Data[i], b.Data[i])
			}
		}
	}
}

// ai.actswap nodes inside a Loop body or a model-local function have no one PyTorch module to
// swap: export refuses, naming the node, rather than hand back a partial model.
func TestSitesRefusesNestedNodes(t *testing.T) {
	nested, _, err := rewrite.Apply(graphtest.NestedGELUs(1).Model(), rewrite.Options{To: onnxops.FamilyPWLU})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Sites(nested); err == nil || !strings.Contains(err.Error(), "/body/Mul_15") {
		t.Errorf("nested sites: %v, want an error naming the Loop body's node", err)
	}
	onlyMain, _, err := rewrite.Apply(graphtest.NestedGELUs(1).Model(), rewrite.Options{To: onnxops.FamilyPWLU, Exclude: regexp.MustCompile(`^(If|Loop|Scan|function) `)})
	if err != nil {
		t.Fatal(err)
	}
	if sites, _, err := Sites(onlyMain); err != nil || len(sites) != 1 {
		t.Errorf("with the nested sites excluded: %d sites, %v; want the main graph's one", len(sites), err)
	}
}
