package plugintest

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actswap/actswap/internal/ortc"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

func digitsRewritten(t *testing.T, fam onnxops.Family) (*onnx.ModelProto, rewrite.Report, string) {
	t.Helper()
	dir := filepath.Join(testutil.RepoRoot(t), "models", "digits_mlp_gelu")
	orig, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	m, rep, err := rewrite.Apply(orig, rewrite.Options{To: fam})
	if err != nil {
		t.Fatal(err)
	}
	return m, rep, filepath.Join(dir, "test_data_set_0")
}

// TestGarbageParameters: a parameter tensor of the wrong shape, the wrong channel count or no
// points gives an onnxruntime error that names the node — when the session is created or when
// it runs — never a crash.
func TestGarbageParameters(t *testing.T) {
	lib, plugin := setup(t)
	cases := []struct {
		name  string
		fam   onnxops.Family
		input int // which parameter input (1-based, after X)
		value *tensor.Tensor
	}{
		{"PWLU bounds of wrong shape", onnxops.FamilyPWLU, 1, tensor.New([]int{3}, []float32{-1, 0, 1})},
		{"PWLU with N = 0 heights", onnxops.FamilyPWLU, 2, tensor.New([]int{0}, []float32{})},
		{"PWLU per-channel C that X does not have", onnxops.FamilyPWLU, 1, tensor.New([]int{7, 2}, []float32{-1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1})},
		{"Zorro params of wrong length", onnxops.FamilyZorro, 1, tensor.New([]int{3}, []float32{1, 2, 3})},
		{"CRReLU epsilon NaN", onnxops.FamilyCRReLU, 1, tensor.New([]int{1}, []float32{float32(nan())})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, rep, dataDir := digitsRewritten(t, c.fam)
			r := rep.Replaced[0]
			init := r.Params[c.input-1]
			for i, tp := range m.Graph.Initializer {
				if tp.GetName() == init {
					m.Graph.Initializer[i] = tensor.ToProto(c.value, init)
				}
			}
			path := save(t, m, "bad.onnx")
			s, err := lib.NewSession(path, ortc.Options{IntraOpThreads: 1, CustomOpsLibrary: plugin})
			if err == nil {
				defer s.Close()
				ours, err2 := runtime.NewSession(digitsOriginal(t))
				if err2 != nil {
					t.Fatal(err2)
				}
				in, err2 := ours.ReadDataSetInputs(dataDir)
				if err2 != nil {
					t.Fatal(err2)
				}
				_, err = s.Run(in)
			}
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), r.Node) {
				t.Errorf("the error does not name node %q: %v", r.Node, err)
			}
			t.Log(err)
		})
	}
}

func nan() float64 { var z float64; return z / z }

func digitsOriginal(t *testing.T) *onnx.ModelProto {
	m, err := onnx.LoadFile(filepath.Join(testutil.RepoRoot(t), "models", "digits_mlp_gelu", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestConcurrentRuns: 64 goroutines run 4 sessions (16 each, one library, one process) at once
// and every answer must equal the one computed alone. ACTSWAP_PLUGIN_SOAK (a duration, such as
// 60s) keeps them running that long; the default is a few rounds.
func TestConcurrentRuns(t *testing.T) {
	lib, plugin := setup(t)
	soak := time.Duration(0)
	if v := os.Getenv("ACTSWAP_PLUGIN_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("ACTSWAP_PLUGIN_SOAK: %v", err)
		}
		soak = d
	}
	var sessions []*ortc.Session
	var inputs []map[string]*tensor.Tensor
	var wants []map[string]*tensor.Tensor
	for i, fam := range []onnxops.Family{onnxops.FamilyPWLU, onnxops.FamilyZorro, onnxops.FamilyCRReLU, onnxops.FamilyPWLU} {
		m, _, dataDir := digitsRewritten(t, fam)
		s, err := lib.NewSession(save(t, m, "m.onnx"), ortc.Options{IntraOpThreads: 1 + i%2, CustomOpsLibrary: plugin})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ours, err := runtime.NewSession(m)
		if err != nil {
			t.Fatal(err)
		}
		in, err := ours.ReadDataSetInputs(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		sessions, inputs, wants = append(sessions, s), append(inputs, in), append(wants, want)
	}
	deadline := time.Now().Add(soak)
	var wg sync.WaitGroup
	var mu sync.Mutex
	runs := 0
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			k := g % len(sessions)
			for round := 0; round < 5 || time.Now().Before(deadline); round++ {
				got, err := sessions[k].Run(inputs[k])
				if err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
				for name, w := range wants[k] {
					gv, wv := got[name].F32(), w.F32()
					for i := range wv {
						if gv[i] != wv[i] {
							t.Errorf("goroutine %d session %d: %s[%d] = %v, alone %v", g, k, name, i, gv[i], wv[i])
							return
						}
					}
				}
				mu.Lock()
				runs++
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	t.Logf("%d runs over %d sessions by 64 goroutines", runs, len(sessions))
}
