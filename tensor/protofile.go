package tensor

import (
	"errors"
	"fmt"
	"os"

	"github.com/actswap/actswap/internal/outfile"
	"github.com/actswap/actswap/onnx"
	"google.golang.org/protobuf/proto"
)

// ReadProtoFile reads a serialized TensorProto (the input_K.pb / output_K.pb files of ONNX test
// data sets) and returns the tensor and its stored name (empty in some suites).
func ReadProtoFile(path string) (*Tensor, string, error) {
	tp, err := ReadTensorProtoFile(path)
	if err != nil {
		return nil, "", err
	}
	t, err := FromProto(tp)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	return t, tp.GetName(), nil
}

// ReadTensorProtoFile reads a serialized TensorProto without decoding its data, for callers that
// need the message itself (its typed-vs-raw layout, or an unsupported dtype).
func ReadTensorProtoFile(path string) (*onnx.TensorProto, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, pathErrCause(err))
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("read %s: is a directory, not a tensor file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, pathErrCause(err))
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("read %s: %w", path, errors.New("empty file, not a TensorProto"))
	}
	tp := &onnx.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, fmt.Errorf("read %s: not a TensorProto: %v", path, err)
	}
	return tp, nil
}

// WriteProtoFile writes t as a serialized TensorProto named name (raw_data layout), atomically.
func WriteProtoFile(path string, t *Tensor, name string) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(ToProto(t, name))
	if err == nil {
		err = outfile.WriteFile(path, b)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
