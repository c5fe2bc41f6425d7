package calibrate

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/tensor"
)

// npyBytes encodes a little-endian .npy (version 1) by hand, independently of the reader.
func npyBytes(descr string, shape []int, data any) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	binary.Write(&buf, binary.LittleEndian, data)
	return buf.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readAll(t *testing.T, r Reader) []map[string]*tensor.Tensor {
	t.Helper()
	var out []map[string]*tensor.Tensor
	for {
		b, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

func TestNpyReaderBatches(t *testing.T) {
	dir := t.TempDir()
	vals := make([]float32, 10*4)
	for i := range vals {
		vals[i] = float32(i) / 4
	}
	path := writeFile(t, filepath.Join(dir, "x.npy"), npyBytes("<f4", []int{10, 1, 2, 2}, vals))
	spec := InputSpec{Name: "x", DType: tensor.Float32, Shape: []int{-1, 1, 2, 2}}
	r, err := OpenData(path, []InputSpec{spec}, ReaderOptions{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for pass := range 2 {
		batches := readAll(t, r)
		if len(batches) != 3 {
			t.Fatalf("pass %d: %d batches, want 3", pass, len(batches))
		}
		var got []float32
		for i, b := range batches {
			x := b["x"]
			if want := []int{[]int{4, 4, 2}[i], 1, 2, 2}; !tensor.SameShape(x.Shape, want) {
				t.Fatalf("batch %d shape %v, want %v", i, x.Shape, want)
			}
			got = append(got, x.F32()...)
		}
		for i := range vals {
			if got[i] != vals[i] {
				t.Fatalf("element %d = %v, want %v", i, got[i], vals[i])
			}
		}
		if err := r.Reset(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNpyReaderConvertsAndReshapes(t *testing.T) {
	dir := t.TempDir()
	ints := []int64{1, -2, 3, 4, 5, 6, 7, 8}
	path := writeFile(t, filepath.Join(dir, "x.npy"), npyBytes("<i8", []int{2, 1, 2, 2}, ints))
	// An MLP input [batch, 4] takes the 1×2×2 rows flattened.
	r, err := OpenData(path, []InputSpec{{Name: "in", DType: tensor.Float64, Shape: []int{-1, 4}}}, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := readAll(t, r)
	x := b[0]["in"]
	if !tensor.SameShape(x.Shape, []int{2, 4}) || tensor.Data[float64](x)[1] != -2 {
		t.Fatalf("got %v %v", x.Shape, x.Data)
	}
	// A fixed batch dimension in the model sets the batch size.
	r, err = OpenData(path, []InputSpec{{Name: "in", DType: tensor.Int64, Shape: []int{1, 1, 2, 2}}}, ReaderOptions{Batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, r)); n != 2 {
		t.Errorf("fixed batch 1: %d batches, want 2", n)
	}
}

func TestReaderErrorsNameFileAndInput(t *testing.T) {
	dir := t.TempDir()
	good := npyBytes("<f4", []int{3, 5}, make([]float32, 15))
	cases := []struct {
		name  string
		file  []byte
		spec  InputSpec
		wants []string
	}{
		{"bad magic", []byte("not numpy at all"), InputSpec{Name: "x", DType: tensor.Float32}, []string{"bad.npy", "not a .npy", `"x"`}},
		{"truncated data", good[:len(good)-8], InputSpec{Name: "x", DType: tensor.Float32}, []string{"bad.npy", "row", `"x"`}},
		{"shape", good, InputSpec{Name: "pixels", DType: tensor.Float32, Shape: []int{-1, 4}}, []string{"bad.npy", `"pixels"`, "[5]"}},
		{"dtype", good, InputSpec{Name: "ids", DType: tensor.Int64, Shape: []int{-1, 5}}, []string{"bad.npy", "int64", `"ids"`}},
		{"unsupported descr", npyBytes("<c8", []int{1}, []float32{0, 0}), InputSpec{Name: "x", DType: tensor.Float32}, []string{"bad.npy", "<c8", `"x"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(dir, "bad.npy"), c.file)
			var err error
			r, err := OpenData(path, []InputSpec{c.spec}, ReaderOptions{})
			if err == nil {
				_, err = r.Next()
			}
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := OpenData(t.TempDir(), []InputSpec{{Name: "x", DType: tensor.Float32}}, ReaderOptions{}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := OpenData(filepath.Join(dir, "missing.npy"), []InputSpec{{Name: "x"}}, ReaderOptions{}); err == nil {
		t.Error("missing file: no error")
	}
}

func TestNpzReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.npz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	for _, m := range []struct {
		name string
		b    []byte
	}{
		{"a.npy", npyBytes("<f4", []int{3, 2}, []float32{1, 2, 3, 4, 5, 6})},
		{"b.npy", npyBytes("<i8", []int{3}, []int64{7, 8, 9})},
	} {
		w, _ := z.CreateHeader(&zip.FileHeader{Name: m.name, Method: zip.Deflate})
		w.Write(m.b)
	}
	z.Close()
	f.Close()
	specs := []InputSpec{{Name: "a", DType: tensor.Float32, Shape: []int{-1, 2}}, {Name: "b", DType: tensor.Int64, Shape: []int{-1}}}
	r, err := OpenData(path, specs, ReaderOptions{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	batches := readAll(t, r)
	if len(batches) != 2 || batches[1]["a"].F32()[1] != 6 || batches[1]["b"].I64()[0] != 9 {
		t.Fatalf("got %d batches: %v", len(batches), batches)
	}
	if _, err := OpenData(path, []InputSpec{{Name: "c", DType: tensor.Float32}}, ReaderOptions{}); err == nil || !strings.Contains(err.Error(), `"c.npy"`) {
		t.Errorf("missing member: %v", err)
	}
}

func TestProtoSetReader(t *testing.T) {
	dir := t.TempDir()
	for k := range 2 {
		set := filepath.Join(dir, fmt.Sprintf("test_data_set_%d", k))
		os.Mkdir(set, 0o755)
		b, _ := proto.Marshal(tensor.ToProto(tensor.New([]int{1, 2}, []float32{float32(k), 1}), "x"))
		writeFile(t, filepath.Join(set, "input_0.pb"), b)
	}
	spec := InputSpec{Name: "x", DType: tensor.Float32, Shape: []int{-1, 2}}
	r, err := OpenData(dir, []InputSpec{spec}, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	batches := readAll(t, r)
	if len(batches) != 2 || batches[1]["x"].F32()[0] != 1 {
		t.Fatalf("got %v", batches)
	}
	r, _ = OpenData(dir, []InputSpec{{Name: "x", DType: tensor.Float32, Shape: []int{-1, 3}}}, ReaderOptions{})
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "input_0.pb") {
		t.Errorf("shape mismatch: %v", err)
	}
	// A set made for a model with more inputs is refused by the runtime's data set reader rather
	// than half used.
	b, _ := proto.Marshal(tensor.ToProto(tensor.New([]int{1, 2}, []float32{0, 0}), "y"))
	writeFile(t, filepath.Join(dir, "test_data_set_0", "input_1.pb"), b)
	r, _ = OpenData(dir, []InputSpec{spec}, ReaderOptions{})
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "input_1.pb: the model has only 1 inputs") {
		t.Errorf("surplus input: %v", err)
	}
}

func TestImageReader(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []color.RGBA{{255, 0, 0, 255}, {0, 0, 255, 255}, {51, 51, 51, 255}} {
		img := image.NewRGBA(image.Rect(0, 0, 6, 6))
		for p := 0; p < len(img.Pix); p += 4 {
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = c.R, c.G, c.B, c.A
		}
		var buf bytes.Buffer
		png.Encode(&buf, img)
		writeFile(t, filepath.Join(dir, fmt.Sprintf("img%d.png", i)), buf.Bytes())
	}
	spec := InputSpec{Name: "img", DType: tensor.Float32, Shape: []int{-1, 3, 4, 4}}
	r, err := OpenData(dir, []InputSpec{spec}, ReaderOptions{Batch: 2, Mean: []float64{0.5}, Std: []float64{0.5}})
	if err != nil {
		t.Fatal(err)
	}
	batches := readAll(t, r)
	if len(batches) != 2 {
		t.Fatalf("%d batches", len(batches))
	}
	x := batches[0]["img"]
	if !tensor.SameShape(x.Shape, []int{2, 3, 4, 4}) {
		t.Fatalf("shape %v", x.Shape)
	}
	// Image 0 is pure red: R plane (1−0.5)/0.5 = 1, G and B planes −1.
	d := x.F32()
	if d[0] != 1 || d[16] != -1 || d[32] != -1 {
		t.Errorf("red pixel as %v %v %v", d[0], d[16], d[32])
	}
	// Grey input to a one-channel model: luma 0.2.
	r, err = OpenData(dir, []InputSpec{{Name: "g", DType: tensor.Float32, Shape: []int{-1, 1, 2, 2}}}, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := readAll(t, r)[0]["g"]
	if got := b.F32()[2*4]; math.Abs(float64(got)-0.2) > 1e-6 {
		t.Errorf("grey luma %v, want 0.2", got)
	}
	if _, err := OpenData(dir, []InputSpec{{Name: "g", DType: tensor.Float32, Shape: []int{-1, 1, -1, -1}}}, ReaderOptions{}); err == nil || !strings.Contains(err.Error(), "ReaderOptions.Size") {
		t.Errorf("no size: %v, want an error asking for ReaderOptions.Size", err)
	}
}
