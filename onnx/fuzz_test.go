package onnx

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzLoadBytes feeds arbitrary bytes to the model loader: it must return an error or a model that
// re-encodes, decodes back to the same model, summarizes and resolves (missing) external data
// without panicking. Seeds live in testdata/fuzz/FuzzLoadBytes.
func FuzzLoadBytes(f *testing.F) {
	if b, err := Marshal(tinyModel()); err == nil {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("\x08\x08:\x00B\x02\x10\x11"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadBytes(data)
		if err != nil {
			return
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("loaded model does not re-encode: %v", err)
		}
		again, err := LoadBytes(b)
		if err != nil {
			t.Fatalf("re-encoded model does not load: %v", err)
		}
		if !proto.Equal(m, again) {
			t.Fatal("model changes through Marshal/LoadBytes")
		}
		for _, v := range m.GetGraph().GetInput() {
			_ = TypeString(v.GetType())
		}
		for _, init := range m.GetGraph().GetInitializer() {
			_ = TensorBytes(init)
		}
		_ = ResolveExternalData(m, t.TempDir())
	})
}
