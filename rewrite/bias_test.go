package rewrite

import (
	"math"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// biasedModel is a transformer MLP's first half, x[2,5,K] → MatMul W[K,C] → Add(bias[C]) → GELU
// (the erf chain), or with conv, x[2,K,4,4] → Conv W[C,K,1,1] → Add(bias[C,1,1]) → Relu. It
// returns the model, the pre-bias value m and the bias values.
func biasedModel(conv, biasFirst bool) (*onnx.ModelProto, string, []float32) {
	const k, c = 6, 8
	r := graphtest.Seeded(13)
	b := graphtest.New("biased", 17)
	bias := graphtest.RandF32s(r, 2, c)
	var x, m, bname string
	if conv {
		x = b.Input("x", tensor.Float32, 2, k, 4, 4)
		m = b.Op("Conv", []string{x, b.Init("w", graphtest.RandF32(r, 1, c, k, 1, 1))})
		bname = b.Init("b", tensor.New([]int{c, 1, 1}, bias))
	} else {
		x = b.Input("x", tensor.Float32, 2, 5, k)
		m = b.Op("MatMul", []string{x, b.Init("w", graphtest.RandF32(r, 1, k, c))})
		bname = b.Init("b", tensor.New([]int{c}, bias))
	}
	in := []string{m, bname}
	if biasFirst {
		in = []string{bname, m}
	}
	pre := b.Op("Add", in)
	var y string
	if conv {
		y = b.Op("Relu", []string{pre})
	} else {
		e := b.Op("Erf", []string{b.Op("Div", []string{pre, b.ConstF32(math.Sqrt2)})})
		y = b.Op("Mul", []string{b.Op("Mul", []string{pre, b.Op("Add", []string{e, b.ConstF32(1)})}), b.ConstF32(0.5)})
	}
	b.Output(y, tensor.Float32)
	return b.Model(), m, bias
}

// ungatedZorro gives every site an ungated Sigmoid-Zorro, the Zorro a bias can be absorbed into.
func ungatedZorro(s Site, fam onnxops.Family) (SiteParams, error) {
	if fam != onnxops.FamilyZorro {
		return DefaultParams(s, fam)
	}
	return SiteParams{Sets: []onnxops.Params{onnxops.SigmoidZorro(4, 2, 0.5)}}, nil
}

// TestBiasAbsorbedExactly rewrites a biased site with the bias absorbed, checks that the Add is
// gone and the report and metadata say so, and compares actswap's run of the rewritten model with
// a float64 evaluation of the site's parameters at m + b (the pre-bias value from the original
// model), within OPS.md's 1e-5·max(1,|y|).
func TestBiasAbsorbedExactly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		conv, biasFirst bool
		fam             onnxops.Family
	}{
		{"matmul/PWLU", false, false, onnxops.FamilyPWLU},
		{"matmul/bias first/PWLU", false, true, onnxops.FamilyPWLU},
		{"matmul/Zorro", false, false, onnxops.FamilyZorro},
		{"conv/PWLU", true, false, onnxops.FamilyPWLU},
		{"conv/Zorro", true, true, onnxops.FamilyZorro},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, pre, bias := biasedModel(tc.conv, tc.biasFirst)
			var sets []onnxops.Params
			params := func(s Site, fam onnxops.Family) (SiteParams, error) {
				sp, err := ungatedZorro(s, fam)
				sets = sp.Sets
				return sp, err
			}
			out, rep, err := Apply(m, Options{To: tc.fam, Params: params})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Replaced) != 1 {
				t.Fatalf("replaced %d sites, want 1", len(rep.Replaced))
			}
			r := rep.Replaced[0]
			wantAxis := -1
			if tc.conv {
				wantAxis = -3
			}
			if r.AbsorbedBias == nil || r.AbsorbedBias.Axis != wantAxis || r.AbsorbedBias.Channels != len(bias) || r.BiasKept != "" {
				t.Fatalf("report %+v (kept: %q), want the bias absorbed along axis %d", r.AbsorbedBias, r.BiasKept, wantAxis)
			}
			var node *onnx.NodeProto
			for _, n := range out.GetGraph().GetNode() {
				if n.GetOpType() == "Add" {
					t.Fatalf("an Add is left: %v", n)
				}
				if n.GetDomain() == onnxops.Domain {
					node = n
				}
			}
			if node.GetInput()[0] != pre {
				t.Fatalf("the new node reads %q, want the pre-bias value %q", node.GetInput()[0], pre)
			}
			for _, tp := range out.GetGraph().GetInitializer() {
				if tp.GetName() == "b" {
					t.Fatal("the absorbed bias initializer is still in the graph")
				}
			}
			rec, err := Replaced(out)
			if err != nil {
				t.Fatal(err)
			}
			back, _, err := rec[node.GetName()].Unshift(nodeSets(t, out, node), wantAxis)
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != 1 || !sameParams(back[0], sets[0]) {
				t.Fatalf("metadata undoes the shift to %v, want the one set %v", back, sets[0])
			}

			feeds := map[string]*tensor.Tensor{"x": graphtest.RandF32(graphtest.Seeded(5), 3, inputShape(m)...)}
			orig, err := runtime.NewSession(m)
			if err != nil {
				t.Fatal(err)
			}
			mv, err := orig.Run(feeds, pre)
			if err != nil {
				t.Fatal(err)
			}
			sess, err := runtime.NewSession(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sess.Run(feeds)
			if err != nil {
				t.Fatal(err)
			}
			y := got[out.GetGraph().GetOutput()[0].GetName()].F32()
			ms := mv[pre].F32()
			shape := mv[pre].Shape
			worst := 0.0
			for i, v := range ms {
				ch := i % len(bias) // channels last
				if tc.conv {
					ch = i / (shape[2] * shape[3]) % len(bias)
				}
				want := sets[0].Eval(float64(v) + float64(bias[ch]))
				worst = max(worst, math.Abs(float64(y[i])-want)/max(1, math.Abs(want)))
			}
			if worst > 1e-5 {
				t.Errorf("absorbed bias: worst relative error %.3g against float64, want ≤ 1e-5", worst)
			}
			t.Logf("worst relative error against float64: %.3g", worst)
		})
	}
}

