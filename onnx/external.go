package onnx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// External-data keys of TensorProto.external_data, as the ONNX IR specification names them.
const (
	externalLocation = "location"
	externalOffset   = "offset"
	externalLength   = "length"
)

// ResolveExternalData reads the bytes of every tensor stored with data_location = EXTERNAL from
// the file its "location" names, relative to dir, into raw_data, and clears the external fields:
// afterwards the model holds only ordinary in-memory tensors. Locations must stay inside dir:
// absolute paths, "..", and symlinks leading out are refused.
func ResolveExternalData(m *ModelProto, dir string) error {
	var root *os.Root
	defer func() {
		if root != nil {
			root.Close()
		}
	}()
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	return forEachTensor(m, func(t *TensorProto) error {
		if t.GetDataLocation() != TensorProto_EXTERNAL {
			return nil
		}
		ref, err := parseExternalRef(t)
		if err != nil {
			return fmt.Errorf("tensor %q: external data: %w", t.GetName(), err)
		}
		f := files[ref.location]
		if f == nil {
			if root == nil {
				if root, err = os.OpenRoot(dir); err != nil {
					return fmt.Errorf("tensor %q: external data folder: %w", t.GetName(), err)
				}
			}
			if f, err = root.Open(filepath.FromSlash(ref.location)); err != nil {
				return fmt.Errorf("tensor %q: external data %q: %w", t.GetName(), ref.location, describeFSError(err))
			}
			files[ref.location] = f
		}
		raw, err := readExternal(f, ref)
		if err != nil {
			return fmt.Errorf("tensor %q: external data %q: %w", t.GetName(), ref.location, err)
		}
		t.RawData = raw
		t.ExternalData = nil
		t.DataLocation = nil
		return nil
	})
}

type externalRef struct {
	location       string
	offset, length int64 // length < 0: to the end of the file
}

func parseExternalRef(t *TensorProto) (externalRef, error) {
	ref := externalRef{length: -1}
	for _, kv := range t.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case externalLocation:
			ref.location = kv.GetValue()
		case externalOffset:
			ref.offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case externalLength:
			ref.length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil {
			return ref, fmt.Errorf("bad %s %q", kv.GetKey(), kv.GetValue())
		}
	}
	if ref.location == "" {
		return ref, errors.New("no location")
	}
	if err := checkLocalName(ref.location); err != nil {
		return ref, err
	}
	if ref.offset < 0 || (ref.length < 0 && ref.length != -1) {
		return ref, fmt.Errorf("negative offset or length (%d, %d)", ref.offset, ref.length)
	}
	return ref, nil
}

// checkLocalName refuses an external-data location that is not a plain relative path inside the
// model's folder: a model file must not be able to make us read (or write) anything else.
func checkLocalName(location string) error {
	if filepath.IsAbs(location) || filepath.VolumeName(location) != "" || (len(location) > 0 && (location[0] == '/' || location[0] == '\\')) {
		return fmt.Errorf("location %q is an absolute path; only paths inside the model's folder are allowed", location)
	}
	if !filepath.IsLocal(filepath.FromSlash(location)) {
		return fmt.Errorf("location %q leaves the model's folder; only paths inside it are allowed", location)
	}
	return nil
}

func readExternal(f *os.File, ref externalRef) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	length := ref.length
	if length < 0 {
		length = size - ref.offset
	}
	if ref.offset > size || length < 0 || length > size-ref.offset {
		return nil, fmt.Errorf("offset %d + length %d is past the end of the file (%d bytes)", ref.offset, length, size)
	}
	raw := make([]byte, length)
	if _, err := f.ReadAt(raw, ref.offset); err != nil && !(err == io.EOF && length == 0) {
		return nil, err
	}
	return raw, nil
}
