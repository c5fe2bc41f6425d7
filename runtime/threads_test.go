package runtime

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// TestThreadsGiveIdenticalOutputs runs the bundled digits models and, from ../shared, resnet18
// and vit_tiny on their stored inputs with 1, 2 and 3 kernel threads: how a kernel splits its
// work (GEMM tiles across rows or columns, heads, lanes) must not change a single bit of the
// result, since every output element is computed by one thread in the same order whatever the
// split.
func TestThreadsGiveIdenticalOutputs(t *testing.T) {
	t.Parallel()
	models := []string{"digits_cnn", "digits_vit", "digits_mlp_gelu", "resnet18", "vit_tiny"}
	for _, name := range models {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var dir string
			switch {
			case strings.HasPrefix(name, "digits_"):
				dir = filepath.Join(testutil.RepoRoot(t), "models", name)
			case testing.Short():
				t.Skip("-short: the shared models take seconds per run under -race")
			default:
				dir = testutil.SharedPath(t, "models", name)
			}
			var want map[string][]float32
			for _, threads := range []int{1, 2, 3} {
				s, inputs := sessionOnDataSet(t, dir, threads, false)
				for run := range 2 { // the second run reuses the first's buffers and tuned lowerings
					out, err := s.Run(inputs)
					if err != nil {
						t.Fatalf("%d threads: %v", threads, err)
					}
					got := map[string][]float32{}
					for k, v := range out {
						got[k] = v.F32()
					}
					if want == nil {
						want = got
						continue
					}
					for k, w := range want {
						if diff := firstDifference(got[k], w); diff != "" {
							t.Errorf("%d threads, run %d, output %q: %s (1 thread is the reference)", threads, run, k, diff)
						}
					}
				}
			}
		})
	}
}

// firstDifference describes the first element where got and want differ bitwise, or returns "".
func firstDifference(got, want []float32) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return fmt.Sprintf("element %d is %g, want %g", i, got[i], want[i])
		}
	}
	return ""
}