func inputShape(m *onnx.ModelProto) []int {
	var shape []int
	for _, d := range m.GetGraph().GetInput()[0].GetType().GetTensorType().GetShape().GetDim() {
		shape = append(shape, int(d.GetDimValue()))
	}
	return shape
}

func nodeSets(t *testing.T, m *onnx.ModelProto, n *onnx.NodeProto) []onnxops.Params {
	t.Helper()
	var ts []*tensor.Tensor
	for _, in := range n.GetInput()[1:] {
		for _, tp := range m.GetGraph().GetInitializer() {
			if tp.GetName() == in {
				x, err := tensor.FromProto(tp)
				if err != nil {
					t.Fatal(err)
				}
				ts = append(ts, x)
			}
		}
	}
	fam, err := onnxops.ParseFamily(n.GetOpType())
	if err != nil {
		t.Fatal(err)
	}
	sets, err := onnxops.ParamsFromTensors(fam, ts)
	if err != nil {
		t.Fatal(err)
	}
	return sets
}

// TestBiasKept: a bias stays an Add, with the reason in the report, where absorbing it would be
// wrong or impossible, and with Options.KeepBias.
func TestBiasKept(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fam  onnxops.Family
		opts func(*Options)
		edit func(m *onnx.ModelProto)
		why  string
	}{
		{"CRReLU", onnxops.FamilyCRReLU, nil, nil, "CRReLU"},
		{"gated Zorro", onnxops.FamilyZorro, func(o *Options) { o.Params = DefaultParams }, nil, "gated Zorro"},
		{"KeepBias", onnxops.FamilyPWLU, func(o *Options) { o.KeepBias = true }, nil, ""},
		{"biased value also read elsewhere", onnxops.FamilyPWLU, nil, func(m *onnx.ModelProto) {
			g := m.GetGraph()
			var add string
			for _, n := range g.GetNode() {
				if n.GetOpType() == "Add" {
					add = n.GetOutput()[0]
					break
				}
			}
			g.Output = append(g.Output, graphtest.ValueInfo(add, tensor.Float32))
		}, "graph output"},
		{"bias along two axes", onnxops.FamilyPWLU, nil, func(m *onnx.ModelProto) {
			g := m.GetGraph()
			for _, tp := range g.GetInitializer() {
				if tp.GetName() == "b" {
					*tp = *tensor.ToProto(tensor.New([]int{5, 8}, make([]float32, 40)), "b")
				}
			}
		}, "more than one axis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := biasedModel(false, false)
			if tc.edit != nil {
				tc.edit(m)
			}
			opts := Options{To: tc.fam, Params: ungatedZorro}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			out, rep, err := Apply(m, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Replaced) != 1 {
				t.Fatalf("replaced %d sites, want 1", len(rep.Replaced))
			}
			r := rep.Replaced[0]
			if r.AbsorbedBias != nil || !strings.Contains(r.BiasKept, tc.why) {
				t.Fatalf("absorbed %+v, kept because %q; want the bias kept because of %q", r.AbsorbedBias, r.BiasKept, tc.why)
			}
			adds := 0
			for _, n := range out.GetGraph().GetNode() {
				if n.GetOpType() == "Add" {
					adds++
				}
			}
			if adds != 1 {
				t.Fatalf("%d Add nodes, want the bias Add kept", adds)
			}
		})
	}
}
