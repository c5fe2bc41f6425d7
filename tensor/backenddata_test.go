package tensor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"google.golang.org/protobuf/proto"
)

// dataCheck tallies what the backend-data test saw.
type dataCheck struct {
	tensors, rawIdentical, typed, sequences, optionals, unsupported int
}

// Every input_K.pb / output_K.pb of the reference models and the ONNX backend suite decodes, and
// re-encodes to the same values: raw_data tensors to the very same bytes, typed-field tensors to a
// raw tensor holding identical element bits. Sequence and optional values are checked element by
// element. The message type of each file comes from the model's K-th graph input or output.
func TestBackendDataFilesRoundTrip(t *testing.T) {
	t.Parallel()
	shared := testutil.SharedDir(t)
	caseDirs := findCaseDirs(t, filepath.Join(shared, "models", "*"), filepath.Join(shared, "onnx-backend-tests", "*", "*"))
	if len(caseDirs) < 1900 {
		t.Fatalf("found only %d cases with test data", len(caseDirs))
	}
	checkCaseData(t, caseDirs)
}

// The bundled digits models' data sets decode too, without ../shared.
func TestBundledDataFilesRoundTrip(t *testing.T) {
	t.Parallel()
	caseDirs := findCaseDirs(t, filepath.Join(testutil.RepoRoot(t), "models", "*"))
	if len(caseDirs) < 6 {
		t.Fatalf("found only %d bundled models with test data", len(caseDirs))
	}
	checkCaseData(t, caseDirs)
}

func findCaseDirs(t *testing.T, patterns ...string) []string {
	var caseDirs []string
	for _, pattern := range patterns {
		m, err := filepath.Glob(filepath.Join(pattern, "test_data_set_0"))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range m {
			caseDirs = append(caseDirs, filepath.Dir(d))
		}
	}
	return caseDirs
}

func checkCaseData(t *testing.T, caseDirs []string) {
	var c dataCheck
	for _, dir := range caseDirs {
		model, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		for _, side := range []struct {
			prefix string
			values []*onnx.ValueInfoProto
		}{{"input", model.Graph.Input}, {"output", model.Graph.Output}} {
			files, _ := filepath.Glob(filepath.Join(dir, "test_data_set_0", side.prefix+"_*.pb"))
			for _, path := range files {
				var k int
				if _, err := fmt.Sscanf(filepath.Base(path), side.prefix+"_%d.pb", &k); err != nil || k >= len(side.values) {
					t.Errorf("%s: no graph %s for this file", path, side.prefix)
					continue
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.checkValue(b, side.values[k].GetType()); err != nil {
					t.Errorf("%s: %v", path, err)
				}
			}
		}
	}
	t.Logf("%d cases: %d tensors (%d raw re-encoded byte-identically, %d typed), %d sequences, %d optionals, %d tensors of dtypes actswap does not hold",
		len(caseDirs), c.tensors, c.rawIdentical, c.typed, c.sequences, c.optionals, c.unsupported)
}

func (c *dataCheck) checkValue(b []byte, typ *onnx.TypeProto) error {
	switch {
	case typ.GetSequenceType() != nil:
		seq := &onnx.SequenceProto{}
		if err := unmarshalExact(b, seq); err != nil {
			return err
		}
		c.sequences++
		return c.checkSequence(seq)
	case typ.GetOptionalType() != nil:
		opt := &onnx.OptionalProto{}
		if err := unmarshalExact(b, opt); err != nil {
			return err
		}
		c.optionals++
		switch {
		case opt.TensorValue != nil:
			return c.checkTensor(opt.TensorValue)
		case opt.SequenceValue != nil:
			return c.checkSequence(opt.SequenceValue)
		}
		return nil
	}
	tp := &onnx.TensorProto{}
	if err := unmarshalExact(b, tp); err != nil {
		return err
	}
	return c.checkTensor(tp)
}

func (c *dataCheck) checkSequence(seq *onnx.SequenceProto) error {
	for i, tp := range seq.TensorValues {
		if err := c.checkTensor(tp); err != nil {
			return fmt.Errorf("sequence element %d: %w", i, err)
		}
	}
	for i, s := range seq.SequenceValues {
		if err := c.checkSequence(s); err != nil {
			return fmt.Errorf("sequence element %d: %w", i, err)
		}
	}
	return nil
}

// unmarshalExact decodes b into m and checks that re-encoding gives b back, proving the schema
// knows every field the suite uses.
func unmarshalExact(b []byte, m proto.Message) error {
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, b) {
		return fmt.Errorf("%T re-encodes to different bytes", m)
	}
	return nil
}

func (c *dataCheck) checkTensor(tp *onnx.TensorProto) error {
	if !DType(tp.GetDataType()).Supported() {
		c.unsupported++
		return nil
	}
	c.tensors++
	t, err := FromProto(tp)
	if err != nil {
		return err
	}
	back := ToProto(t, tp.GetName())
	again, err := FromProto(back)
	if err != nil {
		return fmt.Errorf("re-decoding: %w", err)
	}
	if !sameTensor(t, again) {
		return fmt.Errorf("values change through ToProto/FromProto")
	}
	if tp.RawData == nil {
		c.typed++
		return nil
	}
	want, _ := proto.Marshal(tp)
	got, _ := proto.Marshal(back)
	if !bytes.Equal(got, want) {
		return fmt.Errorf("raw tensor re-encodes to different bytes")
	}
	c.rawIdentical++
	return nil
}
