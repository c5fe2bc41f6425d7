package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/internal/outfile"
)

// Marshal encodes m deterministically: the same model always gives the same bytes, fields in
// field-number order as the ONNX tooling writes them, so a model loaded and re-marshalled without
// changes is byte-identical to its file.
func Marshal(m *ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	return b, nil
}

// SaveOption changes how SaveFile writes a model.
type SaveOption func(*saveConfig)

type saveConfig struct {
	externalThreshold int64
	externalName      string
	refuseSameAs      []string
}

// WithExternalData stores every graph initializer whose raw_data is larger than threshold bytes
// in one file named fileName beside the model (offsets and lengths recorded in the model), the
// layout large models use to stay under protobuf's 2 GiB limit. fileName must be a plain relative
// name inside the model's folder.
func WithExternalData(threshold int64, fileName string) SaveOption {
	return func(c *saveConfig) {
		c.externalThreshold = threshold
		c.externalName = fileName
	}
}

// RefuseOverwrite makes SaveFile fail, writing nothing, when the destination (or its external
// data file) is the same file as one of inputs — typically the model being rewritten, so that a
// mistyped command cannot replace its own source.
func RefuseOverwrite(inputs ...string) SaveOption {
	return func(c *saveConfig) { c.refuseSameAs = append(c.refuseSameAs, inputs...) }
}

// SaveFile writes m to path atomically: the bytes go to a temporary file in the same folder,
// which is synced and then renamed over path, so readers see the old file or the new one, never
// a half-written one. m itself is not modified.
func SaveFile(m *ModelProto, path string, opts ...SaveOption) error {
	var cfg saveConfig
	for _, o := range opts {
		o(&cfg)
	}
	for _, in := range cfg.refuseSameAs {
		if outfile.Same(path, in) {
			return fmt.Errorf("save %s: refusing to overwrite input %s; choose another output path", path, in)
		}
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("save %s: is a directory", path)
	}
	if cfg.externalName != "" {
		if err := checkLocalName(cfg.externalName); err != nil {
			return fmt.Errorf("save %s: external data: %w", path, err)
		}
		dataPath := filepath.Join(filepath.Dir(path), filepath.FromSlash(cfg.externalName))
		if outfile.Same(dataPath, path) {
			return fmt.Errorf("save %s: external data file %q is the model file itself", path, cfg.externalName)
		}
		for _, in := range cfg.refuseSameAs {
			if outfile.Same(dataPath, in) {
				return fmt.Errorf("save %s: refusing to overwrite input %s with external data", path, in)
			}
		}
		split, data, moved := splitExternal(m, cfg.externalThreshold, filepath.ToSlash(cfg.externalName))
		if moved > 0 {
			if err := outfile.WriteFile(dataPath, data); err != nil {
				return fmt.Errorf("save %s: external data: %w", path, err)
			}
			m = split
		}
	}
	b, err := Marshal(m)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if len(b) >= maxProtoBytes {
		return fmt.Errorf("save %s: model is %d bytes, over protobuf's 2 GiB limit that other ONNX tools enforce; save with external data", path, len(b))
	}
	if err := outfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// maxProtoBytes is the largest message protobuf's C++ and Python readers accept (2 GiB - 1).
const maxProtoBytes = 1<<31 - 1

// externalAlign is the alignment of each tensor in an external data file, so a reader that maps
// the file can view float64 and SIMD-width data in place.
const externalAlign = 64

// splitExternal returns a copy of m whose large main-graph initializers reference the returned
// data blob instead of holding their bytes, and how many initializers it moved.
func splitExternal(m *ModelProto, threshold int64, location string) (*ModelProto, []byte, int) {
	out := proto.Clone(m).(*ModelProto)
	var data []byte
	moved := 0
	for _, t := range out.GetGraph().GetInitializer() {
		if t.RawData == nil || int64(len(t.RawData)) <= threshold || t.GetDataLocation() == TensorProto_EXTERNAL {
			continue
		}
		for len(data)%externalAlign != 0 {
			data = append(data, 0)
		}
		offset := len(data)
		data = append(data, t.RawData...)
		t.ExternalData = []*StringStringEntryProto{
			{Key: proto.String(externalLocation), Value: proto.String(location)},
			{Key: proto.String(externalOffset), Value: proto.String(strconv.Itoa(offset))},
			{Key: proto.String(externalLength), Value: proto.String(strconv.Itoa(len(t.RawData)))},
		}
		t.DataLocation = TensorProto_EXTERNAL.Enum()
		t.RawData = nil
		moved++
	}
	return out, data, moved
}
