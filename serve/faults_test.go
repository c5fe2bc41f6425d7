package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/serve/v2pb"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// twoOutputModel is x[batch,4] → y_relu = Relu(x) [batch,4], y_sum = ReduceSum(x, axis 1) [batch,1]:
// two outputs of different sizes, so binary answers have more than one offset to get right.
func twoOutputModel(t *testing.T) string {
	b := graphtest.New("two_outputs", 13)
	x := b.Input("x", tensor.Float32, "batch", 4)
	relu := b.Op("Relu", []string{x})
	sum := b.Op("ReduceSum", []string{x, b.ConstI64(1)}, graphtest.A("keepdims", int64(1)))
	b.Output(relu, tensor.Float32, "batch", 4)
	b.Output(sum, tensor.Float32, "batch", 1)
	m := b.Model()
	// Names the tests can write: the builder invents "Relu_2" and the like.
	rename := map[string]string{relu: "y_relu", sum: "y_sum"}
	for _, n := range m.Graph.Node {
		for i, o := range n.Output {
			if r, ok := rename[o]; ok {
				n.Output[i] = r
			}
		}
	}
	for _, o := range m.Graph.Output {
		o.Name = proto.String(rename[o.GetName()])
	}
	return graphtest.Save(t, m, "two_outputs")
}

func grpcClient(t *testing.T, srv *Server) v2pb.GRPCInferenceServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return v2pb.NewGRPCInferenceServiceClient(conn)
}

func post(t *testing.T, url string, body []byte, header map[string]string) (int, []byte, http.Header) {
	t.Helper()
	return do(t, "POST", url, body, header)
}

