package calibrate

import (
	"io"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// tensorsReader hands out fixed batches of input "x".
type tensorsReader struct {
	batches []*tensor.Tensor
	next    int
}

func (r *tensorsReader) Next() (map[string]*tensor.Tensor, error) {
	if r.next >= len(r.batches) {
		return nil, io.EOF
	}
	r.next++
	return map[string]*tensor.Tensor{"x": r.batches[r.next-1]}, nil
}
func (r *tensorsReader) Reset() error { r.next = 0; return nil }
func (r *tensorsReader) Close() error { return nil }

func nestedData(seed uint64, batches, rows int) *tensorsReader {
	rng := graphtest.Seeded(seed)
	r := &tensorsReader{}
	for range batches {
		r.batches = append(r.batches, graphtest.NestedInput(rng, rows))
	}
	return r
}

// A site inside a Loop body is calibrated on its values over every iteration, and a site inside a
// model-local function on its values over every call: the statistics count them all.
func TestCalibrateSeesEveryIterationAndCall(t *testing.T) {
	m := graphtest.NestedGELUs(1).Model()
	const batches, rows = 2, 16
	res, err := Calibrate(m, nestedData(3, batches, rows), Options{To: onnxops.FamilyPWLU, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, s := range res.Sites {
		counts[s.Node] = s.Stats.Count
	}
	sites, err := rewrite.Find(m)
	if err != nil {
		t.Fatal(err)
	}
	per := int64(batches * rows * graphtest.NestedWidth)
	for _, s := range sites {
		want := per // the main graph's ReLU: once per row and feature
		switch {
		case s.Scope == "":
		case s.Scope[:4] == "Loop":
			want = 3 * per // three iterations
		default:
			want = 2 * per // two calls
		}
		if counts[s.Node] != want {
			t.Errorf("site %q saw %d values, want %d", s.Node, counts[s.Node], want)
		}
	}
	if len(counts) != 3 {
		t.Errorf("calibrated sites %v, want 3", counts)
	}
}

// The done-when of issue #18: a model with GELUs inside a Loop body and inside a model-local
// function is rewritten, calibrated, and agrees with onnxruntime, which runs the ai.actswap
// function bodies (called from the Loop body and from the other function), uncalibrated and
// calibrated, for every family; and calibration brings it closer to the original.
func TestNestedSitesAgreeWithOnnxruntime(t *testing.T) {
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, why)
	}
	m := graphtest.NestedGELUs(1).Model()
	feeds := map[string]*tensor.Tensor{"x": graphtest.NestedInput(graphtest.Seeded(9), 32)}
	dir := t.TempDir()
	ort := func(name string, model *onnx.ModelProto) *tensor.Tensor {
		t.Helper()
		path := filepath.Join(dir, name+".onnx")
		if err := onnx.SaveFile(model, path); err != nil {
			t.Fatal(err)
		}
		out, err := ortref.Run(path, feeds)
		if err != nil {
			t.Fatalf("%s in onnxruntime: %v", name, err)
		}
		return only(t, out)
	}
	actswap := func(model *onnx.ModelProto, opts ...runtime.Option) *tensor.Tensor {
		t.Helper()
		return runOnly(t, model, feeds, opts...)
	}
	original := ort("original", m)
	if err := tensor.AllClose(actswap(m), original, 1e-4, 1e-5); err != nil {
		t.Fatalf("the original model, actswap vs onnxruntime: %v", err)
	}
	for _, fam := range onnxops.Families {
		rewritten, _, err := rewrite.Apply(m, rewrite.Options{To: fam})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Calibrate(m, nestedData(3, 4, 32), Options{To: fam, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		var scopes []string
		for _, r := range res.Rewrite {
			for _, rep := range r.Replaced {
				scopes = append(scopes, rep.Site.Scope)
			}
		}
		slices.Sort(scopes)
		want := []string{"", onnx.SubgraphScope("", "Loop", graphtest.NestedLoopNode, "body", -1), "function local.MLP"}
		if !slices.Equal(scopes, want) {
			t.Errorf("%s: calibrated sites in scopes %q, want the main graph, the Loop body and the function", fam, scopes)
		}
		errs := map[string]float64{}
		for name, model := range map[string]*onnx.ModelProto{"rewritten": rewritten, "calibrated": res.Model} {
			want := ort(name+"_"+string(fam), model)
			for _, opts := range [][]runtime.Option{nil, {runtime.WithFunctionBodies()}} {
				if err := tensor.AllClose(actswap(model, opts...), want, 1e-4, 1e-5); err != nil {
					t.Errorf("%s %s %v: actswap vs onnxruntime: %v", name, fam, opts, err)
				}
			}
			errs[name] = relL2(want, original)
		}
		t.Logf("%s: rel-L2 to the original in onnxruntime: uncalibrated %.3g, calibrated %.3g", fam, errs["rewritten"], errs["calibrated"])
		if fam != onnxops.FamilyCRReLU && errs["calibrated"] > errs["rewritten"] {
			t.Errorf("%s: calibration made the model worse (rel-L2 %.3g vs %.3g uncalibrated)", fam, errs["calibrated"], errs["rewritten"])
		}
	}
}

// runOnly runs a one-output model in actswap's runtime and returns its output.
func runOnly(t *testing.T, model *onnx.ModelProto, feeds map[string]*tensor.Tensor, opts ...runtime.Option) *tensor.Tensor {
	t.Helper()
	s, err := runtime.NewSession(model, opts...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	return only(t, out)
}

func only(t *testing.T, out map[string]*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	if len(out) != 1 {
		t.Fatalf("%d outputs, want 1", len(out))
	}
	for _, v := range out {
		return v
	}
	return nil
}

func relL2(got, want *tensor.Tensor) float64 {
	var num, den float64
	for i, w := range want.F32() {
		d := float64(got.F32()[i] - w)
		num += d * d
		den += float64(w) * float64(w)
	}
	if den == 0 {
		return num
	}
	return math.Sqrt(num / den)
}

// Refit (actswap calibrate) finds the ai.actswap nodes inside the Loop body and the function and
// refits their parameters in place (initializers of the body, Constant nodes of the function).
func TestRefitNestedSites(t *testing.T) {
	m := graphtest.NestedGELUs(1).Model()
	rewritten, _, err := rewrite.Apply(m, rewrite.Options{To: onnxops.FamilyPWLU})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Refit(rewritten, nestedData(3, 4, 32), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	var scopes []string
	for _, s := range res.Sites {
		scopes = append(scopes, s.Scope)
	}
	if len(scopes) != 3 || scopes[0] != "" || scopes[1] == "" || scopes[2] == "" {
		t.Fatalf("refitted sites in scopes %q, want the main graph, the Loop body and the function", scopes)
	}
	feeds := map[string]*tensor.Tensor{"x": graphtest.NestedInput(graphtest.Seeded(9), 32)}
	run := func(model *onnx.ModelProto) *tensor.Tensor { return runOnly(t, model, feeds) }
	want := run(m)
	before, after := relL2(run(rewritten), want), relL2(run(res.Model), want)
	if !(after < before/2) {
		t.Errorf("refitting left the rel-L2 to the original at %.3g (defaults: %.3g)", after, before)
	}
}
