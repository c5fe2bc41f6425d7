package ops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPytorchConvertedKernelCases runs the single-node cases of the suite's pytorch-converted and
// pytorch-operator folders for the GEMM, convolution and pooling kernels (the node/ folder is
// covered by TestNodeCases).
func TestPytorchConvertedKernelCases(t *testing.T) {
	node := suiteDir(t)
	root := filepath.Dir(node)
	prefixes := []string{"test_Conv", "test_ConvTranspose", "test_AvgPool", "test_MaxPool", "test_LPPool",
		"test_Linear", "test_operator_addmm", "test_operator_mm", "test_operator_conv", "test_operator_maxpool",
		"test_AdaptiveAvgPool", "test_AdaptiveMaxPool"}
	ran := 0
	for _, folder := range []string{"pytorch-converted", "pytorch-operator"} {
		entries, err := os.ReadDir(filepath.Join(root, folder))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			match := false
			for _, p := range prefixes {
				match = match || strings.HasPrefix(e.Name(), p)
			}
			if !match {
				continue
			}
			status, err := runNodeCase(filepath.Join(root, folder, e.Name()))
			switch {
			case err != nil:
				t.Errorf("%s/%s: %v", folder, e.Name(), err)
			case status == "":
				ran++
			default:
				t.Logf("%s/%s: %s", folder, e.Name(), status)
			}
		}
	}
	t.Logf("%d pytorch cases passed", ran)
}
