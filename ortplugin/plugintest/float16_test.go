package plugintest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/internal/ortc"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// toFloat16 is m with every float32 made float16, as a float16 export or onnxconverter-common's
// convert_float_to_float16 writes it: initializers, Constant and ConstantOfShape values, Cast
// targets, and the element types of the graph's inputs, outputs and value_info. The models of
// ../shared have no subgraphs or functions; a model with either is refused.
func toFloat16(t *testing.T, m *onnx.ModelProto) *onnx.ModelProto {
	t.Helper()
	m = proto.Clone(m).(*onnx.ModelProto)
	if len(m.Functions) > 0 {
		t.Fatalf("toFloat16: model has functions")
	}
	g := m.Graph
	half := func(tp *onnx.TensorProto) *onnx.TensorProto {
		if tp.GetDataType() != int32(tensor.Float32) {
			return tp
		}
		v, err := tensor.FromProto(tp)
		if err != nil {
			t.Fatal(err)
		}
		d := make([]tensor.Float16Bits, v.Len())
		for i, f := range v.F32() {
			d[i] = tensor.Float16FromFloat32(f)
		}
		return tensor.ToProto(tensor.New(v.Shape, d), tp.GetName())
	}
	for i, tp := range g.Initializer {
		g.Initializer[i] = half(tp)
	}
	for _, n := range g.Node {
		for _, a := range n.Attribute {
			if len(a.Graphs) > 0 || a.G != nil {
				t.Fatalf("toFloat16: node %q has a subgraph", n.GetName())
			}
			switch {
			case a.T != nil:
				a.T = half(a.T)
			case n.GetOpType() == "Cast" && a.GetName() == "to" && a.GetI() == int64(tensor.Float32):
				a.I = proto.Int64(int64(tensor.Float16))
			}
		}
	}
	for _, vis := range [][]*onnx.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
		for _, vi := range vis {
			if tt := vi.GetType().GetTensorType(); tt != nil && tt.GetElemType() == int32(tensor.Float32) {
				tt.ElemType = proto.Int32(int32(tensor.Float16))
			}
		}
	}
	return m
}

// inputsFloat16 rounds every float32 tensor of in to float16.
func inputsFloat16(in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for name, v := range in {
		if v.DType == tensor.Float32 {
			d := make([]tensor.Float16Bits, v.Len())
			for i, f := range v.F32() {
				d[i] = tensor.Float16FromFloat32(f)
			}
			v = tensor.New(v.Shape, d)
		}
		out[name] = v
	}
	return out
}

// bodyTolerance bounds the plugin's float16 output against onnxruntime's float16 function body,
// relative to max(1,|y|): the body rounds to float16 after each of its ops (up to about ten on
// an element's path), half an ulp (2⁻¹¹) each, where the plugin rounds once. Measured worst over
// the kernel cases 3.6e-3, most of them under 1.5e-3.
const bodyTolerance = 10.0 / 2048

// modelTolerance bounds whole float16 models' outputs against each other, relative to
// max(1,|y|): 2⁻⁵, 64 float16 half-ulps. The runtimes round differently outside the ai.actswap
// nodes — actswap's rounds every intermediate tensor to float16, onnxruntime's CPU runs float16
// regions in float32 between inserted Casts — and the difference grows through the layers: the
// original float16 models (no site replaced) already differ by up to 2.2e-3 (digits_mlp_gelu),
// 2.4e-3 (digits_cnn) and 1.2e-3 (vit_tiny) between the two runtimes. Measured worst over the
// rewritten models: plugin vs actswap 3.9e-3, plugin vs function bodies 1.6e-2 (digits_cnn →
// Zorro, whose function body onnxruntime evaluates op by op).
const modelTolerance = 1.0 / 32