// metricValue reads one sample of the server's metrics ("name{labels}" as /metrics prints it).
func metricValue(t *testing.T, srv *Server, series string) float64 {
	t.Helper()
	_, body, _ := do(t, "GET", "http://"+srv.Addr()+"/metrics", nil, nil)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// Many distinct concurrent requests, REST and gRPC, with 1–3 rows each, are batched together;
// every answer must be its own rows of a direct Run over all rows.
func TestDynamicBatchingAnswersEachRequest(t *testing.T) {
	path, x := digitsModel(t)
	x = tensor.SliceRows(x, 0, 64)
	want := reference(t, path, x)
	in := inputName(t, path)
	srv := startServer(t, Options{MaxBatch: 8, MaxDelay: 30 * time.Millisecond, Workers: 1}, ModelSpec{Name: "digits", Version: "1", Path: path})
	client := grpcClient(t, srv)

	const perProtocol = 24
	var wg sync.WaitGroup
	errs := make(chan error, 2*perProtocol)
	start := make(chan struct{})
	for i := 0; i < 2*perProtocol; i++ {
		lo, rows := (i*5)%(64-3), 1+i%3
		rowsIn := tensor.SliceRows(x, lo, lo+rows)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var got map[string]*tensor.Tensor
			var err error
			if i%2 == 0 {
				got, err = restInfer(srv, "digits", in, rowsIn)
			} else {
				got, err = grpcInfer(client, "digits", in, rowsIn)
			}
			if err != nil {
				errs <- fmt.Errorf("request %d: %w", i, err)
				return
			}
			if len(got) != len(want) {
				errs <- fmt.Errorf("request %d: %d outputs, want %d", i, len(got), len(want))
				return
			}
			for name, all := range want {
				if err := tensor.AllClose(got[name], tensor.SliceRows(all, lo, lo+rows), 1e-5, 1e-6); err != nil {
					errs <- fmt.Errorf("request %d (rows %d..%d), output %s: %v", i, lo, lo+rows, name, err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	batches := metricValue(t, srv, `actswap_batch_size_count{model="digits",version="1"}`)
	if batches == 0 || batches >= 2*perProtocol {
		t.Errorf("%v batches for %d requests: the test did not exercise dynamic batching", batches, 2*perProtocol)
	}
}

// restInfer sends x as JSON and decodes the JSON answer.
func restInfer(srv *Server, model, input string, x *tensor.Tensor) (map[string]*tensor.Tensor, error) {
	resp, err := http.Post("http://"+srv.Addr()+"/v2/models/"+model+"/infer", "application/json", bytes.NewReader(inferBody(input, x, "FP32")))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	var answer struct {
		Outputs []struct {
			Name  string    `json:"name"`
			Shape []int     `json:"shape"`
			Data  []float32 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, err
	}
	outs := map[string]*tensor.Tensor{}
	for _, o := range answer.Outputs {
		if tensor.NumElements(o.Shape) != len(o.Data) {
			return nil, fmt.Errorf("output %s: shape %v with %d values", o.Name, o.Shape, len(o.Data))
		}
		outs[o.Name] = tensor.New(o.Shape, o.Data)
	}
	return outs, nil
}

func grpcInfer(c v2pb.GRPCInferenceServiceClient, model, input string, x *tensor.Tensor) (map[string]*tensor.Tensor, error) {
	shape := make([]int64, len(x.Shape))
	for i, d := range x.Shape {
		shape[i] = int64(d)
	}
	resp, err := c.ModelInfer(context.Background(), &v2pb.ModelInferRequest{ModelName: model, Inputs: []*v2pb.ModelInferRequest_InferInputTensor{
		{Name: input, Datatype: "FP32", Shape: shape, Contents: &v2pb.InferTensorContents{Fp32Contents: x.F32()}},
	}})
	if err != nil {
		return nil, err
	}
	if len(resp.Outputs) != len(resp.RawOutputContents) {
		return nil, fmt.Errorf("%d outputs with %d raw contents", len(resp.Outputs), len(resp.RawOutputContents))
	}
	outs := map[string]*tensor.Tensor{}
	for i, o := range resp.Outputs {
		dims := make([]int, len(o.Shape))
		for j, d := range o.Shape {
			dims[j] = int(d)
		}
		t, err := tensorFromRaw(tensor.Float32, dims, resp.RawOutputContents[i])
		if err != nil {
			return nil, fmt.Errorf("output %s: %v", o.Name, err)
		}
		outs[o.Name] = t
	}
	return outs, nil
}

// Binary answers: every output at its own offset, the sizes adding up to the body, and a
// per-output binary_data false overriding binary_data_output true.
func TestBinaryOutputsAtEveryOffset(t *testing.T) {
	path := twoOutputModel(t)
	srv := startServer(t, Options{}, ModelSpec{Name: "two", Version: "1", Path: path})
	x := tensor.New([]int{3, 4}, []float32{1, -2, 3, -4, 5, -6, 7, -8, -9, 10, -11, 12})
	want := reference(t, path, x)
	url := "http://" + srv.Addr() + "/v2/models/two/infer"

	send := func(outputs string) (map[string]json.RawMessage, map[string]*tensor.Tensor) {
		t.Helper()
		header := fmt.Sprintf(`{"inputs":[{"name":"x","shape":[3,4],"datatype":"FP32","parameters":{"binary_data_size":48}}],"parameters":{"binary_data_output":true}%s}`, outputs)
		code, body, h := post(t, url, append([]byte(header), tensor.RawBytes(x)...), map[string]string{headerLengthKey: strconv.Itoa(len(header))})
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		hl, err := strconv.Atoi(h.Get(headerLengthKey))
		if err != nil {
			t.Fatalf("answer without %s: %v", headerLengthKey, err)
		}
		var answer struct {
			Outputs []struct {
				Name       string          `json:"name"`
				Shape      []int           `json:"shape"`
				Data       json.RawMessage `json:"data"`
				Parameters struct {
					Size *int `json:"binary_data_size"`
				} `json:"parameters"`
			} `json:"outputs"`
		}
		if err := json.Unmarshal(body[:hl], &answer); err != nil {
			t.Fatal(err)
		}
		jsonOuts, binOuts := map[string]json.RawMessage{}, map[string]*tensor.Tensor{}
		offset := hl
		for _, o := range answer.Outputs {
			if o.Parameters.Size == nil {
				jsonOuts[o.Name] = o.Data
				continue
			}
			end := offset + *o.Parameters.Size
			if end > len(body) {
				t.Fatalf("output %s: %d bytes at offset %d overrun the %d-byte body", o.Name, *o.Parameters.Size, offset, len(body))
			}
			got, err := tensorFromRaw(tensor.Float32, o.Shape, body[offset:end])
			if err != nil {
				t.Fatalf("output %s at offset %d: %v", o.Name, offset, err)
			}
			binOuts[o.Name] = got
			offset = end
		}
		if offset != len(body) {
			t.Fatalf("binary outputs cover %d of the %d bytes after the header", offset-hl, len(body)-hl)
		}
		return jsonOuts, binOuts
	}

	_, bin := send("")
	if len(bin) != 2 {
		t.Fatalf("%d binary outputs, want 2", len(bin))
	}
	for name, w := range want {
		if err := tensor.AllClose(bin[name], w, 0, 0); err != nil {
			t.Errorf("binary output %s: %v", name, err)
		}
	}

	js, bin := send(`,"outputs":[{"name":"y_sum","parameters":{"binary_data":false}},{"name":"y_relu"}]`)
	if _, ok := js["y_sum"]; !ok || len(bin) != 1 || bin["y_relu"] == nil {
		t.Fatalf("binary_data false on y_sum: JSON outputs %v, binary %v", js, bin)
	}
	var sums []float32
	if err := json.Unmarshal(js["y_sum"], &sums); err != nil {
		t.Fatal(err)
	}
	if err := tensor.AllClose(tensor.New([]int{3, 1}, sums), want["y_sum"], 0, 0); err != nil {
		t.Errorf("y_sum as JSON: %v", err)
	}
	if err := tensor.AllClose(bin["y_relu"], want["y_relu"], 0, 0); err != nil {
		t.Errorf("y_relu after a JSON output: %v", err)
	}
}

func TestRESTRequestChecks(t *testing.T) {
	path := twoOutputModel(t)
	srv := startServer(t, Options{MaxElements: 64}, ModelSpec{Name: "two", Version: "1", Path: path})
	url := "http://" + srv.Addr() + "/v2/models/two/infer"
	for _, c := range []struct {
		name, body string
		status     int
		errText    string
	}{
		{"flat", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}`, 200, ""},
		{"nested as the shape", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7,8]]}]}`, 200, ""},
		{"data before datatype and shape", `{"inputs":[{"data":[1,2,3,4],"name":"x","shape":[1,4],"datatype":"FP32"}]}`, 200, ""},
		{"ragged", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7]]}]}`, 400, "entries"},
		{"ragged with the right count", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,3],[4,5,6,7,8]]}]}`, 400, "entries"},
		{"mixed nesting", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],5,6,7,8]}]}`, 400, "nesting"},
		{"nested deeper than the shape", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[[1,2,3,4]],[[5,6,7,8]]]}]}`, 400, "nesting"},
		{"too few", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3]}]}`, 400, "elements"},
		{"too many", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4,5]}]}`, 400, "elements"},
		{"zero rows", `{"inputs":[{"name":"x","shape":[0,4],"datatype":"FP32","data":[]}]}`, 400, "zero-row"},
		{"data and binary_data_size", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4],"parameters":{"binary_data_size":16}}]}`, 400, "both"},
		{"field twice", `{"inputs":[{"name":"x","shape":[1,4],"shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, "twice"},
		{"null element", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,null,3,4]}]}`, 400, "null"},
		{"FP32 out of range", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,1e39,3,4]}]}`, 400, "FP32"},
		{"trailing data", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]} {}`, 400, "after"},
		{"over the element cap", `{"inputs":[{"name":"x","shape":[20,4],"datatype":"FP32","data":[]}]}`, 413, "elements"},
		{"shape the body cannot fill", `{"inputs":[{"name":"x","shape":[16,4],"datatype":"FP32","data":[1]}]}`, 400, "body"},
		{"non-boolean binary_data_output", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"parameters":{"binary_data_output":"yes"}}`, 400, "binary_data_output"},
	} {
		code, body, _ := post(t, url, []byte(c.body), nil)
		if code != c.status || !strings.Contains(string(body), c.errText) {
			t.Errorf("%s: %d %s, want %d mentioning %q", c.name, code, body, c.status, c.errText)
		}
	}

	// NaN and ±Inf travel as the strings the server writes, both ways.
	code, body, _ := post(t, url, []byte(`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":["NaN","Infinity","-Infinity",-0.5]}],"outputs":[{"name":"y_relu"}]}`), nil)
	if code != 200 || !strings.Contains(string(body), `"data":["NaN","Infinity",0,0]`) {
		t.Errorf("non-finite values: %d %s, want Relu's [NaN, Infinity, 0, 0] written as strings", code, body)
	}

	code, body, h := do(t, "GET", url, nil, nil)
	if code != http.StatusMethodNotAllowed || h.Get("Allow") != "POST" {
		t.Errorf("GET on infer: %d %s (Allow %q), want 405 allowing POST", code, body, h.Get("Allow"))
	}
}

