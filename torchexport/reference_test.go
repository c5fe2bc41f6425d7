package torchexport

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

type jsonTensor struct {
	Shape []int `json:"shape"`
	Data  []any `json:"data"` // numbers, or "NaN", "Infinity", "-Infinity"
}

func newJSONTensor(shape []int, v []float64) jsonTensor {
	t := jsonTensor{Shape: shape, Data: make([]any, len(v))}
	if t.Shape == nil {
		t.Shape = []int{}
	}
	for i, x := range v {
		t.Data[i] = tensor.JSONFloat(x)
	}
	return t
}

type referenceCase struct {
	Name   string                `json:"name"`
	Family onnxops.Family        `json:"family"`
	Gate   bool                  `json:"gate"`
	Params map[string]jsonTensor `json:"params"`
	X      jsonTensor            `json:"x"`
	Y      jsonTensor            `json:"y"`
}

// referenceInputs are float32-exact values across every branch: both tails, the CRReLU cut at
// |x| = 40, PWLU knots and bounds, huge values, ±Inf and NaN.
func referenceInputs(sets []onnxops.Params) []float64 {
	xs := []float64{math.Inf(-1), -1e6, -60, -41, -40, -39.5, 39.5, 40, 41, 60, 1e6, math.Inf(1), math.NaN(), 0}
	for x := -8.0; x <= 8; x += 0.125 {
		xs = append(xs, x+1.0/1024) // off the grid of knots too
	}
	for _, p := range sets {
		if q, ok := p.(onnxops.PWLUParams); ok {
			for i := 0; i <= q.N(); i++ {
				xs = append(xs, float64(float32(q.Knot(i))))
			}
		}
	}
	return xs
}

// referenceCaseOf evaluates sets as the modules hold them: in float32 (what export-torch writes),
// so the float64 comparison measures the module's arithmetic alone.
func referenceCaseOf(name string, exact []onnxops.Params) referenceCase {
	fam := exact[0].Family()
	ts, err := onnxops.ParamTensorsAs(tensor.Float32, fam, exact)
	if err != nil {
		panic(err)
	}
	sets, err := onnxops.ParamsFromTensors(fam, ts)
	if err != nil {
		panic(err)
	}
	c := referenceCase{Name: name, Family: fam, Params: map[string]jsonTensor{}}
	if z, ok := exact[0].(onnxops.ZorroParams); ok {
		c.Gate = z.Gate
		for i := range sets {
			q := sets[i].(onnxops.ZorroParams)
			q.Gate = z.Gate
			sets[i] = q
		}
	}
	for k, n := range onnxops.ParamInputNames(fam) {
		v, _ := tensor.Float64s(ts[k])
		c.Params[n] = newJSONTensor(ts[k].Shape, v)
	}
	// x is [rows, C]: per channel, channel c uses set c; per tensor, 3 columns share the one set.
	cols := len(sets)
	if cols == 1 {
		cols = 3
	}
	xs := referenceInputs(sets)
	var x, y []float64
	for _, v := range xs {
		for col := 0; col < cols; col++ {
			x = append(x, v)
			y = append(y, sets[min(col, len(sets)-1)].Eval(v))
		}
	}
	c.X = newJSONTensor([]int{len(xs), cols}, x)
	c.Y = newJSONTensor([]int{len(xs), cols}, y)
	return c
}

// TestTorchModulesMatchReference evaluates the exported PyTorch modules against actswap's float64
// math of OPS.md (onnxops), per tensor and per channel, at edge values: in float64 to rounding,
// in float32 within OPS.md's 1e-5·max(1,|y|), NaN and infinities where actswap has them, and
// finite gradients wherever x is finite (Zorro with a·b > 88.7, where k = 1+e^(ab) overflows
// float32, included).
func TestTorchModulesMatchReference(t *testing.T) {
	python := torchPython(t)
	gelu := make([]float64, 17)
	for i := range gelu {
		gelu[i] = onnxops.GELU(-3 + 6*float64(i)/16)
	}
	cases := []referenceCase{
		referenceCaseOf("crrelu", []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.3}}),
		referenceCaseOf("crrelu_per_channel", []onnxops.Params{onnxops.CRReLUParams{Epsilon: -0.5}, onnxops.CRReLUParams{}, onnxops.CRReLUParams{Epsilon: 1.2}}),
		referenceCaseOf("pwlu", []onnxops.Params{onnxops.PWLUParams{BL: -3, BR: 3, Heights: gelu, KL: 0, KR: 1}}),
		referenceCaseOf("pwlu_per_channel", []onnxops.Params{
			onnxops.PWLUParams{BL: -2, BR: 2, Heights: []float64{0.5, -1, 0, 2, 1}, KL: -0.25, KR: 0},
			onnxops.PWLUParams{BL: -0.5, BR: 6, Heights: []float64{0, 1, 1.5, 4, 3}, KL: 0, KR: 2},
			onnxops.PWLUParams{BL: 1, BR: 1.5, Heights: []float64{3, 2, 1, 0, -1}, KL: 1, KR: -3},
		}),
		referenceCaseOf("zorro_gated", []onnxops.Params{onnxops.ZorroParams{AN: 1e4, BN: 2e-3, AP: 1e4, BP: 2e-3, InScale: 0.31357, InShift: 0.5, OutScale: 1, Gate: true}}),
		referenceCaseOf("zorro_ab_overflows_float32", []onnxops.Params{onnxops.ZorroParams{AN: 3, BN: 30, AP: 0.5, BP: 2, InScale: 1.5, InShift: 0.2, OutScale: 0.8, OutShift: 0.1}}),
		referenceCaseOf("zorro_per_channel", []onnxops.Params{onnxops.SymmetricZorro(1.2, 1), onnxops.SigmoidZorro(4, 2, 0.5), onnxops.TanhZorro(4, 2, 1)}),
	}
	dir := t.TempDir()
	b, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cases.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ModuleFile), pythonModule, 0o644); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Name        string  `json:"name"`
		F64         float64 `json:"f64"`
		F32         float64 `json:"f32"`
		GradsFinite bool    `json:"grads_finite"`
		// SpecialValues: NaN exactly where actswap gives NaN, the same infinities, no others.
		SpecialValues bool `json:"special_values"`
	}
	out := runPython(t, python, "reference", filepath.Join(dir, "cases.json"), dir)
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("reference printed %q: %v", out, err)
	}
	if len(got) != len(cases) {
		t.Fatalf("%d results for %d cases", len(got), len(cases))
	}
	for _, r := range got {
		t.Logf("%-28s float64 %.3g, float32 %.3g ·max(1,|y|)", r.Name, r.F64, r.F32)
		if !(r.F64 <= 1e-12) {
			t.Errorf("%s: float64 module differs from actswap's float64 math by %.3g·max(1,|y|)", r.Name, r.F64)
		}
		if !r.SpecialValues {
			t.Errorf("%s: NaN or infinities differ from actswap's", r.Name)
		}
		if !(r.F32 <= 1e-5) {
			t.Errorf("%s: float32 module differs by %.3g·max(1,|y|), OPS.md allows 1e-5", r.Name, r.F32)
		}
		if !r.GradsFinite {
			t.Errorf("%s: a gradient is not finite at finite inputs", r.Name)
		}
	}
}
