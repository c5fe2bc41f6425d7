package runtime

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// FlexAttention's kernel against the operator's own function body: the suite ships each case
// also expanded into standard ops (…_expanded_ver26), which actswap runs with its ordinary
// kernels. Both get fresh random inputs of the case's shapes (GQA, causal and score/prob mods,
// soft cap, fp16, float64…), beyond the suite's one data set each.
func TestFlexAttentionMatchesItsFunctionBody(t *testing.T) {
	root := testutil.SharedPath(t, "onnx-backend-tests", "node")
	r := graphtest.Seeded(11)
	for _, name := range []string{"causal_mask", "diff_head_sizes", "double", "fp16", "gqa", "prob_mod", "relative_positional", "scaled", "score_mod", "soft_cap", ""} {
		base := "test_flexattention"
		if name != "" {
			base += "_" + name
		}
		kernel := sessionOf(t, filepath.Join(root, base, "model.onnx"))
		body := sessionOf(t, filepath.Join(root, base+"_expanded_ver26", "model.onnx"))
		feeds := map[string]*tensor.Tensor{}
		for _, in := range kernel.Inputs() {
			shape := make([]int, len(in.Shape))
			for i, d := range in.Shape {
				shape[i] = d.Value
			}
			x := graphtest.RandF32(r, 2, shape...)
			if in.DType != tensor.Float32 {
				var err error
				if x, err = castForTest(x, in.DType); err != nil {
					t.Fatal(err)
				}
			}
			feeds[in.Name] = x
		}
		got, err := kernel.Run(feeds)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		want, err := body.Run(feeds)
		if err != nil {
			t.Fatalf("%s expanded: %v", base, err)
		}
		for name, w := range want {
			if msg := compareValues(got[name], w, 1e-3, 1e-6); msg != "" {
				t.Errorf("%s: output %q, kernel vs function body: %s", base, name, msg)
			}
		}
	}
}

func sessionOf(t *testing.T, path string) *Session {
	t.Helper()
	m, err := onnx.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// castForTest converts a float32 tensor to float16 or float64.
func castForTest(x *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	switch dt {
	case tensor.Float64:
		v := make([]float64, x.Len())
		for i, f := range x.F32() {
			v[i] = float64(f)
		}
		return tensor.New(x.Shape, v), nil
	case tensor.Float16:
		v := make([]tensor.Float16Bits, x.Len())
		for i, f := range x.F32() {
			v[i] = tensor.Float16FromFloat32(f)
		}
		return tensor.New(x.Shape, v), nil
	}
	return nil, fmt.Errorf("no test cast to %v", dt)
}
