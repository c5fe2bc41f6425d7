package calibrate

import (
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// Calibrated models are ordinary ONNX: onnxruntime runs them through the attached function
// bodies and agrees with actswap's kernels on the test images, for every family.
func TestCalibratedModelsRunInOnnxruntime(t *testing.T) {
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(t, why)
	}
	x, err := tensor.ReadNpy(filepath.Join("..", "models", "digits_data", "test_x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	x = tensor.SliceRows(x, 0, 64)
	for _, c := range []struct {
		model string
		fam   onnxops.Family
	}{
		{"digits_vit", onnxops.FamilyPWLU},
		{"digits_vit_tanh", onnxops.FamilyZorro},
		{"digits_cnn", onnxops.FamilyCRReLU},
	} {
		d := openDigits(t, c.model)
		res, err := Calibrate(d.m, d.calib, Options{To: c.fam})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), c.model+".onnx")
		if err := onnx.SaveFile(res.Model, path); err != nil {
			t.Fatal(err)
		}
		s, err := runtime.NewSession(res.Model, runtime.WithThreads(1))
		if err != nil {
			t.Fatal(err)
		}
		feed := map[string]*tensor.Tensor{s.Inputs()[0].Name: x}
		got, err := s.Run(feed)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ortref.Run(path, feed)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			t.Fatalf("%s: onnxruntime returned no outputs", c.model)
		}
		for name, w := range want {
			if err := tensor.AllClose(got[name], w, 1e-4, 1e-5); err != nil {
				t.Errorf("%s → %s, output %s: actswap vs onnxruntime: %v", c.model, c.fam, name, err)
			}
		}
	}
}
