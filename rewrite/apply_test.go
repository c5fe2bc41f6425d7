package rewrite

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
)

// torchErfGELU appends the TorchScript erf chain over in and returns its output.
func torchErfGELU(b *graphBuilder, in string) (out, add string) {
	e := b.op("Erf", b.op("Div", in, b.constant(math.Sqrt2)))
	add = b.op("Add", e, b.constant(1))
	return b.op("Mul", b.op("Mul", in, add), b.constant(0.5)), add
}

func TestBlockedSites(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		build func(b *graphBuilder)
		why   string
	}{
		{"intermediate is a graph output", func(b *graphBuilder) {
			y, add := torchErfGELU(b, "x")
			b.output(y)
			b.output(add)
		}, "is a graph output"},
		{"intermediate feeds another node", func(b *graphBuilder) {
			y, add := torchErfGELU(b, "x")
			b.output(y)
			b.output(b.op("Sigmoid", add))
		}, "is also used by node"},
		{"intermediate read inside an If branch", func(b *graphBuilder) {
			y, add := torchErfGELU(b, "x")
			b.output(y)
			branch := &onnx.GraphProto{Name: proto.String("then"),
				Node:   []*onnx.NodeProto{{Name: proto.String("inner"), OpType: proto.String("Identity"), Input: []string{add}, Output: []string{"t"}}},
				Output: []*onnx.ValueInfoProto{floatValueInfo("t")}}
			b.output(b.domainOp("", "If", []*onnx.AttributeProto{
				{Name: proto.String("then_branch"), Type: onnx.AttributeProto_GRAPH.Enum(), G: branch},
				{Name: proto.String("else_branch"), Type: onnx.AttributeProto_GRAPH.Enum(), G: branch}}, b.init(1)))
		}, "is also used by node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newGraphBuilder()
			tc.build(b)
			m := b.model()
			sites, err := Find(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(sites) != 1 || !strings.Contains(sites[0].Blocked, tc.why) {
				t.Fatalf("sites %+v, want one blocked because it %s", sites, tc.why)
			}
			out, rep, err := Apply(m, Options{To: onnxops.FamilyPWLU})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Replaced) != 0 || len(rep.Skipped) != 1 || rep.Skipped[0].Reason != sites[0].Blocked {
				t.Fatalf("report %+v, want the site skipped with its reason", rep)
			}
			if !proto.Equal(out, m) {
				t.Fatal("a rewrite with nothing replaced changed the model")
			}
		})
	}
}

func TestTraceSaysWhy(t *testing.T) {
	t.Parallel()
	b := newGraphBuilder()
	e := b.op("Erf", b.op("Div", "x", b.init(math.Sqrt2)))
	b.output(b.op("Mul", b.op("Mul", "x", b.op("Add", e, b.init(1))), b.init(0.6)))
	misses, err := Trace(b.model())
	if err != nil {
		t.Fatal(err)
	}
	if len(misses) != 1 || misses[0].OpType != "Erf" || !strings.Contains(misses[0].Reason, "0.6") {
		t.Fatalf("misses %+v, want the Erf node explained by the 0.6 constant", misses)
	}
	t.Logf("%+v", misses[0])
}

// twoActivations is x → Relu → erf-GELU → output, with value_info for every value.
func twoActivations() (*onnx.ModelProto, string) {
	b := newGraphBuilder()
	r := b.op("Relu", "x")
	y, _ := torchErfGELU(b, r)
	b.output(y)
	for _, n := range b.g.Node {
		b.g.ValueInfo = append(b.g.ValueInfo, floatValueInfo(n.GetOutput()[0]))
	}
	return b.model(), r
}