// TestFloat16Nodes runs one float16 ai.actswap node per kernel case (every family, per tensor and
// per channel along a middle and the last axis, Zorro gated and not) three ways. The plugin's
// float16 kernel must run (its own counter), give actswap's bits exactly (the same kernel and
// conversions) and be within acttest.HalfTolerance of the float64 evaluation of OPS.md at the same
// float16 inputs and float16 parameters, and within bodyTolerance of onnxruntime's float16
// function body.
func TestFloat16Nodes(t *testing.T) {
	lib, plugin := setup(t)
	cnt := pluginCounters(t, plugin)
	for _, c := range acttest.KernelCases() {
		shapes := []struct {
			shape []int
			axis  int
		}{{[]int{3, 1000}, 1}}
		if len(c.Chans) > 1 {
			shapes = []struct {
				shape []int
				axis  int
			}{{[]int{2, len(c.Chans), 300}, 1}, {[]int{50, len(c.Chans)}, -1}}
		}
		for _, s := range shapes {
			label := fmt.Sprintf("%s %v axis %d", c.Name, s.shape, s.axis)
			t.Run(label, func(t *testing.T) {
				m, err := onnxops.SingleNodeModel(c.Fam, c.Chans, tensor.Float16, s.shape, s.axis)
				if err != nil {
					t.Fatal(err)
				}
				// The reference sees the parameters as the node does: rounded to float16.
				params, err := onnxops.ParamTensorsAs(tensor.Float16, c.Fam, c.Chans)
				if err != nil {
					t.Fatal(err)
				}
				ps, err := onnxops.ParamsFromTensors(c.Fam, params)
				if err != nil {
					t.Fatal(err)
				}
				for i := range ps {
					if z, ok := ps[i].(onnxops.ZorroParams); ok {
						z.Gate = c.Gate
						ps[i] = z
					}
				}
				xs := acttest.Inputs(tensor.NumElements(s.shape), rand.New(rand.NewPCG(7, 8)))
				in := inputsFloat16(map[string]*tensor.Tensor{"X": tensor.New(s.shape, xs)})
				got, ours, bodies, n, n16 := threeWays(t, lib, plugin, cnt, m, in)
				if n != 1 || n16 != 1 {
					t.Errorf("the plugin's kernels ran %d times, its float16 kernel %d, for one float16 node", n, n16)
				}
				y, x := got["Y"].Data.([]tensor.Float16Bits), in["X"].Data.([]tensor.Float16Bits)
				yo := ours["Y"].Data.([]tensor.Float16Bits)
				acttest.CheckFloat16AgainstReference(t, "plugin vs OPS.md", ps, s.shape, s.axis, x, y)
				for i := range y { // the same kernel and conversions as actswap's: the same bits
					if y[i] != yo[i] && !(y[i].Float32() != y[i].Float32() && yo[i].Float32() != yo[i].Float32()) {
						t.Fatalf("x=%v: plugin %#04x, actswap %#04x", x[i].Float32(), uint16(y[i]), uint16(yo[i]))
					}
				}
				compare(t, "plugin vs function body", got, bodies, bodyTolerance)
			})
		}
	}
}

// counters are the plugin's kernel call counters: all kernels, and the float16 ones.
type counters struct{ all, float16 func() int64 }

func pluginCounters(t *testing.T, plugin string) counters {
	t.Helper()
	all, err := ortc.Int64Func(plugin, "ActswapKernelCalls")
	if err != nil {
		t.Fatal(err)
	}
	f16, err := ortc.Int64Func(plugin, "ActswapKernelCallsFloat16")
	if err != nil {
		t.Fatal(err)
	}
	return counters{all, f16}
}

