package tensor

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// npyBytes assembles a version 1.0 .npy file from a header dict and data, as numpy.save lays it
// out (header padded with spaces to a 64-byte boundary, ending in a newline).
func npyBytes(dict string, data []byte) []byte {
	pad := 64 - (10+len(dict)+1)%64
	if pad == 64 {
		pad = 0
	}
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

func TestNpyRoundTripEveryDType(t *testing.T) {
	t.Parallel()
	for _, want := range sampleTensors() {
		if want.DType == BFloat16 {
			continue // no NumPy type; refused below
		}
		var buf bytes.Buffer
		if err := EncodeNpy(&buf, want); err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		if (bytes.IndexByte(buf.Bytes(), '\n')+1)%64 != 0 {
			t.Errorf("%v: data does not start on a 64-byte boundary", want)
		}
		got, err := DecodeNpy(&buf)
		if err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		if !sameTensor(got, want) {
			t.Errorf("%v: round trip gave %v %v", want, got, got.Data)
		}
	}
	var buf bytes.Buffer
	if err := EncodeNpy(&buf, New([]int{1}, []BFloat16Bits{1})); err == nil || !strings.Contains(err.Error(), "bfloat16") {
		t.Errorf("bfloat16 .npy: %v, want a refusal naming bfloat16", err)
	}
}

func TestNpyHeaderMatchesNumPy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		t    *Tensor
		dict string
	}{
		{New([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
		{New([]int{3}, []int64{1, 2, 3}), "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }"},
		{Scalar(true), "{'descr': '|b1', 'fortran_order': False, 'shape': (), }"},
		{New([]int{1}, []Float16Bits{0x3c00}), "{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }"},
		{New([]int{2}, []string{"ab", "c"}), "{'descr': '<U2', 'fortran_order': False, 'shape': (2,), }"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		if err := EncodeNpy(&buf, c.t); err != nil {
			t.Fatal(err)
		}
		want := npyBytes(c.dict, nil)
		if !bytes.HasPrefix(buf.Bytes(), want) {
			t.Errorf("%v: header\n%q\nwant\n%q", c.t, buf.Bytes()[:len(want)], want)
		}
	}
}

func TestNpyBigEndianAndFortranOrder(t *testing.T) {
	t.Parallel()
	be := func(vals ...int32) []byte {
		out, _ := binary.Append(nil, binary.BigEndian, vals)
		return out
	}
	// [[1 2 3] [4 5 6]] stored column-major: 1 4 2 5 3 6.
	fortran := npyBytes("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
		[]byte{1, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 6, 0, 0, 0})
	cases := []struct {
		name string
		file []byte
		want *Tensor
	}{
		{"big-endian int32", npyBytes("{'descr': '>i4', 'fortran_order': False, 'shape': (3,), }", be(1, -2, 70000)),
			New([]int{3}, []int32{1, -2, 70000})},
		{"big-endian float64", npyBytes("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", []byte{0x3f, 0xf8, 0, 0, 0, 0, 0, 0}),
			New([]int{1}, []float64{1.5})},
		{"big-endian unicode", npyBytes("{'descr': '>U2', 'fortran_order': False, 'shape': (1,), }", []byte{0, 0, 0, 'h', 0, 0, 0, 'i'}),
			New([]int{1}, []string{"hi"})},
		{"fortran 2x3", fortran, New([]int{2, 3}, []int32{1, 2, 3, 4, 5, 6})},
		{"fortran 2x2x2 uint8", npyBytes("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2, 2), }",
			// element (i,j,k) holds 100i+10j+k, stored with i varying fastest
			[]byte{0, 100, 10, 110, 1, 101, 11, 111}),
			New([]int{2, 2, 2}, []uint8{0, 1, 10, 11, 100, 101, 110, 111})},
		{"python 2 long dims, double quotes", npyBytes(`{"descr": "<u2", "fortran_order": False, "shape": (2L,)}`, []byte{1, 0, 2, 0}),
			New([]int{2}, []uint16{1, 2})},
	}
	for _, c := range cases {
		got, err := DecodeNpy(bytes.NewReader(c.file))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !sameTensor(got, c.want) {
			t.Errorf("%s: got %v %v, want %v", c.name, got, got.Data, c.want.Data)
		}
	}
}

func TestNpyRejectsBadFiles(t *testing.T) {
	t.Parallel()
	f4 := func(shape string) string { return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }" }
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"short", []byte("\x93NUM"), "too short"},
		{"bad magic", []byte("PK\x03\x04 not an npy file"), "bad magic"},
		{"version", []byte("\x93NUMPY\x09\x00\x00\x00"), "unsupported format version 9.0"},
		{"truncated header", []byte("\x93NUMPY\x01\x00\x40\x00{'descr'"), "truncated header"},
		{"truncated data", npyBytes(f4("(4,)"), make([]byte, 12)), "data has 12 bytes"},
		{"hostile shape", npyBytes(f4("(100000, 100000, 100000)"), nil), "too many elements"},
		{"zero-width strings", npyBytes("{'descr': '<U0', 'fortran_order': False, 'shape': (17179869184,), }", nil), "unsupported dtype"},
		{"object", npyBytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", nil), "pickled object"},
		{"complex", npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", nil), "unsupported dtype"},
		{"structured", npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", nil), "header"},
		{"no shape", npyBytes("{'descr': '<f4', 'fortran_order': False, }", nil), "no 'shape'"},
		{"bad dict", npyBytes("{'descr' '<f4'}", nil), "expected ':'"},
	}
	for _, c := range cases {
		_, err := DecodeNpy(bytes.NewReader(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	dir := t.TempDir()
	for _, p := range []struct{ path, want string }{{dir, "is a directory"}, {filepath.Join(dir, "x.npy"), "no such file"}} {
		if _, err := ReadNpy(p.path); err == nil || !strings.Contains(err.Error(), p.want) || !strings.Contains(err.Error(), p.path) {
			t.Errorf("ReadNpy(%s): %v", p.path, err)
		}
	}
}

// The digits data written by numpy.save (bundled in models/) must read with the documented
// shapes, and writing what was read must give numpy's bytes back.
func TestNpyDigitsData(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testutil.RepoRoot(t), "models", "digits_data")
	cases := []struct {
		file  string
		dtype DType
		shape []int
	}{
		{"calib_x.npy", Float32, []int{256, 1, 8, 8}},
		{"test_x.npy", Float32, []int{360, 1, 8, 8}},
		{"test_y.npy", Int64, []int{360}},
	}
	out := t.TempDir()
	for _, c := range cases {
		path := filepath.Join(dir, c.file)
		got, err := ReadNpy(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType != c.dtype || !SameShape(got.Shape, c.shape) {
			t.Errorf("%s: %v, want %v%v", c.file, got, c.dtype, ShapeString(c.shape))
		}
		switch d := got.Data.(type) {
		case []float32:
			for i, v := range d {
				if v < 0 || v > 1 {
					t.Fatalf("%s[%d] = %g, outside [0, 1]", c.file, i, v)
				}
			}
		case []int64:
			for i, v := range d {
				if v < 0 || v > 9 {
					t.Fatalf("%s[%d] = %d, not a digit", c.file, i, v)
				}
			}
		}
		copyPath := filepath.Join(out, c.file)
		if err := WriteNpy(copyPath, got); err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(path)
		written, _ := os.ReadFile(copyPath)
		if !bytes.Equal(want, written) {
			t.Errorf("%s: re-written file differs from numpy's", c.file)
		}
	}
}

func TestNpzRoundTripKeepsOrder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.npz")
	m := map[string]*Tensor{}
	var names []string
	for i, s := range sampleTensors() {
		if s.DType == BFloat16 {
			continue
		}
		name := string(rune('z'-i)) + "_arr"
		names = append(names, name)
		m[name] = s
	}
	if err := WriteNpz(path, names, m); err != nil {
		t.Fatal(err)
	}
	gotNames, got, err := ReadNpz(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gotNames, ",") != strings.Join(names, ",") {
		t.Errorf("names %v, want %v", gotNames, names)
	}
	for _, n := range names {
		if !sameTensor(got[n], m[n]) {
			t.Errorf("%s: got %v, want %v", n, got[n], m[n])
		}
	}
	if err := WriteNpz(path, []string{"missing"}, m); err == nil {
		t.Error("WriteNpz with a name not in the map should fail")
	}
	if err := WriteNpz(path, names[:1], m); err == nil {
		t.Error("WriteNpz leaving tensors out should fail")
	}
}

// numpy.savez_compressed deflates its members; those must read as well.
func TestNpzReadsCompressedMembers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.npz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	want := New([]int{2, 2}, []float64{1, 2, 3, 4})
	for _, name := range []string{"x.npy", "y.npy"} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err := EncodeNpy(w, want); err != nil {
			t.Fatal(err)
		}
	}
	zw.Close()
	f.Close()
	names, got, err := ReadNpz(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names[0] != "x" || names[1] != "y" || !sameTensor(got["y"], want) {
		t.Errorf("got %v %v", names, got)
	}
	os.WriteFile(path, []byte("not a zip"), 0o644)
	if _, _, err := ReadNpz(path); err == nil || !strings.Contains(err.Error(), "not a .npz archive") {
		t.Errorf("garbage .npz: %v", err)
	}
}
