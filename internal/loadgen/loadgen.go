// Package loadgen drives a bounded load against a V2 inference server on this machine and,
// given expected outputs, checks every answer: a load test that only counts status codes cannot
// see a server that answers every request with another request's result.
package loadgen

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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/serve"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// Options drive a bounded load test against a V2 server on this machine.
type Options struct {
	URL         string         // server base URL, e.g. http://127.0.0.1:8000 (loopback only)
	Model       string         // model name
	Input       string         // input name
	Data        *tensor.Tensor // rows to send; request k sends Rows consecutive rows starting at row k·Rows (wrapping)
	Rows        int            // rows per request
	Concurrency int            // concurrent clients
	Duration    time.Duration  // stop sending after this long
	MaxRequests int            // and after this many requests (0: no count limit)

	// Expected, when set, holds the outputs for all of Data's rows (from a direct run or golden
	// files): each answer's rows are compared with the same rows here by tensor.AllClose with
	// rtol = atol = Tolerance (NaN only matches NaN).
	Expected  map[string]*tensor.Tensor
	Tolerance float64
}

// Report summarises a load test.
type Report struct {
	Requests   int            `json:"requests"`
	Errors     int            `json:"errors"`
	ByStatus   map[string]int `json:"by_status"`
	ErrorTexts map[string]int `json:"error_texts,omitempty"` // distinct error messages (the first 20) and how often each came
	Verified   int            `json:"verified"`              // answers compared with Expected
	Mismatches int            `json:"mismatches"`            // answers that differed (also counted in Errors)
	Seconds    float64        `json:"seconds"`
	Throughput float64        `json:"throughput_rps"`
	P50ms      float64        `json:"p50_ms"`
	P90ms      float64        `json:"p90_ms"`
	P99ms      float64        `json:"p99_ms"`
}

func (r Report) String() string {
	s := fmt.Sprintf("%d requests in %.1fs (%.1f/s), %d errors %v, latency p50 %.2f ms p90 %.2f ms p99 %.2f ms",
		r.Requests, r.Seconds, r.Throughput, r.Errors, r.ByStatus, r.P50ms, r.P90ms, r.P99ms)
	if r.Verified > 0 || r.Mismatches > 0 {
		s += fmt.Sprintf("; %d answers verified, %d mismatched", r.Verified, r.Mismatches)
	}
	return s
}

// Failed says whether any request failed or any answer was wrong.
func (r Report) Failed() bool { return r.Errors > 0 }

// ErrorSummary lists the distinct error texts, most frequent first.
func (r Report) ErrorSummary() string {
	texts := make([]string, 0, len(r.ErrorTexts))
	for t := range r.ErrorTexts {
		texts = append(texts, t)
	}
	sort.Slice(texts, func(i, j int) bool { return r.ErrorTexts[texts[i]] > r.ErrorTexts[texts[j]] })
	var b strings.Builder
	for _, t := range texts {
		fmt.Fprintf(&b, "  %d× %s\n", r.ErrorTexts[t], t)
	}
	return b.String()
}

const maxErrorTexts = 20

