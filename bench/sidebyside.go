package bench

import (
	"fmt"
	"sort"
	"time"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/tensor"
)

// SideBySide is actswap against onnxruntime on the same model and inputs, measured in
// alternating rounds within one run so that machine noise hits both alike.
type SideBySide struct {
	Rounds       int       `json:"rounds"`
	ItersPerSide int       `json:"iters_per_round"`
	ActswapP50ms []float64 `json:"actswap_p50_ms"`
	OrtP50ms     []float64 `json:"onnxruntime_p50_ms"`
	Ratios       []float64 `json:"ratios"`
	MedianRatio  float64   `json:"median_ratio"` // actswap time / onnxruntime time: below 1 is faster
}

func (s SideBySide) String() string {
	return fmt.Sprintf("actswap/onnxruntime latency ratio: median %.3f over %d rounds (actswap p50 %.3f ms, onnxruntime p50 %.3f ms; per round %v)",
		s.MedianRatio, s.Rounds, median(s.ActswapP50ms), median(s.OrtP50ms), roundAll(s.Ratios))
}

// CompareORT alternates rounds of iters runs: actswap's run function, then onnxruntime on
// modelPath with the same inputs and threads intra-op threads, the count run's session uses.
func CompareORT(modelPath string, inputs map[string]*tensor.Tensor, run func() error, threads, rounds, warmup, iters int) (SideBySide, error) {
	if why := ortref.Unavailable(); why != "" {
		return SideBySide{}, fmt.Errorf("onnxruntime is not available: %s", why)
	}
	return sideBySide(run, func(warmup, iters int) ([]float64, error) {
		return ortref.Bench(modelPath, inputs, warmup, iters, threads)
	}, rounds, warmup, iters)
}

// sideBySide alternates rounds of iters runs of actswap's run and of onnxruntime's, which
// returns its own per-run milliseconds.
func sideBySide(run func() error, ort func(warmup, iters int) ([]float64, error), rounds, warmup, iters int) (SideBySide, error) {
	s := SideBySide{Rounds: rounds, ItersPerSide: iters}
	var err error
	s.ActswapP50ms, s.OrtP50ms, s.Ratios, err = alternate(rounds,
		func() (float64, error) {
			r, err := Measure(run, warmup, iters)
			return r.P50ms, err
		},
		func() (float64, error) {
			times, err := ort(warmup, iters)
			return Summarize(times).P50ms, err
		})
	s.MedianRatio = median(s.Ratios)
	return s, err
}

// settle is the pause before each side's round after the other's. onnxruntime's intra-op
// threads spin for their next task for tens of milliseconds after a run (allow_spinning, its
// default): a round of actswap started at once shared the cores with them. digits_cnn at 2 threads
// (0.1 ms a run) measured 0.099 ms in rounds of 400 runs and 0.074 in rounds of 4000, and 0.068
// alone (Zen 5, 2026-12-07). actswap's own workers poll for 100 µs; the pause is the same both ways.
const settle = 100 * time.Millisecond

// alternate runs rounds of a then b, each returning its p50 and each after settle, and returns
// both series and their per-round ratios a/b.
func alternate(rounds int, a, b func() (float64, error)) (pa, pb, ratios []float64, err error) {
	for r := 0; r < rounds; r++ {
		if r > 0 {
			time.Sleep(settle)
		}
		x, err := a()
		if err != nil {
			return pa, pb, ratios, err
		}
		time.Sleep(settle)
		y, err := b()
		if err != nil {
			return pa, pb, ratios, err
		}
		pa, pb, ratios = append(pa, x), append(pb, y), append(ratios, x/y)
	}
	return pa, pb, ratios, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return Percentile(s, 0.5)
}

func roundAll(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int(x*1000+0.5)) / 1000
	}
	return out
}

// Paired is one model against another in actswap (a rewritten model against its original),
// measured in alternating rounds within one run.
type Paired struct {
	Rounds       int       `json:"rounds"`
	ItersPerSide int       `json:"iters_per_round"`
	P50ms        []float64 `json:"p50_ms"`
	AgainstP50ms []float64 `json:"against_p50_ms"`
	Ratios       []float64 `json:"ratios"`
	MedianRatio  float64   `json:"median_ratio"` // time / against's time: below 1 is faster
}

func (p Paired) String() string {
	return fmt.Sprintf("latency ratio against the other model: median %.3f over %d rounds (p50 %.3f ms against %.3f ms; per round %v)",
		p.MedianRatio, p.Rounds, median(p.P50ms), median(p.AgainstP50ms), roundAll(p.Ratios))
}

// ComparePaired alternates rounds of iters runs of run and of against, so that the machine's
// noise hits both alike, and reports the median of the per-round p50 ratios.
func ComparePaired(run, against func() error, rounds, warmup, iters int) (Paired, error) {
	p := Paired{Rounds: rounds, ItersPerSide: iters}
	p50 := func(f func() error) func() (float64, error) {
		return func() (float64, error) {
			r, err := Measure(f, warmup, iters)
			return r.P50ms, err
		}
	}
	var err error
	p.P50ms, p.AgainstP50ms, p.Ratios, err = alternate(rounds, p50(run), p50(against))
	p.MedianRatio = median(p.Ratios)
	return p, err
}
