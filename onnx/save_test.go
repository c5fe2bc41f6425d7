package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"google.golang.org/protobuf/proto"
)

func TestMarshalDeterministic(t *testing.T) {
	t.Parallel()
	m := tinyModel()
	m.MetadataProps = []*StringStringEntryProto{{Key: proto.String("a"), Value: proto.String("1")}}
	first, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, _ := Marshal(proto.Clone(m).(*ModelProto))
		if !bytes.Equal(first, again) {
			t.Fatal("Marshal gave different bytes for the same model")
		}
	}
}

func TestSaveFileRoundTripAndLeavesNoTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.onnx")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := tinyModel()
	if err := SaveFile(m, path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, m) {
		t.Error("saved model differs from the original")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after save, want only out.onnx", len(entries))
	}
}

func TestSaveFileFailureKeepsOldFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.onnx")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SaveFile(tinyModel(), path, RefuseOverwrite(path)); err == nil {
		t.Fatal("saving over the input should fail")
	}
	b, _ := os.ReadFile(path)
	if string(b) != "old contents" {
		t.Errorf("old file changed to %q after a refused save", b)
	}
	if err := SaveFile(tinyModel(), filepath.Join(dir, "no-such-dir", "m.onnx")); err == nil {
		t.Error("saving into a missing folder should fail")
	}
	if err := SaveFile(tinyModel(), dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("saving onto a directory: %v", err)
	}
}

func TestSaveFileWithExternalData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	m := tinyModel()
	big := make([]byte, 4*100)
	for i := range big {
		big[i] = byte(i)
	}
	m.Graph.Initializer = append(m.Graph.Initializer, &TensorProto{Name: proto.String("V"),
		DataType: proto.Int32(int32(TensorProto_FLOAT)), Dims: []int64{100}, RawData: big})
	orig := proto.Clone(m)
	if err := SaveFile(m, path, WithExternalData(16, "model.data")); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, orig) {
		t.Error("SaveFile modified the caller's model")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := LoadBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	wantExternal := map[string]bool{"W": true, "B": false, "V": true} // W is 24 bytes, B 4, V 400
	for _, init := range onDisk.Graph.Initializer {
		if got := init.GetDataLocation() == TensorProto_EXTERNAL; got != wantExternal[init.GetName()] {
			t.Errorf("initializer %s: external = %v, want %v", init.GetName(), got, wantExternal[init.GetName()])
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "model.data"))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != externalAlign+len(big) {
		t.Errorf("external file has %d bytes, want %d (W, padding, V)", len(data), externalAlign+len(big))
	}
	back, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, orig) {
		t.Error("model loaded from external data differs from the original")
	}
	// Nothing above the threshold: no data file is created.
	small := filepath.Join(dir, "small.onnx")
	if err := SaveFile(tinyModel(), small, WithExternalData(1<<20, "small.data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "small.data")); !os.IsNotExist(err) {
		t.Errorf("external data file written with nothing to hold: %v", err)
	}
}

func TestSaveFileRefusesOverwritingInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.onnx")
	if err := SaveFile(tinyModel(), in); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(in)
	link := filepath.Join(dir, "link.onnx")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, link, filepath.Join(dir, ".", "in.onnx")} {
		if err := SaveFile(tinyModel(), out, RefuseOverwrite(in)); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("save to %s: %v, want a refusal", out, err)
		}
	}
	if err := SaveFile(tinyModel(), filepath.Join(dir, "out.onnx"), RefuseOverwrite(in), WithExternalData(0, "in.onnx")); err == nil {
		t.Error("external data file named like the input was not refused")
	}
	if err := SaveFile(tinyModel(), filepath.Join(dir, "out.onnx"), WithExternalData(0, "../x.data")); err == nil {
		t.Error("external data file outside the folder was not refused")
	}
	after, _ := os.ReadFile(in)
	if !bytes.Equal(before, after) {
		t.Error("input changed")
	}
}

// A real model saved with its weights moved out, then loaded and saved inline again, gives back
// the original file byte for byte.
func TestSaveFileExternalDataRealModel(t *testing.T) {
	t.Parallel()
	src := filepath.Join(testutil.RepoRoot(t), "models", "digits_vit", "model.onnx")
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	split := filepath.Join(dir, "split.onnx")
	if err := SaveFile(m, split, WithExternalData(1024, "split.weights"), RefuseOverwrite(src)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(split); err != nil || fi.Size() > int64(len(want))/2 {
		t.Fatalf("split model should be much smaller than %d bytes: %v %v", len(want), fi.Size(), err)
	}
	back, err := LoadFile(split)
	if err != nil {
		t.Fatal(err)
	}
	inline := filepath.Join(dir, "inline.onnx")
	if err := SaveFile(back, inline); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(inline)
	if !bytes.Equal(got, want) {
		t.Error("model differs after a trip through external data")
	}
}
