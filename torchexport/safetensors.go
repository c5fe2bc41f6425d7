package torchexport

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
)

// namedTensor is one float32 tensor of a safetensors file.
type namedTensor struct {
	Key   string
	Shape []int
	Data  []float32
}

// safetensorsEntry is a tensor's record in the JSON header.
type safetensorsEntry struct {
	DType       string `json:"dtype"`
	Shape       []int  `json:"shape"`
	DataOffsets [2]int `json:"data_offsets"`
}

// safetensorsAlign pads the header so the data that follows starts 8-byte aligned, as the
// reference writer does; readers that map the file then see aligned float32s.
const safetensorsAlign = 8

// writeSafetensors writes tensors in the safetensors format: an 8-byte little-endian header
// length, a JSON header (per key: dtype, shape, [begin, end) offsets into the data; plus
// "__metadata__", a string map), then the raw little-endian data in key order. Keys are sorted so
// the same tensors always give the same bytes.
func writeSafetensors(w io.Writer, tensors []namedTensor, metadata map[string]string) error {
	sorted := append([]namedTensor(nil), tensors...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a].Key < sorted[b].Key })
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	offset := 0
	for i, t := range sorted {
		if i > 0 && sorted[i-1].Key == t.Key {
			return fmt.Errorf("safetensors: key %q appears twice", t.Key)
		}
		if t.Key == "" || t.Key == "__metadata__" {
			return fmt.Errorf("safetensors: invalid key %q", t.Key)
		}
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q has shape %v but %d values", t.Key, t.Shape, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{} // a scalar is "shape": [], never null
		}
		header[t.Key] = safetensorsEntry{DType: "F32", Shape: shape, DataOffsets: [2]int{offset, offset + 4*n}}
		offset += 4 * n
	}
	js, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors header: %w", err)
	}
	if pad := (safetensorsAlign - len(js)%safetensorsAlign) % safetensorsAlign; pad > 0 {
		js = append(js, bytes.Repeat([]byte{' '}, pad)...)
	}
	buf := make([]byte, 8, 8+len(js)+offset)
	binary.LittleEndian.PutUint64(buf, uint64(len(js)))
	buf = append(buf, js...)
	for _, t := range sorted {
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	_, err = w.Write(buf)
	return err
}
