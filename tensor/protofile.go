package tensor

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/actswap/actswap/internal/outfile"
	"github.com/actswap/actswap/onnx"
	"google.golang.org/protobuf/encoding/protowire"
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

// WriteProtoFileFrom writes a TensorProto file of type dt, shape and name whose raw_data (the
// little-endian elements, exactly NumElements(shape)·size bytes) come from raw, atomically and
// without holding the data in memory: the form a result written batch by batch takes.
func WriteProtoFileFrom(path string, dt DType, shape []int, name string, raw io.Reader) error {
	size := dt.Size()
	if size <= 0 || dt == String {
		return fmt.Errorf("write %s: %v elements cannot be streamed as raw data", path, dt)
	}
	tp := &onnx.TensorProto{DataType: proto.Int32(int32(dt)), Dims: make([]int64, len(shape))}
	if name != "" {
		tp.Name = proto.String(name)
	}
	for i, d := range shape {
		tp.Dims[i] = int64(d)
	}
	header, err := proto.MarshalOptions{Deterministic: true}.Marshal(tp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	n := int64(NumElements(shape)) * int64(size)
	// raw_data (field 9) follows the lower-numbered fields, as a deterministic encoder orders them.
	header = protowire.AppendTag(header, 9, protowire.BytesType)
	header = protowire.AppendVarint(header, uint64(n))
	err = outfile.Write(path, func(w io.Writer) error {
		if _, err := w.Write(header); err != nil {
			return err
		}
		copied, err := io.CopyN(w, raw, n)
		if err == io.EOF {
			return fmt.Errorf("raw data ends after %d of %d bytes", copied, n)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
