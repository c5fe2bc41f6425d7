package onnx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"
)

// LoadFile reads an ONNX model from path and resolves its external data (tensors with
// data_location = EXTERNAL) from files in the model's folder, so every tensor the caller sees holds
// its bytes in raw_data. Errors are one line and name the path.
func LoadFile(path string) (*ModelProto, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, describeFSError(err))
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("load %s: is a directory, not an ONNX model file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, describeFSError(err))
	}
	m, err := LoadBytes(b)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := ResolveExternalData(m, filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return m, nil
}

// LoadBytes decodes an ONNX model from memory. Tensors stored as external data are left as
// references; call ResolveExternalData with the model's folder to read them.
func LoadBytes(b []byte) (*ModelProto, error) {
	if len(b) == 0 {
		return nil, errors.New("empty file, not an ONNX model")
	}
	m := &ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("not a valid ONNX model (truncated or not protobuf): %v", err)
	}
	if m.Graph == nil {
		return nil, errors.New("not a valid ONNX model: no graph")
	}
	// Protobuf has no end marker, so a file cut between two top-level fields still parses; the
	// fields every exporter writes after the graph (opset_import) are what reveal the cut.
	if m.GetIrVersion() <= 0 {
		return nil, errors.New("not a valid ONNX model: no ir_version")
	}
	if m.GetIrVersion() >= 3 && len(m.OpsetImport) == 0 {
		return nil, errors.New("not a valid ONNX model: no opset_import (file truncated?)")
	}
	return m, nil
}

// describeFSError drops the "op path:" prefix of a *PathError (the caller names the path) and keeps
// the cause, such as "no such file or directory".
func describeFSError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
