package onnx

import (
	"errors"
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"
)

// LoadFile reads an ONNX model from path. Errors name the path.
func LoadFile(path string) (*ModelProto, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, errors.Unwrap(err))
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("load %s: is a directory, not an ONNX model file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	m, err := LoadBytes(b)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return m, nil
}

// LoadBytes decodes an ONNX model from memory.
func LoadBytes(b []byte) (*ModelProto, error) {
	if len(b) == 0 {
		return nil, errors.New("empty file, not an ONNX model")
	}
	m := &ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("not a valid ONNX model: %w", err)
	}
	if m.Graph == nil {
		return nil, errors.New("not a valid ONNX model: no graph")
	}
	return m, nil
}
