package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/tensor"
	"github.com/spf13/cobra"
)

func TestRunCommand(t *testing.T) {
	modelDir := testutil.SharedPath(t, "models", "digits_cnn")
	model := filepath.Join(modelDir, "model.onnx")
	tmp := t.TempDir()
	write := func(name string, x *tensor.Tensor) string {
		path := filepath.Join(tmp, name)
		if err := tensor.WriteNpy(path, x); err != nil {
			t.Fatal(err)
		}
		return path
	}
	npz := filepath.Join(tmp, "unknown.npz")
	if err := tensor.WriteNpz(npz, []string{"x"}, map[string]*tensor.Tensor{"x": tensor.Zeros(tensor.Float32, []int{3, 1, 8, 8})}); err != nil {
		t.Fatal(err)
	}
	good := write("good.npy", tensor.Zeros(tensor.Float32, []int{3, 1, 8, 8}))
	goodNpz := filepath.Join(tmp, "good.npz")
	if err := tensor.WriteNpz(goodNpz, []string{"input"}, map[string]*tensor.Tensor{"input": tensor.Zeros(tensor.Float32, []int{2, 1, 8, 8})}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []string
		want string // error substring; "" for success
	}{
		{"data set folder", []string{filepath.Join(modelDir, "test_data_set_0")}, ""},
		{"npy", []string{good}, ""},
		{"named npy", []string{"input=" + good}, ""},
		{"npz", []string{goodNpz}, ""},
		{"input_K.pb", []string{filepath.Join(modelDir, "test_data_set_0", "input_0.pb")}, ""},
		// A single .npy or .npz is read as every command reads data (calibrate.OpenData): a unit
		// axis may be added and float64 converted, other shapes are refused.
		{"unit axis added", []string{write("rank.npy", tensor.Zeros(tensor.Float32, []int{3, 8, 8}))}, ""},
		{"float64 converted", []string{write("dtype.npy", tensor.Zeros(tensor.Float64, []int{3, 1, 8, 8}))}, ""},
		{"dtype of a .pb", []string{"input=" + write("dtype2.npy", tensor.Zeros(tensor.Float64, []int{2, 1, 8, 8}))},
			`input "input": expected float32[batch,1,8,8], got float64[2,1,8,8]`},
		{"dim", []string{write("dim.npy", tensor.Zeros(tensor.Float32, []int{2, 1, 8, 7}))}, `dim.npy: rows of shape [1 8 7] do not fit input "input"`},
		{"unknown name", []string{npz}, `no member "input.npy"`},
		{"twice", []string{good, good}, `input "input" is given twice`},
		{"missing file", []string{filepath.Join(tmp, "nope.npy")}, "no such file"},
	}
	for _, c := range cases {
		out := filepath.Join(tmp, "out-"+strings.ReplaceAll(c.name, " ", "-"))
		var buf bytes.Buffer
		cmd := &cobra.Command{}
		cmd.SetOut(&buf)
		err := runModel(cmd, model, c.data, out, 1, false, 2)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			y, name, err := tensor.ReadProtoFile(filepath.Join(out, "output_0.pb"))
			if err != nil || name != "output" || y.Rank() != 2 || y.Shape[1] != 10 {
				t.Errorf("%s: output_0.pb: %v %q %v", c.name, y, name, err)
			}
			if !strings.Contains(buf.String(), "output_0.pb") {
				t.Errorf("%s: printed %q", c.name, buf.String())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line containing %q", c.name, err, c.want)
		}
	}
}