func TestOptionsSelectSites(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		opts     Options
		replaced []Kind
		skipWhy  string
	}{
		{"all", Options{}, []Kind{KindReLU, KindGELU}, ""},
		{"match relu", Options{Match: []Kind{KindReLU}}, []Kind{KindReLU}, "not selected"},
		{"nodes", Options{Nodes: regexp.MustCompile(`^Erf`)}, []Kind{KindGELU}, "Options.Nodes"},
		{"exclude", Options{Exclude: regexp.MustCompile(`^Relu`)}, []Kind{KindGELU}, "Options.Exclude"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := twoActivations()
			tc.opts.To = onnxops.FamilyCRReLU
			_, rep, err := Apply(m, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []Kind
			for _, r := range rep.Replaced {
				got = append(got, r.Site.Kind)
			}
			if strings.Join(kindStrings(got), ",") != strings.Join(kindStrings(tc.replaced), ",") {
				t.Fatalf("replaced %v, want %v", got, tc.replaced)
			}
			if tc.skipWhy != "" && (len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].Reason, tc.skipWhy)) {
				t.Fatalf("skipped %+v, want one because of %s", rep.Skipped, tc.skipWhy)
			}
		})
	}
}

func kindStrings(ks []Kind) []string {
	var s []string
	for _, k := range ks {
		s = append(s, string(k))
	}
	return s
}

func TestApplyKeepsWhatItDidNotTouch(t *testing.T) {
	t.Parallel()
	m, relu := twoActivations()
	// Unused before the rewrite: a dead node and an unused initializer must stay.
	m.Graph.Node = append(m.Graph.Node, &onnx.NodeProto{Name: proto.String("dead"), OpType: proto.String("Neg"),
		Input: []string{"x"}, Output: []string{"dead_out"}})
	m.Graph.Initializer = append(m.Graph.Initializer, m.Graph.Initializer...) // none: the builder used Constant nodes
	unused := &onnx.TensorProto{Name: proto.String("unused"), DataType: proto.Int32(1), FloatData: []float32{1}}
	m.Graph.Initializer = append(m.Graph.Initializer, unused)
	out, rep, err := Apply(m, Options{To: onnxops.FamilyPWLU, Match: []Kind{KindGELU}})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, n := range out.Graph.Node {
		names[n.GetName()] = true
	}
	if !names["dead"] || !names["Relu_1"] {
		t.Fatalf("nodes %v: the rewrite removed nodes it did not match", names)
	}
	if countOps(out.Graph, "Constant") != 0 {
		t.Fatal("Constant nodes of the replaced chain were kept")
	}
	if !strings.Contains(strings.Join(initNames(out.Graph), ","), "unused") {
		t.Fatal("an initializer unused before the rewrite was removed")
	}
	// value_info: the chain's intermediates are gone, the Relu output and the kept output stay.
	var vi []string
	for _, v := range out.Graph.ValueInfo {
		vi = append(vi, v.GetName())
	}
	site := rep.Replaced[0].Site
	if strings.Join(vi, ",") != relu+","+site.Output {
		t.Fatalf("value_info %v, want %v", vi, []string{relu, site.Output})
	}
	// 7 rises to 8 for model-local functions, and to 9 only because the bodies declare attribute defaults.
	want := int64(8)
	if len(out.GetFunctions()[0].GetAttributeProto()) > 0 {
		want = 9
	}
	if out.GetIrVersion() != want {
		t.Fatalf("ir_version %d, want %d", out.GetIrVersion(), want)
	}
}

func TestIRVersionNeverLowered(t *testing.T) {
	t.Parallel()
	m, _ := twoActivations()
	m.IrVersion = proto.Int64(10)
	out, _, err := Apply(m, Options{To: onnxops.FamilyCRReLU})
	if err != nil {
		t.Fatal(err)
	}
	if out.GetIrVersion() != 10 {
		t.Fatalf("ir_version %d, want 10 kept", out.GetIrVersion())
	}
}

func TestOpsetBelow9NamesTheUpgradePath(t *testing.T) {
	t.Parallel()
	m, _ := twoActivations()
	m.OpsetImport[0].Version = proto.Int64(6)
	_, _, err := Apply(m, Options{To: onnxops.FamilyPWLU})
	if err == nil || !strings.Contains(err.Error(), "opset 6") || !strings.Contains(err.Error(), "version_converter") {
		t.Fatalf("error %v, want one naming opset 6 and ONNX's version converter", err)
	}
	// Nothing to replace: no error, the model comes back as it was.
	if _, rep, err := Apply(m, Options{To: onnxops.FamilyPWLU, Match: []Kind{}}); err != nil || len(rep.Replaced) != 0 {
		t.Fatalf("with no site selected: %v, %d replaced", err, len(rep.Replaced))
	}
}

