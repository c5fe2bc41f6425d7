package serve

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// Responses spell non-finite floats exactly as tensor.JSONFloat does (what the CLI's JSON
// reports write), requests read that spelling back, and finite values round-trip at their width.
func TestJSONFloatSpelling(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		want, err := json.Marshal(tensor.JSONFloat(f))
		if err != nil {
			t.Fatal(err)
		}
		got := string(appendJSONFloat(nil, f, 32))
		if got != string(want) {
			t.Errorf("%v written as %s, want %s", f, got, want)
		}
		unquoted, err := strconv.Unquote(got)
		if err != nil {
			t.Fatalf("%v written as %s, not a JSON string", f, got)
		}
		back, ok := nonFiniteFloat(unquoted)
		if !ok || math.IsNaN(back) != math.IsNaN(f) || (!math.IsNaN(f) && back != f) {
			t.Errorf("%s read back as %v (%v), want %v", got, back, ok, f)
		}
	}
	for _, f := range []float32{0.1, -3.4028235e38, 1e-45, 65536} {
		text := string(appendJSONFloat(nil, float64(f), 32))
		back, err := strconv.ParseFloat(text, 32)
		if err != nil || float32(back) != f {
			t.Errorf("%v written as %s, read back as %v (%v)", f, text, back, err)
		}
	}
}
