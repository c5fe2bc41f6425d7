// Package bench measures model latency in actswap's runtime and, side by side in the same run,
// in onnxruntime, so speed is reported as a ratio on the same machine rather than as absolute
// times from different days.
package bench

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// Result is one measurement series.
type Result struct {
	Iters        int     `json:"iters"`
	P50ms        float64 `json:"p50_ms"`
	P90ms        float64 `json:"p90_ms"`
	P99ms        float64 `json:"p99_ms"`
	MeanMs       float64 `json:"mean_ms"`
	Throughput   float64 `json:"throughput_per_s"`
	AllocsPerRun float64 `json:"allocs_per_run"`
	BytesPerRun  float64 `json:"bytes_per_run"`
	PeakRSSMB    float64 `json:"peak_rss_mb"`
}

func (r Result) String() string {
	return fmt.Sprintf("p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  mean %.3f ms  %.1f runs/s  %.0f allocs/run  %.1f MB/run  peak RSS %.0f MB",
		r.P50ms, r.P90ms, r.P99ms, r.MeanMs, r.Throughput, r.AllocsPerRun, r.BytesPerRun/1e6, r.PeakRSSMB)
}

// Measure calls run warmup times, then iters times, timing each call.
func Measure(run func() error, warmup, iters int) (Result, error) {
	if iters < 1 {
		return Result{}, fmt.Errorf("iters must be at least 1")
	}
	for i := 0; i < warmup; i++ {
		if err := run(); err != nil {
			return Result{}, err
		}
	}
	times := make([]float64, iters)
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	total := time.Now()
	for i := range times {
		t0 := time.Now()
		if err := run(); err != nil {
			return Result{}, err
		}
		times[i] = float64(time.Since(t0).Nanoseconds()) / 1e6
	}
	elapsed := time.Since(total).Seconds()
	goruntime.ReadMemStats(&after)
	r := Summarize(times)
	r.Throughput = float64(iters) / elapsed
	r.AllocsPerRun = float64(after.Mallocs-before.Mallocs) / float64(iters)
	r.BytesPerRun = float64(after.TotalAlloc-before.TotalAlloc) / float64(iters)
	r.PeakRSSMB = PeakRSSMB()
	return r, nil
}

// Summarize computes percentiles and mean of per-iteration times in milliseconds.
func Summarize(ms []float64) Result {
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	return Result{Iters: len(s), P50ms: Percentile(s, 0.50), P90ms: Percentile(s, 0.90), P99ms: Percentile(s, 0.99), MeanMs: sum / float64(len(s))}
}

// Percentile of sorted values with linear interpolation.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := p * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(lo)
	return sorted[lo]*(1-f) + sorted[lo+1]*f
}

// PeakRSSMB reads the process's peak resident set size (VmHWM) on Linux; 0 elsewhere.
func PeakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				kb, _ := strconv.ParseFloat(fields[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// SyntheticInputs makes inputs for every model input: symbolic or unknown dims become batch,
// floats are uniform in [-1, 1), integers 0 (valid token ids and masks alike), bools true.
func SyntheticInputs(inputs []runtime.ValueInfo, batch int, seed uint64) (map[string]*tensor.Tensor, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	feed := map[string]*tensor.Tensor{}
	for _, vi := range inputs {
		shape := make([]int, len(vi.Shape))
		for i, d := range vi.Shape {
			shape[i] = d.Value
			if d.Value < 0 || d.Param != "" {
				shape[i] = batch
			}
		}
		t := tensor.Zeros(vi.DType, shape)
		switch d := t.Data.(type) {
		case []float32:
			for i := range d {
				d[i] = rng.Float32()*2 - 1
			}
		case []float64:
			for i := range d {
				d[i] = rng.Float64()*2 - 1
			}
		case []bool:
			for i := range d {
				d[i] = true
			}
		case []string:
			return nil, fmt.Errorf("input %q: strings cannot be made up; give real inputs", vi.Name)
		}
		feed[vi.Name] = t
	}
	return feed, nil
}