func TestRewriteTwiceRecordsBoth(t *testing.T) {
	t.Parallel()
	m, _ := twoActivations()
	once, _, err := Apply(m, Options{To: onnxops.FamilyCRReLU, Match: []Kind{KindReLU}, Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	twice, rep, err := Apply(once, Options{To: onnxops.FamilyPWLU, Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Found) != 1 || rep.Found[0].Kind != KindGELU {
		t.Fatalf("second pass found %+v, want only the GELU (the CRReLU node is not a ReLU any more)", rep.Found)
	}
	var runs []rewriteRecord
	if err := json.Unmarshal([]byte(metadata(twice, metaRewriteKey)), &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].To != onnxops.FamilyCRReLU || runs[1].To != onnxops.FamilyPWLU || runs[1].Replaced[0].Pattern != "gelu_erf" {
		t.Fatalf("records %+v, want both runs", runs)
	}
	if metadata(twice, metaVersionKey) != "v2" {
		t.Fatalf("actswap.version %q, want v2", metadata(twice, metaVersionKey))
	}
	imports := 0
	for _, op := range twice.GetOpsetImport() {
		if op.GetDomain() == onnxops.Domain {
			imports++
		}
	}
	if imports != 1 {
		t.Fatalf("%d ai.actswap opset imports, want 1", imports)
	}
}

func TestParamsSeam(t *testing.T) {
	t.Parallel()
	m, _ := twoActivations()
	var seen []Site
	perChannel := func(s Site, fam onnxops.Family) (SiteParams, error) {
		seen = append(seen, s)
		return SiteParams{Sets: []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.1}, onnxops.CRReLUParams{Epsilon: 0.2}}, Axis: -1}, nil
	}
	out, rep, err := Apply(m, Options{To: onnxops.FamilyCRReLU, Params: perChannel})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].Input != "x" || seen[1].Kind != KindGELU {
		t.Fatalf("ParamsFunc saw %+v", seen)
	}
	node := out.Graph.Node[0]
	if a := attribute(node, "axis"); a == nil || a.GetI() != -1 {
		t.Fatalf("node %v: want axis -1 for per-channel parameters", node)
	}
	eps := out.Graph.Initializer[0]
	if eps.GetName() != rep.Replaced[0].Params[0] || len(eps.GetDims()) != 1 || eps.GetDims()[0] != 2 {
		t.Fatalf("epsilon initializer %v, want shape [2] named %q", eps, rep.Replaced[0].Params[0])
	}

	failing := func(s Site, fam onnxops.Family) (SiteParams, error) { return SiteParams{}, errors.New("no statistics") }
	if _, _, err := Apply(m, Options{To: onnxops.FamilyCRReLU, Params: failing}); err == nil || !strings.Contains(err.Error(), "no statistics") || !strings.Contains(err.Error(), "Relu_1") {
		t.Fatalf("error %v, want the ParamsFunc error naming the node", err)
	}
	wrongFamily := func(s Site, fam onnxops.Family) (SiteParams, error) {
		return SiteParams{Sets: []onnxops.Params{onnxops.CRReLUParams{}}}, nil
	}
	if _, _, err := Apply(m, Options{To: onnxops.FamilyPWLU, Params: wrongFamily}); err == nil {
		t.Fatal("CRReLU parameters accepted for a PWLU rewrite")
	}
	batchAxis := func(s Site, fam onnxops.Family) (SiteParams, error) {
		return SiteParams{Sets: []onnxops.Params{onnxops.CRReLUParams{}, onnxops.CRReLUParams{}}}, nil
	}
	if _, _, err := Apply(m, Options{To: onnxops.FamilyCRReLU, Params: batchAxis}); err == nil {
		t.Fatal("per-channel parameters along axis 0 accepted")
	}
}

