package rewrite

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoKernel: the rewriter needs the operators' definition (onnxops), never their kernels
// or the runtime, so that a program that rewrites models stays small and nothing it imports
// changes how fast another package runs them.
func TestLinksNoKernel(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH: " + err.Error())
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch pkg {
		case "github.com/actswap/actswap/internal/actkernel", "github.com/actswap/actswap/runtime/ops", "github.com/actswap/actswap/runtime":
			t.Errorf("rewrite depends on %s", pkg)
		}
	}
}