// Run sends infer requests from Concurrency clients until Duration or MaxRequests is reached
// (whichever first) or ctx ends. It refuses targets off this machine: load tests here only ever
// talk to loopback. Requests use the binary tensor extension both ways, so answers arrive
// bit-exact.
func Run(ctx context.Context, o Options) (Report, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return Report{}, fmt.Errorf("Options.URL %q: %w", o.URL, err)
	}
	if !isLoopback(u.Hostname()) {
		return Report{}, fmt.Errorf("Options.URL %q: load tests only target loopback addresses (127.0.0.0/8, ::1, localhost)", o.URL)
	}
	if o.Concurrency <= 0 || o.Duration <= 0 || o.Rows <= 0 {
		return Report{}, fmt.Errorf("concurrency, duration and rows must be positive")
	}
	if o.Data == nil || o.Data.Rank() == 0 || o.Data.Shape[0] < o.Rows {
		return Report{}, fmt.Errorf("data must have at least %d rows", o.Rows)
	}
	for name, t := range o.Expected {
		if t.Rank() == 0 || t.Shape[0] != o.Data.Shape[0] {
			return Report{}, fmt.Errorf("expected output %q has shape %v, want %d rows like the data", name, t.Shape, o.Data.Shape[0])
		}
	}
	endpoint := fmt.Sprintf("%s/v2/models/%s/infer", o.URL, url.PathEscape(o.Model))
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}, Timeout: 30 * time.Second}
	windows := o.Data.Shape[0] - o.Rows + 1

	var (
		mu        sync.Mutex
		latencies []time.Duration
		report    = Report{ByStatus: map[string]int{}, ErrorTexts: map[string]int{}}
		sent      int
		wg        sync.WaitGroup
	)
	next := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil || (o.MaxRequests > 0 && sent >= o.MaxRequests) {
			return 0, false
		}
		sent++
		return sent - 1, true
	}
	start := time.Now()
	for i := 0; i < o.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, ok := next(); ok; k, ok = next() {
				lo := (k * o.Rows) % windows
				t0 := time.Now()
				status, outs, err := infer(context.WithoutCancel(ctx), client, endpoint, o.Input, tensor.SliceRows(o.Data, lo, lo+o.Rows))
				d := time.Since(t0)
				verified := false
				if err == nil && o.Expected != nil {
					err = verify(outs, o.Expected, lo, o.Rows, o.Tolerance)
					verified = true
				}
				mu.Lock()
				report.Requests++
				report.ByStatus[status]++
				if verified {
					report.Verified++
				}
				if err != nil {
					report.Errors++
					if _, isMismatch := err.(*mismatchError); isMismatch {
						report.Mismatches++
					}
					text := fmt.Sprintf("%s: %v", status, err)
					if _, seen := report.ErrorTexts[text]; seen || len(report.ErrorTexts) < maxErrorTexts {
						report.ErrorTexts[text]++
					}
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

// infer sends one request and decodes the answer's outputs. status is the HTTP status, or
// "error" when no answer came.
func infer(ctx context.Context, client *http.Client, endpoint, input string, x *tensor.Tensor) (string, map[string]*tensor.Tensor, error) {
	raw := tensor.RawBytes(x)
	header, err := json.Marshal(map[string]any{
		"inputs": []any{map[string]any{"name": input, "shape": x.Shape, "datatype": serve.V2Datatype(x.DType),
			"parameters": map[string]any{"binary_data_size": len(raw)}}},
		"parameters": map[string]any{"binary_data_output": true},
	})
	if err != nil {
		return "error", nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", endpoint, io.MultiReader(bytes.NewReader(header), bytes.NewReader(raw)))
	if err != nil {
		return "error", nil, err
	}
	req.ContentLength = int64(len(header) + len(raw))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(header)))
	resp, err := client.Do(req)
	if err != nil {
		return "error", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	status := strconv.Itoa(resp.StatusCode)
	if err != nil {
		return status, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != 200 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return status, nil, fmt.Errorf("%s", e.Error)
		}
		return status, nil, fmt.Errorf("%.200s", body)
	}
	outs, err := decodeAnswer(body, resp.Header.Get("Inference-Header-Content-Length"))
	return status, outs, err
}

// decodeAnswer reads a V2 answer with binary outputs.
func decodeAnswer(body []byte, headerLength string) (map[string]*tensor.Tensor, error) {
	n, err := strconv.Atoi(headerLength)
	if err != nil || n < 0 || n > len(body) {
		return nil, fmt.Errorf("answer: Inference-Header-Content-Length %q does not fit %d bytes", headerLength, len(body))
	}
	var answer struct {
		Outputs []struct {
			Name       string `json:"name"`
			Datatype   string `json:"datatype"`
			Shape      []int  `json:"shape"`
			Parameters struct {
				BinaryDataSize *int `json:"binary_data_size"`
			} `json:"parameters"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body[:n], &answer); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	raw := body[n:]
	outs := map[string]*tensor.Tensor{}
	for _, o := range answer.Outputs {
		size := o.Parameters.BinaryDataSize
		if size == nil || *size < 0 || *size > len(raw) {
			return nil, fmt.Errorf("answer: output %q has no binary data that fits", o.Name)
		}
		dt, err := serve.ParseV2Datatype(o.Datatype)
		if err != nil {
			return nil, fmt.Errorf("answer: output %q: %w", o.Name, err)
		}
		dims := make([]int64, len(o.Shape))
		for i, d := range o.Shape {
			dims[i] = int64(d)
		}
		t, err := tensor.FromProto(&onnx.TensorProto{DataType: proto.Int32(int32(dt)), Dims: dims, RawData: raw[:*size]})
		if err != nil {
			return nil, fmt.Errorf("answer: output %q: %w", o.Name, err)
		}
		outs[o.Name] = t
		raw = raw[*size:]
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("answer has no outputs")
	}
	return outs, nil
}

type mismatchError struct{ msg string }

func (e *mismatchError) Error() string { return e.msg }

// verify compares an answer for rows [lo, lo+rows) with the expected outputs' same rows.
func verify(got, expected map[string]*tensor.Tensor, lo, rows int, tol float64) error {
	for name, all := range expected {
		g, ok := got[name]
		if !ok {
			return &mismatchError{fmt.Sprintf("output %q missing from the answer", name)}
		}
		want := tensor.SliceRows(all, lo, lo+rows)
		if err := tensor.AllClose(g, want, tol, tol); err != nil {
			return &mismatchError{fmt.Sprintf("output %q for rows [%d,%d): %v", name, lo, lo+rows, err)}
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