func TestUniqueNames(t *testing.T) {
	t.Parallel()
	b := newGraphBuilder()
	r := b.op("Relu", "x")
	b.output(r)
	m := b.model()
	// Names the rewrite would like to use are taken already.
	b.g.Initializer = append(b.g.Initializer, &onnx.TensorProto{Name: proto.String("Relu_1/actswap_crrelu/epsilon"), DataType: proto.Int32(1), FloatData: []float32{0}})
	b.g.Output = append(b.g.Output, floatValueInfo("Relu_1/actswap_crrelu/epsilon"))
	out, rep, err := Apply(m, Options{To: onnxops.FamilyCRReLU})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replaced[0].Params[0] == "Relu_1/actswap_crrelu/epsilon" {
		t.Fatalf("parameter initializer reused a taken name")
	}
	if len(out.Graph.Initializer) != 2 {
		t.Fatalf("initializers %v", initNames(out.Graph))
	}
}

func TestApplyErrors(t *testing.T) {
	t.Parallel()
	if _, _, err := Apply(&onnx.ModelProto{}, Options{To: onnxops.FamilyPWLU}); err == nil {
		t.Error("model without graph accepted")
	}
	m, _ := twoActivations()
	if _, _, err := Apply(m, Options{To: "Swish"}); err == nil {
		t.Error("unknown family accepted")
	}
	if _, err := Find(&onnx.ModelProto{}); err == nil {
		t.Error("Find accepted a model without graph")
	}
	if _, err := ParseKinds("relu,swish"); err == nil {
		t.Error("ParseKinds accepted swish")
	}
	ks, err := ParseKinds("gelu")
	if err != nil || len(ks) != 3 {
		t.Errorf("ParseKinds(gelu) = %v, %v; want the three GELU kinds", ks, err)
	}
}

func TestPerChannelCountChecked(t *testing.T) {
	t.Parallel()
	b := newGraphBuilder()
	b.g.Input[0].Type.GetTensorType().Shape = &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{
		{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
		{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 3}}}}
	b.output(b.op("Relu", "x"))
	m := b.model()
	sets := func(c int) ParamsFunc {
		return func(Site, onnxops.Family) (SiteParams, error) {
			sp := SiteParams{Axis: -1}
			for range c {
				sp.Sets = append(sp.Sets, onnxops.CRReLUParams{})
			}
			return sp, nil
		}
	}
	if _, _, err := Apply(m, Options{To: onnxops.FamilyCRReLU, Params: sets(2)}); err == nil || !strings.Contains(err.Error(), "3 channels") {
		t.Fatalf("2 sets for 3 channels: error %v", err)
	}
	if _, _, err := Apply(m, Options{To: onnxops.FamilyCRReLU, Params: sets(3)}); err != nil {
		t.Fatalf("3 sets for 3 channels: %v", err)
	}
}

// TestOddGraphsDoNotPanic feeds shapes of graph a hostile or broken file may hold.
func TestOddGraphsDoNotPanic(t *testing.T) {
	t.Parallel()
	b := newGraphBuilder()
	b.g.Node = append(b.g.Node,
		&onnx.NodeProto{OpType: proto.String("Relu")},                                              // no input, no output
		&onnx.NodeProto{OpType: proto.String("Relu"), Input: []string{""}, Output: []string{"r0"}}, // empty input
		&onnx.NodeProto{OpType: proto.String("Constant"), Output: []string{"c0"}},                  // no value
		&onnx.NodeProto{OpType: proto.String("Cast"), Input: []string{"c0"}, Output: []string{"c1"}},
		&onnx.NodeProto{OpType: proto.String("Mul"), Input: []string{"loop", "c1"}, Output: []string{"loop2"}}, // a cycle
		&onnx.NodeProto{OpType: proto.String("Mul"), Input: []string{"loop2", "x"}, Output: []string{"loop"}},
		&onnx.NodeProto{OpType: proto.String("Erf"), Input: []string{"loop"}, Output: []string{"e"}},
	)
	b.output("e")
	b.output("r0")
	m := b.model()
	if _, err := Find(m); err != nil {
		t.Fatal(err)
	}
	if _, err := Trace(m); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Apply(m, Options{To: onnxops.FamilyPWLU}); err != nil {
		t.Fatal(err)
	}
}