// threeWays runs m on in with the plugin, on onnxruntime's function bodies and in actswap's
// runtime, and returns how many times the plugin's kernels ran in the plugin's run (n) and how
// many of those were float16 kernels (n16).
func threeWays(t *testing.T, lib *ortc.Lib, plugin string, cnt counters, m *onnx.ModelProto, in map[string]*tensor.Tensor) (withPlugin, ours, bodies map[string]*tensor.Tensor, n, n16 int64) {
	t.Helper()
	path := save(t, m, "float16.onnx")
	s, err := lib.NewSession(path, ortc.Options{IntraOpThreads: 1, CustomOpsLibrary: plugin})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before, before16 := cnt.all(), cnt.float16()
	if withPlugin, err = s.Run(in); err != nil {
		t.Fatal(err)
	}
	n, n16 = cnt.all()-before, cnt.float16()-before16
	b, err := lib.NewSession(path, ortc.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if bodies, err = b.Run(in); err != nil {
		t.Fatal(err)
	}
	r, err := runtime.NewSession(m, runtime.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	if ours, err = r.Run(in); err != nil {
		t.Fatal(err)
	}
	return withPlugin, ours, bodies, n, n16
}

// float16Model loads a shared model and its test inputs as float16: the model through toFloat16,
// the inputs rounded and written as a test-data folder beside it (for calibration).
func float16Model(t *testing.T, dir string) (m *onnx.ModelProto, in map[string]*tensor.Tensor, dataDir string) {
	t.Helper()
	orig, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(orig)
	if err != nil {
		t.Fatal(err)
	}
	in32, err := s.ReadDataSetInputs(filepath.Join(dir, "test_data_set_0"))
	if err != nil {
		t.Fatal(err)
	}
	in = inputsFloat16(in32)
	dataDir = filepath.Join(t.TempDir(), "test_data_set_0")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, vi := range s.Inputs() {
		b, err := proto.Marshal(tensor.ToProto(in[vi.Name], vi.Name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(runtime.InputFile(dataDir, k), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return toFloat16(t, orig), in, dataDir
}

// checkParamsFloat16 fails unless every parameter initializer of the rewritten model is float16.
func checkParamsFloat16(t *testing.T, m *onnx.ModelProto) {
	t.Helper()
	for _, n := range m.Graph.Node {
		if n.GetDomain() != onnxops.Domain {
			continue
		}
		for _, p := range n.Input[1:] {
			for _, tp := range m.Graph.Initializer {
				if tp.GetName() == p && tp.GetDataType() != int32(tensor.Float16) {
					t.Errorf("node %q: parameter %q has element type %d, not float16", n.GetName(), p, tp.GetDataType())
				}
			}
		}
	}
}

// sitesAsOutputs is m with the output of every ai.actswap node of its graph added to the graph's
// outputs (float16, shape left to inference).
func sitesAsOutputs(m *onnx.ModelProto) *onnx.ModelProto {
	m = proto.Clone(m).(*onnx.ModelProto)
	for _, n := range m.Graph.Node {
		if n.GetDomain() == onnxops.Domain {
			m.Graph.Output = append(m.Graph.Output, &onnx.ValueInfoProto{
				Name: proto.String(n.Output[0]),
				Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(tensor.Float16))}}},
			})
		}
	}
	return m
}

// logWorst logs the largest |got − want|/max(1,|want|) over the outputs.
func logWorst(t *testing.T, label string, got, want map[string]*tensor.Tensor) {
	t.Helper()
	worst := 0.0
	for name, w := range want {
		gv, _ := tensor.Float64s(got[name])
		wv, _ := tensor.Float64s(w)
		for i := range min(len(gv), len(wv)) {
			if d := math.Abs(gv[i]-wv[i]) / max(1, math.Abs(wv[i])); d > worst {
				worst = d
			}
		}
	}
	t.Logf("%s: worst %.3g·max(1,|y|)", label, worst)
}

// TestFloat16Models converts the digits MLP and CNN and vit_tiny of ../shared to float16
// (weights, constants, inputs: a float16 export), rewrites them to every family — default
// parameters, and calibrated on their float16 test input per channel and per site — and runs
// them with the plugin, on onnxruntime's float16 function bodies and in actswap's runtime, which
// agree within modelTolerance. The parameters are float16 (rewrite and calibrate follow the
// model's type).
//
// Which of the plugin's kernels runs is onnxruntime's choice: its CPU provider has float16
// kernels for few ops, so it runs float16 regions in float32 between inserted Casts, and a node
// whose float16 neighbours all go to float32 goes too (IsIsolatedFp16NodeOnCpu in
// insert_cast_transformer.cc) — the plugin's float32 kernel, every call counted. A node whose
// output is also a graph output keeps float16; the "sites as outputs" runs make every site's
// output a graph output, so the plugin's float16 kernel must run once per node, and the
// activations themselves are compared too.
func TestFloat16Models(t *testing.T) {
	lib, plugin := setup(t)
	cnt := pluginCounters(t, plugin)
	models := testutil.SharedPath(t, "models")
	variants := []variant{{"defaults", uncalibrated}, {"calibrated per-channel", calibrated(true)}, {"calibrated per-site", calibrated(false)}}
	for _, name := range []string{"digits_mlp_gelu", "digits_cnn", "vit_tiny"} {
		m16, in, dataDir := float16Model(t, filepath.Join(models, name))
		t.Run(name+" float16 original", func(t *testing.T) {
			// The runtimes' own float16 disagreement, for modelTolerance's comment.
			orig, ours, _, _, _ := threeWays(t, lib, plugin, cnt, m16, in)
			compare(t, "onnxruntime vs actswap", orig, ours, modelTolerance)
			logWorst(t, "onnxruntime vs actswap", orig, ours)
		})
		for _, fam := range onnxops.Families {
			for _, v := range variants {
				if v.name != "defaults" && name == "vit_tiny" && (os.Getenv("ACTSWAP_PLUGIN_ALL") == "" || fam == onnxops.FamilyZorro) {
					continue // calibrating vit_tiny takes minutes: as in TestPluginMatchesFunctionBodiesAndActswap
				}
				label := fmt.Sprintf("%s float16 → %s (%s)", name, fam, v.name)
				t.Run(label, func(t *testing.T) {
					m, replaced := v.make(t, m16, dataDir, fam)
					if replaced == 0 {
						t.Skip("no site replaced")
					}
					checkParamsFloat16(t, m)
					for _, exposed := range []bool{false, true} {
						label := "sites inside"
						if exposed {
							label = "sites as outputs"
							m = sitesAsOutputs(m)
						}
						got, ours, bodies, n, n16 := threeWays(t, lib, plugin, cnt, m, in)
						t.Logf("%s: plugin kernel calls %d (float16 %d) for %d nodes", label, n, n16, replaced)
						if n != int64(replaced) || exposed && n16 != int64(replaced) {
							t.Errorf("%s: the plugin's kernels ran %d times, its float16 kernels %d, for %d replaced nodes", label, n, n16, replaced)
						}
						compare(t, label+": plugin vs function bodies", got, bodies, modelTolerance)
						compare(t, label+": plugin vs actswap", got, ours, modelTolerance)
						logWorst(t, label+": plugin vs function bodies", got, bodies)
						logWorst(t, label+": plugin vs actswap", got, ours)
					}
				})
			}
		}
	}
}

// TestFloat16GarbageParameters: float16 parameter tensors of the wrong shape, the wrong channel
// count or no points give an onnxruntime error that names the node, from the float16 kernel
// (the node reads a graph input, so onnxruntime keeps it in float16), never a crash.
func TestFloat16GarbageParameters(t *testing.T) {
	lib, plugin := setup(t)
	f16 := func(shape []int, v ...float32) *tensor.Tensor {
		d := make([]tensor.Float16Bits, len(v))
		for i, f := range v {
			d[i] = tensor.Float16FromFloat32(f)
		}
		return tensor.New(shape, d)
	}
	cases := []struct {
		name  string
		fam   onnxops.Family
		input int // which parameter input (0-based, after X)
		value *tensor.Tensor
	}{
		{"PWLU bounds of wrong shape", onnxops.FamilyPWLU, 0, f16([]int{3}, -1, 0, 1)},
		{"PWLU with N = 0 heights", onnxops.FamilyPWLU, 1, f16([]int{0})},
		{"PWLU per-channel C that X does not have", onnxops.FamilyPWLU, 0, f16([]int{7, 2}, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1)},
		{"Zorro params of wrong length", onnxops.FamilyZorro, 0, f16([]int{3}, 1, 2, 3)},
		{"CRReLU epsilon NaN", onnxops.FamilyCRReLU, 0, f16([]int{1}, float32(math.NaN()))},
		{"PWLU bounds float32 beside float16 X", onnxops.FamilyPWLU, 0, tensor.New([]int{2}, []float32{-1, 1})},
	}
	defaults := map[onnxops.Family]onnxops.Params{
		onnxops.FamilyPWLU:   acttest.ReluPWLU(-2, 2, 4),
		onnxops.FamilyZorro:  onnxops.SymmetricZorro(1.2, 1),
		onnxops.FamilyCRReLU: onnxops.CRReLUParams{Epsilon: 0.1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := onnxops.SingleNodeModel(c.fam, []onnxops.Params{defaults[c.fam]}, tensor.Float16, []int{2, 5}, 1)
			if err != nil {
				t.Fatal(err)
			}
			node := m.Graph.Node[0]
			init := node.Input[1+c.input]
			for i, tp := range m.Graph.Initializer {
				if tp.GetName() == init {
					m.Graph.Initializer[i] = tensor.ToProto(c.value, init)
				}
			}
			s, err := lib.NewSession(save(t, m, "bad.onnx"), ortc.Options{IntraOpThreads: 1, CustomOpsLibrary: plugin})
			if err == nil {
				defer s.Close()
				_, err = s.Run(map[string]*tensor.Tensor{"X": f16([]int{2, 5}, 1, 2, 3, 4, 5, -1, -2, -3, -4, -5)})
			}
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), node.GetName()) {
				t.Errorf("the error does not name node %q: %v", node.GetName(), err)
			}
			t.Log(err)
		})
	}
}

