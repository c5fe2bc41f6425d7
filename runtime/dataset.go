package runtime

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/actswap/actswap/internal/outfile"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// ReadDataSet reads an ONNX test data set folder (input_K.pb, output_K.pb): input K binds by
// position to the K-th of Inputs(), output K to the K-th of Outputs(). Sequence- and
// optional-typed values are read from SequenceProto and OptionalProto files as ONNX stores them.
// A missing input_K.pb is left out (an omitted optional input); a missing output_K.pb is an error.
func (s *Session) ReadDataSet(dir string) (inputs map[string]*tensor.Tensor, outputs []*tensor.Tensor, err error) {
	inputs, err = s.ReadDataSetInputs(dir)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range s.outputs {
		t, err := readValueFile(filepath.Join(dir, fmt.Sprintf("output_%d.pb", k)), v)
		if err != nil {
			return nil, nil, fmt.Errorf("output %q: %w", v.name, err)
		}
		outputs = append(outputs, t)
	}
	return inputs, outputs, nil
}

// ReadDataSetInputs reads only the input_K.pb files of a data set folder (see ReadDataSet).
func (s *Session) ReadDataSetInputs(dir string) (map[string]*tensor.Tensor, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("data set %s: not a folder", dir)
	}
	inputs := map[string]*tensor.Tensor{}
	for k, v := range s.inputs {
		path := filepath.Join(dir, fmt.Sprintf("input_%d.pb", k))
		if !fileExists(path) {
			continue
		}
		t, err := readValueFile(path, v)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", v.name, err)
		}
		inputs[v.name] = t
	}
	if extra := filepath.Join(dir, fmt.Sprintf("input_%d.pb", len(s.inputs))); fileExists(extra) {
		return nil, fmt.Errorf("%s: the model has only %d inputs", extra, len(s.inputs))
	}
	return inputs, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readValueFile decodes a .pb file holding a value of the declared type.
func readValueFile(path string, v valueType) (*tensor.Tensor, error) {
	if v.kind != kindSequence && v.kind != kindOptional {
		t, _, err := tensor.ReadProtoFile(path)
		return t, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if v.kind == kindSequence {
		sp := &onnx.SequenceProto{}
		if err := proto.Unmarshal(b, sp); err != nil {
			return nil, fmt.Errorf("read %s: not a SequenceProto: %v", path, err)
		}
		t, err := sequenceFromProto(sp)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		return t, nil
	}
	op := &onnx.OptionalProto{}
	if err := proto.Unmarshal(b, op); err != nil {
		return nil, fmt.Errorf("read %s: not an OptionalProto: %v", path, err)
	}
	t, err := optionalFromProto(op)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return t, nil
}

// SequenceProto.elem_type and OptionalProto.elem_type numbers.
const (
	seqTensor   = 1
	seqSequence = 4
	seqOptional = 6
	optTensor   = 1
	optSequence = 3
)

func sequenceFromProto(sp *onnx.SequenceProto) (*tensor.Tensor, error) {
	var elems []*tensor.Tensor
	switch sp.GetElemType() {
	case seqTensor:
		for i, tp := range sp.GetTensorValues() {
			t, err := tensor.FromProto(tp)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			elems = append(elems, t)
		}
	case seqSequence:
		for i, inner := range sp.GetSequenceValues() {
			t, err := sequenceFromProto(inner)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			elems = append(elems, t)
		}
	case seqOptional:
		for i, inner := range sp.GetOptionalValues() {
			t, err := optionalFromProto(inner)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			elems = append(elems, t)
		}
	case 0:
		// An empty sequence may leave its element type unset.
	default:
		return nil, fmt.Errorf("sequences of element kind %d (sparse tensors, maps) are not supported", sp.GetElemType())
	}
	return ops.NewSequence(elems), nil
}

func optionalFromProto(op *onnx.OptionalProto) (*tensor.Tensor, error) {
	switch {
	case op.GetTensorValue() != nil:
		return tensor.FromProto(op.GetTensorValue())
	case op.GetSequenceValue() != nil:
		return sequenceFromProto(op.GetSequenceValue())
	case op.GetElemType() == 0 || op.GetElemType() == optTensor || op.GetElemType() == optSequence:
		return ops.EmptyOptional(), nil
	}
	return nil, fmt.Errorf("optionals of element kind %d are not supported", op.GetElemType())
}

// WriteValueFile writes a value as ONNX test data stores it, atomically: a tensor as a TensorProto,
// a sequence as a SequenceProto, an optional (sequence.go's representation) as an OptionalProto
// only when it is empty (a present optional is written as its value).
func WriteValueFile(path string, t *tensor.Tensor, name string) error {
	if t == nil {
		return fmt.Errorf("write %s: no value", path)
	}
	var msg proto.Message
	switch {
	case ops.IsSequence(t):
		sp, err := sequenceToProto(t, name)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		msg = sp
	case ops.IsEmptyOptional(t):
		msg = &onnx.OptionalProto{Name: proto.String(name), ElemType: proto.Int32(0)}
	default:
		return tensor.WriteProtoFile(path, t, name)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err == nil {
		err = outfile.WriteFile(path, b)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func sequenceToProto(t *tensor.Tensor, name string) (*onnx.SequenceProto, error) {
	elems, _ := ops.AsSequence(t)
	sp := &onnx.SequenceProto{Name: proto.String(name)}
	for i, e := range elems {
		if ops.IsSequence(e) {
			p, err := sequenceToProto(e, "")
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			sp.ElemType = proto.Int32(seqSequence)
			sp.SequenceValues = append(sp.SequenceValues, p)
			continue
		}
		if ops.IsEmptyOptional(e) {
			return nil, fmt.Errorf("element %d: sequences of optionals cannot be written", i)
		}
		sp.ElemType = proto.Int32(seqTensor)
		sp.TensorValues = append(sp.TensorValues, tensor.ToProto(e, ""))
	}
	if len(sp.TensorValues) > 0 && len(sp.SequenceValues) > 0 {
		return nil, fmt.Errorf("a sequence mixes tensors and sequences")
	}
	return sp, nil
}
