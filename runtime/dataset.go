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

// InputFile names the file of an ONNX test data set folder that holds the value of the model's
// K-th input (input_K.pb); OutputFile the one of its K-th output (output_K.pb). The layout is
// defined here once for every reader and writer of data set folders.
func InputFile(dir string, k int) string { return filepath.Join(dir, fmt.Sprintf("input_%d.pb", k)) }

// OutputFile names the file holding the value of the model's K-th output (see InputFile).
func OutputFile(dir string, k int) string { return filepath.Join(dir, fmt.Sprintf("output_%d.pb", k)) }

// ReadDataSet reads an ONNX test data set folder (input_K.pb, output_K.pb): input K binds by
// position to the K-th of Inputs(), output K to the K-th of Outputs(). Sequence- and
// optional-typed values are read from SequenceProto and OptionalProto files as ONNX stores them.
// A missing input_K.pb is left out (an omitted optional input); a missing output_K.pb is an error.
func (s *Session) ReadDataSet(dir string) (inputs map[string]*tensor.Tensor, outputs []*tensor.Tensor, err error) {
	inputs, err = s.ReadDataSetInputs(dir)
	if err != nil {
		return nil, nil, err
	}
	outputs, err = readDataSetValues(dir, "output", OutputFile, s.outputs, false)
	if err != nil {
		return nil, nil, err
	}
	return inputs, outputs, nil
}

// ReadDataSetTensors reads a test data set folder of plain tensors for callers that hold no
// Session, only the model's input and output names (calibrate's folder reader, deploy/imagecheck):
// input_K.pb as inputs[K] and output_K.pb as outputs[K], each of which must be present. Errors
// name the value and the file; an input_K.pb beyond the named inputs is an error, not ignored.
func ReadDataSetTensors(dir string, inputs, outputs []string) (in, out []*tensor.Tensor, err error) {
	if err := checkDataSetFolder(dir); err != nil {
		return nil, nil, err
	}
	tensorsNamed := func(names []string) []valueType {
		vs := make([]valueType, len(names))
		for i, n := range names {
			vs[i] = valueType{name: n, kind: kindTensor}
		}
		return vs
	}
	if in, err = readDataSetValues(dir, "input", InputFile, tensorsNamed(inputs), false); err != nil {
		return nil, nil, err
	}
	if err := checkNoExtraInput(dir, len(inputs)); err != nil {
		return nil, nil, err
	}
	if out, err = readDataSetValues(dir, "output", OutputFile, tensorsNamed(outputs), false); err != nil {
		return nil, nil, err
	}
	return in, out, nil
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
	if err := checkDataSetFolder(dir); err != nil {
		return nil, err
	}
	values, err := readDataSetValues(dir, "input", InputFile, s.inputs, true)
	if err != nil {
		return nil, err
	}
	if err := checkNoExtraInput(dir, len(s.inputs)); err != nil {
		return nil, err
	}
	inputs := map[string]*tensor.Tensor{}
	for k, t := range values {
		if t != nil {
			inputs[s.inputs[k].name] = t
		}
	}
	return inputs, nil
}

func checkDataSetFolder(dir string) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("data set %s: not a folder", dir)
	}
	return nil
}

// readDataSetValues is the one loop over a data set folder's files: file(dir, K) holds values[K].
// A missing file is left nil when missingOK (an omitted optional input), else an error.
func readDataSetValues(dir, what string, file func(string, int) string, values []valueType, missingOK bool) ([]*tensor.Tensor, error) {
	out := make([]*tensor.Tensor, len(values))
	for k, v := range values {
		path := file(dir, k)
		if missingOK && !fileExists(path) {
			continue
		}
		t, err := readValueFile(path, v)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, v.name, err)
		}
		out[k] = t
	}
	return out, nil
}

// checkNoExtraInput refuses a data set with an input_K.pb beyond the model's n inputs, so that a
// data set made for another model is not silently half used.
func checkNoExtraInput(dir string, n int) error {
	if extra := InputFile(dir, n); fileExists(extra) {
		return fmt.Errorf("%s: the model has only %d inputs", extra, n)
	}
	return nil
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