// A request whose decoded size the memory budget cannot hold is refused before its body is read:
// 413 when it could never fit, 429 while other requests hold the budget.
func TestMemoryBudgetAdmission(t *testing.T) {
	path := twoOutputModel(t)
	entered, release := make(chan struct{}, 4), make(chan struct{})
	srv := startServer(t, Options{MemoryBudget: 1 << 20, runHook: func(ctx context.Context) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}}, ModelSpec{Name: "two", Version: "1", Path: path})
	url := "http://" + srv.Addr() + "/v2/models/two/infer"
	padded := func(size int) []byte {
		b := []byte(`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`)
		return append(b, bytes.Repeat([]byte(" "), size-len(b))...)
	}
	if code, body, _ := post(t, url, padded(300<<10), nil); code != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "budget") {
		t.Errorf("request over the whole budget: %d %s, want 413", code, body)
	}
	held := postInBackground(url, padded(200<<10))
	<-entered
	code, body, h := post(t, url, padded(100<<10), nil)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("request while the budget is held: %d %s, want 429 with Retry-After", code, body)
	}
	close(release)
	if code := <-held; code != 200 {
		t.Errorf("the request holding the budget answered %d", code)
	}
	waitUnreserved(t, srv)
	if code, body, _ := post(t, url, padded(100<<10), nil); code != 200 {
		t.Errorf("after the budget is released: %d %s", code, body)
	}
}

