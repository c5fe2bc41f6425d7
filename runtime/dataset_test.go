package runtime

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/onnx"

	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

func TestValueFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		v    *tensor.Tensor
		kind valueType
	}{
		{"tensor", f32([]int{2}, 1, 2), valueType{kind: kindTensor, dtype: tensor.Float32}},
		{"sequence", ops.NewSequence([]*tensor.Tensor{f32([]int{1}, 3), f32([]int{2}, 4, 5)}), valueType{kind: kindSequence}},
		{"empty sequence", ops.NewSequence(nil), valueType{kind: kindSequence}},
		{"nested sequence", ops.NewSequence([]*tensor.Tensor{ops.NewSequence([]*tensor.Tensor{tensor.Scalar(int64(7))})}), valueType{kind: kindSequence}},
		{"empty optional", ops.EmptyOptional(), valueType{kind: kindOptional}},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".pb")
		if err := WriteValueFile(path, c.v, c.name); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		back, err := readValueFile(path, c.kind)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if msg := compareValues(back, c.v, 0, 0); msg != "" {
			t.Errorf("%s: read back %s", c.name, msg)
		}
	}
}

// TestReadDataSetTensors pins the shared data set reader that calibrate and deploy/imagecheck use:
// files bind by position, a missing or surplus file is an error naming the value and the file.
func TestReadDataSetTensors(t *testing.T) {
	dir := t.TempDir()
	x := f32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	ids := tensor.New([]int{2}, []int64{7, -8})
	y := f32([]int{1}, 0.5)
	for path, v := range map[string]*tensor.Tensor{InputFile(dir, 0): x, InputFile(dir, 1): ids, OutputFile(dir, 0): y} {
		if err := tensor.WriteProtoFile(path, v, ""); err != nil {
			t.Fatal(err)
		}
	}
	in, out, err := ReadDataSetTensors(dir, []string{"x", "ids"}, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 2 || len(out) != 1 {
		t.Fatalf("read %d inputs and %d outputs, want 2 and 1", len(in), len(out))
	}
	for i, c := range []struct{ got, want *tensor.Tensor }{{in[0], x}, {in[1], ids}, {out[0], y}} {
		if msg := compareValues(c.got, c.want, 0, 0); msg != "" {
			t.Errorf("value %d: %s", i, msg)
		}
	}

	failures := []struct {
		name            string
		dir             string
		inputs, outputs []string
		want            []string
	}{
		{"missing input", dir, []string{"x", "ids", "mask"}, nil, []string{`input "mask"`, "input_2.pb"}},
		{"missing output", dir, []string{"x", "ids"}, []string{"y", "z"}, []string{`output "z"`, "output_1.pb"}},
		{"surplus input", dir, []string{"x"}, nil, []string{"input_1.pb", "the model has only 1 inputs"}},
		{"not a folder", InputFile(dir, 0), []string{"x"}, nil, []string{"input_0.pb", "not a folder"}},
	}
	for _, c := range failures {
		_, _, err := ReadDataSetTensors(c.dir, c.inputs, c.outputs)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.name, err, w)
			}
		}
	}
}

// TestReadDataSetTensorsGolden reads a data set that Python's onnx wrote and onnxruntime computed
// with the shared reader, and checks the model run on its inputs reproduces its outputs.
func TestReadDataSetTensorsGolden(t *testing.T) {
	dir := "../models/digits_mlp_gelu"
	m, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(m, WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	in, want, err := ReadDataSetTensors(filepath.Join(dir, "test_data_set_0"), []string{s.inputs[0].name}, []string{s.outputs[0].name})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(map[string]*tensor.Tensor{s.inputs[0].name: in[0]})
	if err != nil {
		t.Fatal(err)
	}
	if msg := compareValues(got[s.outputs[0].name], want[0], 1e-4, 1e-4); msg != "" {
		t.Errorf("run on the data set's inputs: %s", msg)
	}
}
