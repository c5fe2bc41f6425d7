package bench

import (
	"testing"
	"time"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
)

// BenchmarkSideBySideORT times each shared model in actswap and in onnxruntime, alternating
// rounds on the same inputs with one thread each, and reports the median latency ratio
// (x_onnxruntime: below 1 is faster than onnxruntime) beside actswap's own time. It skips
// without ../shared or without onnxruntime (bash .ci/install-ort.sh installs it).
//
//	go test -run NONE -bench SideBySide ./bench
func BenchmarkSideBySideORT(b *testing.B) {
	if why := ortref.Unavailable(); why != "" {
		testutil.SkipMissing(b, why)
	}
	for _, name := range []string{"resnet18", "vit_tiny", "digits_cnn", "digits_vit", "digits_mlp_gelu"} {
		b.Run(name, func(b *testing.B) {
			path := testutil.SharedPath(b, "models", name, "model.onnx")
			m, err := onnx.LoadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			s, err := runtime.NewSession(m, runtime.WithThreads(1))
			if err != nil {
				b.Fatal(err)
			}
			inputs, err := SyntheticInputs(s.Inputs(), 1, 1)
			if err != nil {
				b.Fatal(err)
			}
			run := func() error {
				_, err := s.Run(inputs)
				return err
			}
			var sbs SideBySide
			for b.Loop() {
				if sbs, err = CompareORT(path, inputs, run, 1, 3, 3, 10); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(sbs.MedianRatio, "x_onnxruntime")
			b.ReportMetric(median(sbs.ActswapP50ms), "actswap_ms")
		})
	}
}

// TestAlternateSettles: each side's round starts at least settle after the other's ended, so
// that onnxruntime's spinning threads are idle before actswap's round (and the reverse).
func TestAlternateSettles(t *testing.T) {
	var spans [][2]time.Time
	side := func() (float64, error) {
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		spans = append(spans, [2]time.Time{t0, time.Now()})
		return 1, nil
	}
	if _, _, _, err := alternate(2, side, side); err != nil {
		t.Fatal(err)
	}
	if len(spans) != 4 {
		t.Fatalf("%d rounds ran, want 4", len(spans))
	}
	for i := 1; i < len(spans); i++ {
		if gap := spans[i][0].Sub(spans[i-1][1]); gap < settle {
			t.Errorf("round %d started %v after the one before ended, want ≥ %v", i, gap, settle)
		}
	}
}
