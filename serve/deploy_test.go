package serve

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
)

// The Triton example repository in deploy/ (for Triton with actswap's onnxruntime plugin) must
// also be one actswap serves: its config.pbtxt parses, its model_operations is accepted and its
// inputs and outputs fit the digits ViT it is written for (a rewrite keeps them).
func TestDeployTritonExampleConfig(t *testing.T) {
	dir := filepath.Join(testutil.RepoRoot(t), "deploy", "triton", "model_repository", "digits_pwlu")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("deploy example %s missing", dir)
	}
	cfg, err := readModelConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.GetModelOperations().GetOpLibraryFilename(); len(got) != 1 || got[0] != "libactswap_ort.so" {
		t.Fatalf("op_library_filename %v, want [libactswap_ort.so]", got)
	}
	modelPath, _ := digitsModel(t)
	m, err := onnx.LoadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := runtime.NewSession(m, runtime.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	_, plan, err := completeConfig(cfg, "digits_pwlu", sess, Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.batchable || plan.maxBatch != 16 || plan.workers != 1 {
		t.Fatalf("plan %+v, want dynamic batches of up to 16 on 1 instance", plan)
	}
}