// TestParametersFedAtRunTime: parameters that are graph inputs (not constant initializers, as
// onnxruntime's Casts make float16 initializers of a node it runs in float32) are read at every
// run; the plugin reuses the kernel it built while they stay the same, and must notice when
// they change: runs alternate two parameter sets, each checked against OPS.md.
func TestParametersFedAtRunTime(t *testing.T) {
	lib, plugin := setup(t)
	shape := []int{4, 3, 50}
	sets := [][]onnxops.Params{
		{acttest.ReluPWLU(-2, 2, 4), acttest.WigglyPWLU(-1, 3, 4), acttest.Flat4()},
		{acttest.WigglyPWLU(-3, 1, 4), acttest.ReluPWLU(-1, 1, 4), acttest.ReluPWLU(-4, 4, 4)},
	}
	m, err := onnxops.SingleNodeModel(onnxops.FamilyPWLU, sets[0], tensor.Float16, shape, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range m.Graph.Initializer { // the parameters become graph inputs
		m.Graph.Input = append(m.Graph.Input, &onnx.ValueInfoProto{
			Name: proto.String(tp.GetName()),
			Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(tensor.Float16))}}},
		})
	}
	m.Graph.Initializer = nil
	s, err := lib.NewSession(save(t, m, "fed.onnx"), ortc.Options{IntraOpThreads: 1, CustomOpsLibrary: plugin})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := inputsFloat16(map[string]*tensor.Tensor{"X": tensor.New(shape, acttest.Inputs(tensor.NumElements(shape), rand.New(rand.NewPCG(9, 10))))})
	for run := 0; run < 5; run++ {
		set := sets[run%2]
		params, err := onnxops.ParamTensorsAs(tensor.Float16, onnxops.FamilyPWLU, set)
		if err != nil {
			t.Fatal(err)
		}
		feed := map[string]*tensor.Tensor{"X": in["X"]}
		for i, name := range onnxops.ParamInputNames(onnxops.FamilyPWLU) {
			feed[name] = params[i]
		}
		out, err := s.Run(feed)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := onnxops.ParamsFromTensors(onnxops.FamilyPWLU, params)
		if err != nil {
			t.Fatal(err)
		}
		acttest.CheckFloat16AgainstReference(t, fmt.Sprintf("run %d", run), ps, shape, 1,
			in["X"].Data.([]tensor.Float16Bits), out["Y"].Data.([]tensor.Float16Bits))
	}
}
