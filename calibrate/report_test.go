package calibrate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/actswap/actswap/onnxops"
)

func TestReportsOnSyntheticModel(t *testing.T) {
	m := synthModel()
	data := &synthReader{batches: 3}
	opts := Options{To: Auto}
	res, err := Calibrate(m, data, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sites) != 1 || res.Sites[0].Family != onnxops.FamilyCRReLU || len(res.Sites[0].Candidates) != 3 {
		t.Fatalf("auto on a ReLU site: %+v", res.Sites)
	}
	cmp, err := Compare(m, res.Model, data, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Outputs[0].MaxAbs != 0 || cmp.Top1Agreement != 1 || cmp.Accuracy != nil {
		t.Errorf("CRReLU(ε=0) should reproduce ReLU exactly: %+v", cmp)
	}
	var js bytes.Buffer
	if err := NewReport("synthetic.onnx", res, cmp, opts).WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Sites []struct {
			Node       string             `json:"node"`
			Family     string             `json:"family"`
			Parameters []map[string]any   `json:"parameters"`
			Fit        map[string]float64 `json:"fit_error"`
			Stats      map[string]any     `json:"input_stats"`
		} `json:"sites"`
		Compare struct {
			Outputs []map[string]any `json:"outputs"`
			Top1    float64          `json:"top1_agreement"`
		} `json:"compare"`
	}
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	s := decoded.Sites[0]
	if s.Node != "act" || s.Family != "CRReLU" || s.Parameters[0]["epsilon"] != 0.0 || s.Stats["count"] == nil {
		t.Errorf("JSON site %+v", s)
	}
	if _, ok := s.Fit["wrmse"]; !ok {
		t.Errorf("fit_error lacks wrmse: %v", s.Fit)
	}
	if decoded.Compare.Top1 != 1 || decoded.Compare.Outputs[0]["name"] != "y" || decoded.Compare.Outputs[0]["rel_l2_err"] == nil {
		t.Errorf("JSON compare %+v", decoded.Compare)
	}
	var page bytes.Buffer
	if err := NewReport("synthetic.onnx", res, cmp, opts).WriteHTML(&page, "synthetic", res); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{"<svg", "polyline", "act", "top-1 agreement", "</html>"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	var text bytes.Buffer
	NewReport("", res, cmp, opts).WriteText(&text)
	if !strings.Contains(text.String(), "top-1 agreement  100.00%") {
		t.Errorf("text report:\n%s", text.String())
	}
}

func TestCompareLabelCountMustMatch(t *testing.T) {
	m := synthModel()
	dir := t.TempDir()
	labels := writeFile(t, dir+"/y.npy", npyBytes("<i8", []int{3*256 + 1}, make([]int64, 3*256+1)))
	l, err := OpenLabels(labels)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Compare(m, m, &synthReader{batches: 3}, l, 0); err == nil || !strings.Contains(err.Error(), "769 labels for 768") {
		t.Errorf("extra label: %v", err)
	}
	if _, err := Compare(m, m, &synthReader{batches: 4}, l, 0); err == nil || !strings.Contains(err.Error(), "fewer labels") {
		t.Errorf("missing labels: %v", err)
	}
	floats := writeFile(t, dir+"/f.npy", npyBytes("<f4", []int{2}, []float32{1, 2}))
	if _, err := OpenLabels(floats); err == nil {
		t.Error("float labels accepted")
	}
}

func TestCalibrateUnnamedNodes(t *testing.T) {
	m := synthModel()
	for _, n := range m.GetGraph().GetNode() {
		n.Name = nil
	}
	res, err := Calibrate(m, &synthReader{batches: 1}, Options{To: onnxops.FamilyPWLU})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sites) != 1 || res.Sites[0].Node == "" {
		t.Fatalf("sites %+v", res.Sites)
	}
	if m.GetGraph().GetNode()[0].GetName() != "" {
		t.Error("Calibrate modified its input model")
	}
}
