package runtime

import (
	"fmt"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// BenchmarkSharedModelsThreads times resnet18, vit_tiny and digits_cnn (a batch of 16) on their
// stored inputs at 1 and 2 kernel threads, for the 2-thread scaling.
func BenchmarkSharedModelsThreads(b *testing.B) {
	for _, name := range []string{"resnet18", "vit_tiny", "digits_cnn"} {
		dir := testutil.SharedPath(b, "models", name)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(b *testing.B) { benchSteadyRuns(b, dir, threads, false) })
		}
	}
}
