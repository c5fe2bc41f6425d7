package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/actswap/actswap/tensor"
)

// LoadOptions drive a bounded load test against a V2 server on this machine.
type LoadOptions struct {
	URL         string         // server base URL, e.g. http://127.0.0.1:8000 (loopback only)
	Model       string         // model name
	Input       string         // input name
	Sample      *tensor.Tensor // one request's input tensor
	Concurrency int            // concurrent clients
	Duration    time.Duration  // stop sending after this long
	MaxRequests int            // and after this many requests (0: no count limit)
}

// LoadReport summarises a load test.
type LoadReport struct {
	Requests   int            `json:"requests"`
	Errors     int            `json:"errors"`
	ByStatus   map[string]int `json:"by_status"`
	Seconds    float64        `json:"seconds"`
	Throughput float64        `json:"throughput_rps"`
	P50ms      float64        `json:"p50_ms"`
	P90ms      float64        `json:"p90_ms"`
	P99ms      float64        `json:"p99_ms"`
}

func (r LoadReport) String() string {
	return fmt.Sprintf("%d requests in %.1fs (%.1f/s), %d errors %v, latency p50 %.2f ms p90 %.2f ms p99 %.2f ms",
		r.Requests, r.Seconds, r.Throughput, r.Errors, r.ByStatus, r.P50ms, r.P90ms, r.P99ms)
}

// RunLoad sends infer requests from Concurrency clients until Duration or MaxRequests is reached
// (whichever first) or ctx ends. It refuses targets off this machine: load tests here only ever
// talk to loopback.
func RunLoad(ctx context.Context, o LoadOptions) (LoadReport, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return LoadReport{}, fmt.Errorf("--url %q: %w", o.URL, err)
	}
	if !isLoopback(u.Hostname()) {
		return LoadReport{}, fmt.Errorf("--url %q: load tests only target loopback addresses (127.0.0.0/8, ::1, localhost)", o.URL)
	}
	if o.Concurrency <= 0 || o.Duration <= 0 {
		return LoadReport{}, fmt.Errorf("concurrency and duration must be positive")
	}
	body, err := json.Marshal(map[string]any{"inputs": []any{map[string]any{
		"name": o.Input, "shape": o.Sample.Shape, "datatype": V2Datatype(o.Sample.DType), "data": jsonData(o.Sample),
	}}})
	if err != nil {
		return LoadReport{}, err
	}
	endpoint := fmt.Sprintf("%s/v2/models/%s/infer", o.URL, url.PathEscape(o.Model))
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}, Timeout: 30 * time.Second}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		report    = LoadReport{ByStatus: map[string]int{}}
		sent      int
		wg        sync.WaitGroup
	)
	next := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil || (o.MaxRequests > 0 && sent >= o.MaxRequests) {
			return false
		}
		sent++
		return true
	}
	start := time.Now()
	for i := 0; i < o.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next() {
				t0 := time.Now()
				status := "error"
				req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "POST", endpoint, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = fmt.Sprint(resp.StatusCode)
				}
				d := time.Since(t0)
				mu.Lock()
				report.Requests++
				report.ByStatus[status]++
				if status != "200" {
					report.Errors++
				}
				latencies = append(latencies, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	report.Seconds = time.Since(start).Seconds()
	if report.Seconds > 0 {
		report.Throughput = float64(report.Requests) / report.Seconds
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	report.P50ms, report.P90ms, report.P99ms = pct(0.50), pct(0.90), pct(0.99)
	return report, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
