package serve

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// wideRowBytes is what one row of wideModel holds in its Expand: 65536 float32.
const wideRowBytes = 65536 * 4

// wideModel is x[batch,1] → y = ReduceSum(Expand(x, [1,65536]), axis 1) [batch,1]: 8 bytes in
// and out per row but 256 KiB of working set per row, so a small memory budget holds few rows.
func wideModel(t *testing.T) string {
	b := graphtest.New("wide", 13)
	x := b.Input("x", tensor.Float32, "batch", 1)
	wide := b.Op("Expand", []string{x, b.ConstI64(1, 65536)})
	sum := b.Op("ReduceSum", []string{wide, b.ConstI64(1)}, graphtest.A("keepdims", int64(1)))
	b.Output(sum, tensor.Float32, "batch", 1)
	m := b.Model()
	m.Graph.Output[0].Name = &sum
	return graphtest.Save(t, m, "wide")
}

func wideBody(rows int) []byte {
	data := make([]string, rows)
	for i := range data {
		data[i] = fmt.Sprint(i + 1)
	}
	return []byte(fmt.Sprintf(`{"inputs":[{"name":"x","shape":[%d,1],"datatype":"FP32","data":[%s]}]}`, rows, strings.Join(data, ",")))
}

// The working set a model's shapes predict is charged before a run: a request the budget can
// never hold is answered 413, one that does not fit beside those in flight 429, and dynamic
// batches never have more rows than the budget holds.
func TestRunMemoryGuard(t *testing.T) {
	path := wideModel(t)
	const budget = 1 << 20 // 3 rows of wideModel fit (≈768 KiB), 4 do not
	entered, release := make(chan struct{}, 4), make(chan struct{})
	srv := startServer(t, Options{MemoryBudget: budget, MaxBatch: 8, runHook: func(ctx context.Context) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}}, ModelSpec{Name: "wide", Version: "1", Path: path})
	m, err := srv.repo.lookup("wide", "")
	if err != nil {
		t.Fatal(err)
	}
	// Hand count: the Expand's 256 KiB per row, plus 4 bytes each of x and y.
	if mem := m.memory; !mem.known || mem.perRow < wideRowBytes || mem.perRow > wideRowBytes+64 || mem.first < wideRowBytes || mem.first > wideRowBytes+128 {
		t.Fatalf("estimated run memory %+v, want about %d bytes per row", mem, wideRowBytes+8)
	}
	if m.sched.maxBatch != 3 {
		t.Errorf("dynamic batches of up to %d rows, want 3 (what a %d-byte budget holds)", m.sched.maxBatch, budget)
	}
	url := "http://" + srv.Addr() + "/v2/models/wide/infer"
	if code, body, _ := post(t, url, wideBody(8), nil); code != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "8 row(s) needs about") {
		t.Errorf("8 rows, over the whole budget: %d %s, want 413 naming the estimate", code, body)
	}
	held := postInBackground(url, wideBody(3))
	<-entered
	code, body, h := post(t, url, wideBody(2), nil)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("2 rows while 3 are running: %d %s, want 429 with Retry-After", code, body)
	}
	close(release)
	if code := <-held; code != 200 {
		t.Errorf("the 3-row request answered %d", code)
	}
	waitUnreserved(t, srv)
	code, body, _ = post(t, url, wideBody(2), nil)
	if code != 200 || !strings.Contains(string(body), `"data":[65536,131072]`) {
		t.Errorf("2 rows once the budget is free: %d %s, want y = 65536·x", code, body)
	}
	waitUnreserved(t, srv)
}

// waitUnreserved waits for the requests answered to return their reservations: a client can
// read its answer before the handler that wrote it has returned.
func waitUnreserved(t *testing.T, srv *Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := metricValue(t, srv, "actswap_memory_reserved_bytes")
		if got == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v bytes still reserved after every request was answered", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// postInBackground posts body to url and sends the answer's status (0 when none came).
func postInBackground(url string, body []byte) <-chan int {
	status := make(chan int, 1)
	go func() {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	return status
}
