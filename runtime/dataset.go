package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"

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

// ReadOutputFile reads a file holding a value for output k (output_K.pb of a data set): a
// TensorProto, or the SequenceProto, MapProto or OptionalProto the output's declared type calls for.
func (s *Session) ReadOutputFile(k int, path string) (*tensor.Tensor, error) {
	if k < 0 || k >= len(s.outputs) {
		return nil, fmt.Errorf("read %s: the model has %d outputs, not %d", path, len(s.outputs), k+1)
	}
	return readValueFile(path, s.outputs[k])
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

func isMap(t *tensor.Tensor) bool { _, ok := ops.AsMap(t); return ok }

// readValueFile decodes a .pb file holding a value of the declared type.
func readValueFile(path string, v valueType) (*tensor.Tensor, error) {
	if v.kind != kindSequence && v.kind != kindOptional && v.kind != kindMap {
		t, _, err := tensor.ReadProtoFile(path)
		return t, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if v.kind == kindMap {
		mp := &onnx.MapProto{}
		if err := proto.Unmarshal(b, mp); err != nil {
			return nil, fmt.Errorf("read %s: not a MapProto: %v", path, err)
		}
		t, err := mapFromProto(mp)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		return t, nil
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

// SequenceProto.elem_type and OptionalProto.elem_type numbers, as onnx.proto numbers them.
const (
	seqTensor   = int32(onnx.SequenceProto_TENSOR)
	seqSequence = int32(onnx.SequenceProto_SEQUENCE)
	seqMap      = int32(onnx.SequenceProto_MAP)
	seqOptional = int32(onnx.SequenceProto_OPTIONAL)
	optTensor   = int32(onnx.OptionalProto_TENSOR)
	optSequence = int32(onnx.OptionalProto_SEQUENCE)
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
	case seqMap:
		for i, inner := range sp.GetMapValues() {
			t, err := mapFromProto(inner)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			elems = append(elems, t)
		}
	case 0:
		// An empty sequence may leave its element type unset.
	default:
		return nil, fmt.Errorf("sequences of element kind %d (sparse tensors) are not supported", sp.GetElemType())
	}
	return ops.NewSequence(elems), nil
}

// mapFromProto reads a MapProto: int64 keys (any integer key_type is kept as int64) or string
// keys, and values stored as ONNX's numpy_helper.from_dict writes them, a SequenceProto of one
// 0-d tensor per key, gathered into one 1-D tensor.
func mapFromProto(mp *onnx.MapProto) (*tensor.Tensor, error) {
	var keys *tensor.Tensor
	switch tensor.DType(mp.GetKeyType()) {
	case tensor.String:
		ks := make([]string, len(mp.GetStringKeys()))
		for i, k := range mp.GetStringKeys() {
			ks[i] = string(k)
		}
		keys = tensor.New([]int{len(ks)}, ks)
	case tensor.Int64, tensor.Int32, tensor.Int16, tensor.Int8, tensor.Uint64, tensor.Uint32, tensor.Uint16, tensor.Uint8:
		keys = tensor.New([]int{len(mp.GetKeys())}, append([]int64{}, mp.GetKeys()...))
	default:
		return nil, fmt.Errorf("map key type %d is not an integer or string type", mp.GetKeyType())
	}
	vs := mp.GetValues()
	if vs.GetElemType() != seqTensor && len(vs.GetTensorValues()) == 0 && vs.GetElemType() != 0 {
		return nil, fmt.Errorf("map values of element kind %d are not supported (only tensors)", vs.GetElemType())
	}
	if len(vs.GetTensorValues()) != keys.Len() {
		return nil, fmt.Errorf("map has %d keys but %d values", keys.Len(), len(vs.GetTensorValues()))
	}
	if keys.Len() == 0 {
		return ops.NewMap(keys, tensor.New([]int{0}, []float32{})), nil
	}
	var values *tensor.Tensor
	for i, tp := range vs.GetTensorValues() {
		v, err := tensor.FromProto(tp)
		if err != nil {
			return nil, fmt.Errorf("map value %d: %w", i, err)
		}
		if v.Len() != 1 {
			return nil, fmt.Errorf("map value %d has %d elements; only one per key is supported", i, v.Len())
		}
		if values == nil {
			values = tensor.Zeros(v.DType, []int{keys.Len()})
		} else if v.DType != values.DType {
			return nil, fmt.Errorf("map value %d is %v, value 0 %v", i, v.DType, values.DType)
		}
		reflect.ValueOf(values.Data).Index(i).Set(reflect.ValueOf(v.Data).Index(0))
	}
	return ops.NewMap(keys, values), nil
}

// mapToProto writes a map value as numpy_helper.from_dict does: keys in key order, values as a
// SequenceProto of 0-d tensors.
func mapToProto(m *ops.Map, name string) (*onnx.MapProto, error) {
	mp := &onnx.MapProto{Values: &onnx.SequenceProto{ElemType: proto.Int32(seqTensor)}}
	if name != "" {
		mp.Name = proto.String(name)
	}
	switch m.Keys.DType {
	case tensor.String:
		mp.KeyType = proto.Int32(int32(tensor.String))
		for _, k := range m.Keys.Data.([]string) {
			mp.StringKeys = append(mp.StringKeys, []byte(k))
		}
	case tensor.Int64:
		mp.KeyType = proto.Int32(int32(tensor.Int64))
		mp.Keys = append(mp.Keys, m.Keys.Data.([]int64)...)
	default:
		return nil, fmt.Errorf("map keys of type %v cannot be written", m.Keys.DType)
	}
	if m.Values.Len() != m.Keys.Len() {
		return nil, fmt.Errorf("map has %d keys but %d values", m.Keys.Len(), m.Values.Len())
	}
	for i := range m.Keys.Len() {
		v := tensor.Zeros(m.Values.DType, []int{})
		reflect.ValueOf(v.Data).Index(0).Set(reflect.ValueOf(m.Values.Data).Index(i))
		mp.Values.TensorValues = append(mp.Values.TensorValues, tensor.ToProto(v, ""))
	}
	return mp, nil
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

// WriteOutputFile writes t, a value of output k, as ONNX test data stores that output: like
// WriteValueFile, except that a present value of an optional-typed output is wrapped in an
// OptionalProto, as the suite stores them (optional(sequence) outputs hold a SequenceProto inside
// an OptionalProto).
func (s *Session) WriteOutputFile(k int, path string, t *tensor.Tensor) error {
	if k < 0 || k >= len(s.outputs) {
		return fmt.Errorf("write %s: the model has %d outputs, not %d", path, len(s.outputs), k+1)
	}
	v := s.outputs[k]
	if v.kind != kindOptional || t == nil || ops.IsEmptyOptional(t) {
		return WriteValueFile(path, t, v.name)
	}
	op := &onnx.OptionalProto{Name: proto.String(v.name)}
	if ops.IsSequence(t) {
		sp, err := sequenceToProto(t, "")
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		sp.Name = nil
		op.ElemType, op.SequenceValue = proto.Int32(optSequence), sp
	} else {
		op.ElemType, op.TensorValue = proto.Int32(optTensor), tensor.ToProto(t, "")
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(op)
	if err == nil {
		err = outfile.WriteFile(path, b)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteValueFile writes a value as ONNX test data stores it, atomically: a tensor as a TensorProto,
// a sequence as a SequenceProto, a map as a MapProto (ZipMap's sequence of maps as a SequenceProto
// of MapProtos), an optional (sequence.go's representation) as an OptionalProto
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
	case isMap(t):
		m, _ := ops.AsMap(t)
		mp, err := mapToProto(m, name)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		msg = mp
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
		if m, ok := ops.AsMap(e); ok {
			p, err := mapToProto(m, "")
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			sp.ElemType = proto.Int32(seqMap)
			sp.MapValues = append(sp.MapValues, p)
			continue
		}
		if ops.IsEmptyOptional(e) {
			return nil, fmt.Errorf("element %d: sequences of optionals cannot be written", i)
		}
		sp.ElemType = proto.Int32(seqTensor)
		sp.TensorValues = append(sp.TensorValues, tensor.ToProto(e, ""))
	}
	if kinds := min(len(sp.TensorValues), 1) + min(len(sp.SequenceValues), 1) + min(len(sp.MapValues), 1); kinds > 1 {
		return nil, fmt.Errorf("a sequence mixes tensors, sequences and maps")
	}
	return sp, nil
}