// A stalled upload is answered 408 once the read timeout passes.
func TestStalledUploadGets408(t *testing.T) {
	path := twoOutputModel(t)
	srv := startServer(t, Options{ReadTimeout: 300 * time.Millisecond}, ModelSpec{Name: "two", Version: "1", Path: path})
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /v2/models/two/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"inputs\":[")
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled upload: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled upload answered %d, want 408", resp.StatusCode)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("408 took %v", d)
	}
}

func TestGRPCRequestChecks(t *testing.T) {
	path := twoOutputModel(t)
	srv := startServer(t, Options{}, ModelSpec{Name: "two", Version: "1", Path: path})
	c := grpcClient(t, srv)
	raw := tensor.RawBytes(tensor.New([]int{1, 4}, []float32{1, 2, 3, 4}))
	for _, tc := range []struct {
		name    string
		req     *v2pb.ModelInferRequest
		errText string
	}{
		{"typed and raw contents", &v2pb.ModelInferRequest{ModelName: "two", RawInputContents: [][]byte{raw}, Inputs: []*v2pb.ModelInferRequest_InferInputTensor{
			{Name: "x", Datatype: "FP32", Shape: []int64{1, 4}, Contents: &v2pb.InferTensorContents{Fp32Contents: []float32{1, 2, 3, 4}}}}}, "both"},
		{"zero rows", &v2pb.ModelInferRequest{ModelName: "two", Inputs: []*v2pb.ModelInferRequest_InferInputTensor{
			{Name: "x", Datatype: "FP32", Shape: []int64{0, 4}, Contents: &v2pb.InferTensorContents{}}}}, "zero-row"},
		{"no inputs", &v2pb.ModelInferRequest{ModelName: "two"}, "no inputs"},
	} {
		_, err := c.ModelInfer(context.Background(), tc.req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.errText) {
			t.Errorf("%s: %v, want InvalidArgument mentioning %q", tc.name, err, tc.errText)
		}
	}
	resp, err := c.ModelInfer(context.Background(), &v2pb.ModelInferRequest{ModelName: "two", RawInputContents: [][]byte{raw}, Inputs: []*v2pb.ModelInferRequest_InferInputTensor{
		{Name: "x", Datatype: "FP32", Shape: []int64{1, 4}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Outputs) != 2 || len(resp.RawOutputContents) != 2 || len(resp.RawOutputContents[0]) != 16 || len(resp.RawOutputContents[1]) != 4 {
		t.Fatalf("raw request answered %d outputs with raw sizes %v, want 2 of 16 and 4 bytes", len(resp.Outputs), len(resp.RawOutputContents))
	}
}

func TestNegativeOptionsRefused(t *testing.T) {
	path := twoOutputModel(t)
	for _, opts := range []Options{{Workers: -1}, {MaxQueue: -1}, {MaxBodyBytes: -1}, {MemoryBudget: -5}, {RequestTimeout: -time.Second}} {
		if _, err := New([]ModelSpec{{Name: "two", Version: "1", Path: path}}, opts); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("%+v: %v, want a refusal", opts, err)
		}
	}
}

// Deadlines cover queue wait and compute: the answer is 504 (DEADLINE_EXCEEDED) in time, the
// work is cancelled, and both are counted apart from errors; a client that leaves is counted as
// a cancellation.
func TestDeadlinesAndCancellations(t *testing.T) {
	path := twoOutputModel(t)
	stopped := make(chan struct{}, 8)
	srv := startServer(t, Options{RequestTimeout: 300 * time.Millisecond, runHook: func(ctx context.Context) {
		<-ctx.Done() // the model never finishes on its own
		stopped <- struct{}{}
	}}, ModelSpec{Name: "two", Version: "1", Path: path})
	url := "http://" + srv.Addr() + "/v2/models/two/infer"
	body := []byte(`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`)

	start := time.Now()
	impatient := &http.Client{Timeout: 10 * time.Second} // without a server deadline the model never returns
	if resp, err := impatient.Post(url, "application/json", bytes.NewReader(body)); err != nil {
		t.Errorf("past the request timeout: %v after %v, want 504 after ~300ms", err, time.Since(start))
	} else {
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout || time.Since(start) > 5*time.Second {
			t.Errorf("past the request timeout: %d %s after %v, want 504 after ~300ms", resp.StatusCode, answer, time.Since(start))
		}
	}
	<-stopped

	client := grpcClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := client.ModelInfer(ctx, &v2pb.ModelInferRequest{ModelName: "two", Inputs: []*v2pb.ModelInferRequest_InferInputTensor{
		{Name: "x", Datatype: "FP32", Shape: []int64{1, 4}, Contents: &v2pb.InferTensorContents{Fp32Contents: []float32{1, 2, 3, 4}}}}})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("gRPC past the client's deadline: %v, want DeadlineExceeded", err)
	}
	<-stopped

	clientCtx, leave := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(clientCtx, "POST", url, bytes.NewReader(body))
	time.AfterFunc(50*time.Millisecond, leave)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("the client left but got an answer %d", resp.StatusCode)
	}
	<-stopped // the work of a client that left is cancelled long before the request timeout

	waitFor(t, "the client_gone cancellation counted", func() bool {
		return metricValue(t, srv, `actswap_request_cancellations_total{model="two",protocol="http",reason="client_gone",version="1"}`) == 1
	})
	for series, want := range map[string]float64{
		`actswap_request_cancellations_total{model="two",protocol="http",reason="deadline",version="1"}`: 1,
		`actswap_request_cancellations_total{model="two",protocol="grpc",reason="deadline",version="1"}`: 1,
		`actswap_requests_total{model="two",protocol="http",status="504",version="1"}`:                   1,
		`actswap_requests_total{model="two",protocol="http",status="canceled",version="1"}`:              1,
		`actswap_requests_total{model="two",protocol="http",status="500",version="1"}`:                   0,
		`actswap_compute_duration_seconds_count{model="two",version="1"}`:                                3,
		`actswap_queue_duration_seconds_count{model="two",version="1"}`:                                  3,
	} {
		if got := metricValue(t, srv, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// refused reports whether a new TCP connection to addr is refused.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// TestDrainHoldsInFlight holds one REST and one gRPC request inside the model, starts the drain,
// checks that both listeners refuse new connections, then lets the held requests finish: both
// must be answered in full.
func TestDrainHoldsInFlight(t *testing.T) {
	path := twoOutputModel(t)
	entered, release := make(chan struct{}, 2), make(chan struct{})
	srv := startServer(t, Options{Workers: 2, runHook: func(ctx context.Context) {
		entered <- struct{}{}
		<-release
	}}, ModelSpec{Name: "two", Version: "1", Path: path})
	client := grpcClient(t, srv)
	x := tensor.New([]int{1, 4}, []float32{1, -2, 3, -4})
	restDone, grpcDone := make(chan error, 1), make(chan error, 1)
	go func() {
		out, err := restInfer(srv, "two", "x", x)
		if err == nil && len(out) != 2 {
			err = fmt.Errorf("%d outputs", len(out))
		}
		restDone <- err
	}()
	go func() {
		out, err := grpcInfer(client, "two", "x", x)
		if err == nil && len(out) != 2 {
			err = fmt.Errorf("%d outputs", len(out))
		}
		grpcDone <- err
	}()
	<-entered
	<-entered

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- srv.Shutdown(ctx)
	}()
	waitFor(t, "both listeners closed", func() bool { return refused(srv.Addr()) && refused(srv.GRPCAddr()) })
	select {
	case err := <-shutdown:
		t.Fatalf("shutdown returned (%v) while requests were in flight", err)
	default:
	}
	close(release)
	if err := <-restDone; err != nil {
		t.Errorf("REST request in flight during the drain: %v", err)
	}
	if err := <-grpcDone; err != nil {
		t.Errorf("gRPC request in flight during the drain: %v", err)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// A drain that outlasts its deadline cuts the rest off and says so.
func TestDrainTimeout(t *testing.T) {
	path := twoOutputModel(t)
	entered := make(chan struct{}, 1)
	srv := startServer(t, Options{runHook: func(ctx context.Context) {
		entered <- struct{}{}
		<-ctx.Done()
	}}, ModelSpec{Name: "two", Version: "1", Path: path})
	go func() { _, _ = restInfer(srv, "two", "x", tensor.New([]int{1, 4}, []float32{1, 2, 3, 4})) }()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := srv.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "drain did not finish") {
		t.Fatalf("shutdown past its deadline: %v, want an error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v past a 300ms deadline", d)
	}
}

// An answer that cannot be written in --write-timeout is counted and logged as dropped, never
// as a 200.
func TestDroppedAnswerCounted(t *testing.T) {
	path := twoOutputModel(t)
	srv := startServer(t, Options{WriteTimeout: time.Nanosecond}, ModelSpec{Name: "two", Version: "1", Path: path})
	x := tensor.Zeros(tensor.Float32, []int{1, 4}) // an answer small enough to sit in a write buffer
	resp, err := http.Post("http://"+srv.Addr()+"/v2/models/two/infer", "application/json", bytes.NewReader(inferBody("x", x, "FP32")))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Errorf("an answer past its write deadline arrived whole")
	}
	waitFor(t, "the dropped answer counted", func() bool {
		return metricValue(t, srv, `actswap_request_cancellations_total{model="two",protocol="http",reason="write_failed",version="1"}`) == 1
	})
	for series, want := range map[string]float64{
		`actswap_requests_total{model="two",protocol="http",status="dropped",version="1"}`: 1,
		`actswap_requests_total{model="two",protocol="http",status="200",version="1"}`:     0,
	} {
		if got := metricValue(t, srv, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// A gRPC client whose deadline passes cancels its stream a few milliseconds before the server's
// copy of the deadline fires; that is counted as a deadline (504), while a client that leaves
// long before its deadline is counted as gone.
func TestOutcomeOfClientDeadline(t *testing.T) {
	s := &Server{}
	for _, tc := range []struct {
		left time.Duration
		want string
	}{{5 * time.Millisecond, strconv.Itoa(http.StatusGatewayTimeout)}, {10 * time.Second, outcomeCanceled}} {
		ctx, stop := context.WithDeadline(context.Background(), time.Now().Add(tc.left))
		stop() // the client went away with tc.left still to run
		if got := s.outcome(ctx, context.Canceled); got != tc.want {
			t.Errorf("cancelled %v before its deadline: outcome %s, want %s", tc.left, got, tc.want)
		}
	}
}
