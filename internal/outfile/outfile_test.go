package outfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFailureKeepsOldFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.onnx")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("half"))
		return errors.New("disk full")
	})
	if err == nil {
		t.Fatal("expected the writer's error")
	}
	b, _ := os.ReadFile(path)
	if string(b) != "old contents" {
		t.Errorf("old file changed to %q after a failed write", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary file left behind: %d entries", len(entries))
	}
	if err := WriteFile(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("after a successful write the file holds %q", b)
	}
	if err := WriteFile(dir, []byte("x")); err == nil {
		t.Error("writing onto a folder should fail")
	}
}

func TestSameFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	b := filepath.Join(dir, "b")
	os.WriteFile(a, []byte("x"), 0o644)
	os.WriteFile(b, []byte("x"), 0o644)
	hard := filepath.Join(dir, "hard")
	if err := os.Link(a, hard); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		x, y string
		want bool
	}{
		{a, a, true},
		{a, filepath.Join(dir, "sub", "..", "a"), true},
		{a, hard, true},
		{a, b, false},
		{a, filepath.Join(dir, "missing"), false},
		{filepath.Join(dir, "m"), filepath.Join(dir, ".", "m"), true},
		{filepath.Join(dir, "m"), filepath.Join(dir, "n"), false},
	}
	for _, c := range cases {
		if got := Same(c.x, c.y); got != c.want {
			t.Errorf("Same(%s, %s) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "model.onnx")
	data := filepath.Join(dir, "data")
	os.WriteFile(in, []byte("model"), 0o644)
	os.Mkdir(data, 0o755)
	os.WriteFile(filepath.Join(data, "input_0.pb"), []byte("x"), 0o644)
	sym := filepath.Join(dir, "sym.onnx")
	hard := filepath.Join(dir, "hard.onnx")
	existing := filepath.Join(dir, "old.json")
	os.WriteFile(existing, []byte("{}"), 0o644)
	if err := os.Symlink(in, sym); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	symDir := filepath.Join(dir, "symdir")
	if err := os.Symlink(dir, symDir); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "out.onnx")
	cases := []struct {
		name    string
		force   bool
		outputs []Output
		want    string // error substring, "" for none
	}{
		{"new file", false, []Output{{"-o", fresh}}, ""},
		{"input itself", true, []Output{{"--html", in}}, "an input"},
		{"symlink to input", true, []Output{{"--html", sym}}, "an input"},
		{"hard link to input", true, []Output{{"--report", hard}}, "an input"},
		{"input through a linked folder", true, []Output{{"-o", filepath.Join(symDir, "model.onnx")}}, "an input"},
		{"file inside an input folder", true, []Output{{"--out", filepath.Join(data, "input_0.pb")}}, "an input"},
		{"new file inside an input folder", false, []Output{{"--out", filepath.Join(data, "output_0.pb")}}, ""},
		{"existing without force", false, []Output{{"--report", existing}}, "use Rule.Force"},
		{"existing with force", true, []Output{{"--report", existing}}, ""},
		{"two outputs one file", false, []Output{{"-o", fresh}, {"--html", filepath.Join(dir, ".", "out.onnx")}}, "same file as -o"},
		{"two new outputs through a link", false, []Output{{"-o", fresh}, {"--html", filepath.Join(symDir, "out.onnx")}}, "same file as -o"},
		{"folder", true, []Output{{"-o", dir}}, "is a folder"},
		{"missing folder", false, []Output{{"-o", filepath.Join(dir, "nope", "m.onnx")}}, "does not exist"},
		{"empty", false, []Output{{"-o", ""}}, "empty output path"},
	}
	for _, c := range cases {
		err := Rule{Force: c.force, Inputs: []string{in, data}}.Check(c.outputs...)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}
