package calibrate

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// TestReportFloatsJSON pins the JSON of the report's float fields that may be NaN or ±Inf: finite
// values as numbers, the others spelled as V2 servers spell them (encoding/json refuses them).
func TestReportFloatsJSON(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{GateCheck{Output: "y", Metric: "rel_l2_err", Limit: 0.01, Value: 0.25, On: "held_out"},
			`{"output":"y","metric":"rel_l2_err","limit":0.01,"value":0.25,"passed":false,"on":"held_out"}`},
		{GateCheck{Output: "y", Metric: "rel_l2_err", Limit: 0.01, Value: tensor.JSONFloat64(math.NaN()), On: "in_sample"},
			`{"output":"y","metric":"rel_l2_err","limit":0.01,"value":"NaN","passed":false,"on":"in_sample"}`},
		{ValidatedCandidate{Name: "PWLU", RelL2: 0.004, Top1Agreement: 1},
			`{"name":"PWLU","rel_l2_err":0.004,"top1_agreement":1}`},
		{ValidatedCandidate{Name: "Zorro", RelL2: tensor.JSONFloat64(math.Inf(1)), Top1Agreement: 0.5},
			`{"name":"Zorro","rel_l2_err":"Infinity","top1_agreement":0.5}`},
		{ValidatedCandidate{Name: "CRReLU", RelL2: tensor.JSONFloat64(math.Inf(-1))},
			`{"name":"CRReLU","rel_l2_err":"-Infinity","top1_agreement":0}`},
		{OutputError{Name: "logits", MaxAbs: 0.5, RelL2: 0.01, NonFinite: NonFiniteCounts{RewrittenNaN: 2, Introduced: 2}, Top1Agreement: 0.75},
			`{"name":"logits","max_abs_err":0.5,"rel_l2_err":0.01,"non_finite":{"original_nan":0,"original_inf":0,"rewritten_nan":2,"rewritten_inf":0,"introduced":2},"top1_agreement":0.75}`},
		{OutputError{Name: "y", MaxAbs: math.Inf(1), RelL2: math.NaN()},
			`{"name":"y","max_abs_err":"Infinity","rel_l2_err":"NaN","non_finite":{"original_nan":0,"original_inf":0,"rewritten_nan":0,"rewritten_inf":0,"introduced":0},"top1_agreement":0}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatalf("%+v: %v", c.v, err)
		}
		// Key order is not part of JSON's meaning; numbers and strings are told apart.
		var got, want any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(c.want), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v:\n got %s\nwant %s", c.v, b, c.want)
		}
	}
}
