package plugintest

import (
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/internal/ortc"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/rewrite"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// With the plugin registered, onnxruntime takes its kernel for the ai.actswap nodes inside a Loop
// body and inside a model-local function too: once per run for the main graph's site, once per
// iteration (3) and once per call of the function (2), agreeing with actswap.
func TestPluginRunsNestedSites(t *testing.T) {
	lib, plugin := setup(t)
	calls, err := ortc.Int64Func(plugin, "ActswapKernelCalls")
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*tensor.Tensor{"x": graphtest.NestedInput(graphtest.Seeded(3), 8)}
	for _, fam := range onnxops.Families {
		m, rep, err := rewrite.Apply(graphtest.NestedGELUs(1).Model(), rewrite.Options{To: fam})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Replaced) != 3 {
			t.Fatalf("%s: replaced %d sites, want 3", fam, len(rep.Replaced))
		}
		ours, err := runtime.NewSession(m, runtime.WithThreads(1))
		if err != nil {
			t.Fatal(err)
		}
		want, err := ours.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		s, err := lib.NewSession(save(t, m, "nested.onnx"), ortc.Options{IntraOpThreads: 1, CustomOpsLibrary: plugin})
		if err != nil {
			t.Fatal(err)
		}
		before := calls()
		got, err := s.Run(in)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n := calls() - before; n != 1+3+2 {
			t.Errorf("%s: the plugin kernel ran %d times, want 6 (1 main, 3 iterations, 2 calls)", fam, n)
		}
		compare(t, string(fam)+": plugin vs actswap", got, want, 1e-5)
	}
}
