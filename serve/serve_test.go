package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/serve/v2pb"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// digitsModel returns the bundled digits ViT and the first test images.
func digitsModel(t *testing.T) (modelPath string, images *tensor.Tensor) {
	t.Helper()
	models := filepath.Join(testutil.RepoRoot(t), "models")
	if _, err := os.Stat(filepath.Join(models, "digits_vit")); err != nil {
		models = testutil.SharedPath(t, "models")
	}
	modelPath = filepath.Join(models, "digits_vit", "model.onnx")
	data := filepath.Join(models, "digits_data", "test_x.npy")
	for _, p := range []string{modelPath, data} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("bundled model data %s missing", p)
		}
	}
	x, err := tensor.ReadNpy(data)
	if err != nil {
		t.Fatal(err)
	}
	return modelPath, x
}

func startServer(t *testing.T, opts Options, specs ...ModelSpec) *Server {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	if opts.GRPCAddr == "" {
		opts.GRPCAddr = "127.0.0.1:0"
	}
	srv, err := New(specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

func inputName(t *testing.T, path string) string {
	m, err := onnx.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return m.Graph.Input[0].GetName()
}

// reference runs the model directly through the runtime, the value every answer must match.
func reference(t *testing.T, path string, x *tensor.Tensor) map[string]*tensor.Tensor {
	m, err := onnx.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(m, runtime.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*tensor.Tensor{s.Inputs()[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func do(t *testing.T, method, url string, body []byte, header map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func inferBody(name string, x *tensor.Tensor, datatype string) []byte {
	data, _ := appendJSONData(nil, x, io.Discard)
	shape, _ := json.Marshal(x.Shape)
	return []byte(fmt.Sprintf(`{"id":"req-1","inputs":[{"name":%q,"shape":%s,"datatype":%q,"data":[%s]}]}`, name, shape, datatype, data))
}

func TestRESTEndToEnd(t *testing.T) {
	path, x := digitsModel(t)
	srv := startServer(t, Options{MaxBatch: 8}, ModelSpec{Name: "digits", Version: "1", Path: path})
	base := "http://" + srv.Addr()
	in := inputName(t, path)
	first := tensor.SliceRows(x, 0, 4)
	want := reference(t, path, first)

	for _, c := range []struct{ path, want string }{
		{"/v2/health/live", `"live":true`},
		{"/v2/health/ready", `"ready":true`},
		{"/v2", `"binary_tensor_data"`},
		{"/v2/models/digits", `"platform":"onnx_onnxv1"`},
		{"/v2/models/digits/versions/1", `"versions":["1"]`},
		{"/v2/models/digits/ready", `"ready":true`},
	} {
		code, body, _ := do(t, "GET", base+c.path, nil, nil)
		if code != 200 || !strings.Contains(string(body), c.want) {
			t.Errorf("GET %s: %d %s, want 200 with %s", c.path, code, body, c.want)
		}
	}

	code, body, _ := do(t, "POST", base+"/v2/models/digits/infer", inferBody(in, first, "FP32"), nil)
	if code != 200 {
		t.Fatalf("infer: %d %s", code, body)
	}
	var resp struct {
		ID string `json:"id"`
	}
	var outs []struct {
		Name  string    `json:"name"`
		Shape []int     `json:"shape"`
		Data  []float64 `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	raw := struct {
		Outputs *[]struct {
			Name  string    `json:"name"`
			Shape []int     `json:"shape"`
			Data  []float64 `json:"data"`
		} `json:"outputs"`
	}{Outputs: &outs}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if resp.ID != "req-1" || len(outs) != len(want) {
		t.Fatalf("response id %q with %d outputs, want req-1 and %d", resp.ID, len(outs), len(want))
	}
	for _, o := range outs {
		ref := want[o.Name].F32()
		if len(ref) != len(o.Data) {
			t.Fatalf("output %s: %d values, want %d", o.Name, len(o.Data), len(ref))
		}
		for i := range ref {
			if math.Abs(o.Data[i]-float64(ref[i])) > 1e-6*math.Max(1, math.Abs(float64(ref[i]))) {
				t.Fatalf("output %s[%d] = %g, runtime gives %g", o.Name, i, o.Data[i], ref[i])
			}
		}
	}

	// Binary tensor extension both ways.
	header, _ := json.Marshal(map[string]any{
		"inputs":     []any{map[string]any{"name": in, "shape": first.Shape, "datatype": "FP32", "parameters": map[string]any{"binary_data_size": 4 * first.Len()}}},
		"parameters": map[string]any{"binary_data_output": true},
	})
	code, body, h := do(t, "POST", base+"/v2/models/digits/infer", append(header, tensor.RawBytes(first)...),
		map[string]string{headerLengthKey: strconv.Itoa(len(header))})
	if code != 200 {
		t.Fatalf("binary infer: %d %s", code, body)
	}
	hl, _ := strconv.Atoi(h.Get(headerLengthKey))
	for name, ref := range want {
		got := body[hl:]
		for i, v := range ref.F32() {
			if g := math.Float32frombits(binary.LittleEndian.Uint32(got[4*i:])); g != v {
				t.Fatalf("binary output %s[%d] = %g, want %g", name, i, g, v)
			}
		}
	}

	bad := func(name string, wantStatus int, url string, body []byte) {
		t.Helper()
		code, b, _ := do(t, "POST", url, body, nil)
		var e map[string]string
		if code != wantStatus || json.Unmarshal(b, &e) != nil || e["error"] == "" {
			t.Errorf("%s: %d %s, want %d with an error body", name, code, b, wantStatus)
		}
	}
	infer := base + "/v2/models/digits/infer"
	bad("malformed JSON", 400, infer, []byte(`{"inputs": [`))
	bad("wrong shape", 400, infer, inferBody(in, tensor.New([]int{2, 64}, make([]float32, 128)), "FP32"))
	bad("wrong datatype", 400, infer, inferBody(in, tensor.New([]int{1, 1, 8, 8}, make([]float64, 64)), "FP64"))
	bad("element count", 400, infer, []byte(fmt.Sprintf(`{"inputs":[{"name":%q,"shape":[1,1,8,8],"datatype":"FP32","data":[1,2,3]}]}`, in)))
	bad("unknown input", 400, infer, inferBody("nope", first, "FP32"))
	bad("unknown model", 404, base+"/v2/models/nope/infer", inferBody(in, first, "FP32"))
	bad("unknown version", 404, base+"/v2/models/digits/versions/7/infer", inferBody(in, first, "FP32"))
	bad("100 MiB body", 413, infer, bytes.Repeat([]byte(" "), 100<<20))

	// Still serving after all that.
	if code, body, _ := do(t, "POST", infer, inferBody(in, first, "FP32"), nil); code != 200 {
		t.Fatalf("infer after errors: %d %s", code, body)
	}
	code, body, _ = do(t, "GET", base+"/metrics", nil, nil)
	if code != 200 || !strings.Contains(string(body), `actswap_requests_total{model="digits",protocol="http",status="400",version="1"}`) {
		t.Errorf("metrics missing request counts: %d", code)
	}
}

func TestGRPCEndToEnd(t *testing.T) {
	path, x := digitsModel(t)
	srv := startServer(t, Options{}, ModelSpec{Name: "digits", Version: "1", Path: path})
	c := grpcClient(t, srv)
	ctx := context.Background()
	if r, err := c.ServerLive(ctx, &v2pb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Fatalf("ServerLive: %v %v", r, err)
	}
	if r, err := c.ServerReady(ctx, &v2pb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Fatalf("ServerReady: %v %v", r, err)
	}
	if r, err := c.ModelReady(ctx, &v2pb.ModelReadyRequest{Name: "digits"}); err != nil || !r.Ready {
		t.Fatalf("ModelReady: %v %v", r, err)
	}
	if r, err := c.ServerMetadata(ctx, &v2pb.ServerMetadataRequest{}); err != nil || r.Name != "actswap" {
		t.Fatalf("ServerMetadata: %v %v", r, err)
	}
	md, err := c.ModelMetadata(ctx, &v2pb.ModelMetadataRequest{Name: "digits"})
	if err != nil || len(md.Inputs) != 1 || md.Inputs[0].Shape[0] != -1 || len(md.Outputs) != 1 {
		t.Fatalf("ModelMetadata: %v %v", md, err)
	}
	first := tensor.SliceRows(x, 0, 2)
	want := reference(t, path, first)
	shape := []int64{2, 1, 8, 8}
	resp, err := c.ModelInfer(ctx, &v2pb.ModelInferRequest{ModelName: "digits", Inputs: []*v2pb.ModelInferRequest_InferInputTensor{
		{Name: md.Inputs[0].Name, Datatype: "FP32", Shape: shape, Contents: &v2pb.InferTensorContents{Fp32Contents: first.F32()}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// An answer with no outputs, or raw contents of another length, must not pass.
	if len(resp.Outputs) != len(want) || len(resp.RawOutputContents) != len(want) {
		t.Fatalf("gRPC answer has %d outputs and %d raw contents, want %d", len(resp.Outputs), len(resp.RawOutputContents), len(want))
	}
	for i, o := range resp.Outputs {
		ref := want[o.Name].F32()
		raw := resp.RawOutputContents[i]
		if len(raw) != 4*len(ref) {
			t.Fatalf("grpc output %s: %d raw bytes, want %d", o.Name, len(raw), 4*len(ref))
		}
		for j, v := range ref {
			if g := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])); g != v {
				t.Fatalf("grpc output %s[%d] = %g, want %g", o.Name, j, g, v)
			}
		}
	}
	_, err = c.ModelInfer(ctx, &v2pb.ModelInferRequest{ModelName: "digits", Inputs: []*v2pb.ModelInferRequest_InferInputTensor{
		{Name: md.Inputs[0].Name, Datatype: "FP32", Shape: []int64{1, 64}, Contents: &v2pb.InferTensorContents{Fp32Contents: make([]float32, 64)}},
	}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("wrong shape over gRPC: %v, want InvalidArgument", err)
	}
	// A huge shape with tiny contents is refused before anything is allocated for it.
	_, err = c.ModelInfer(ctx, &v2pb.ModelInferRequest{ModelName: "digits", Inputs: []*v2pb.ModelInferRequest_InferInputTensor{
		{Name: md.Inputs[0].Name, Datatype: "FP64", Shape: []int64{1 << 30, 2}, Contents: &v2pb.InferTensorContents{Fp64Contents: []float64{1}}},
	}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("huge shape over gRPC: %v, want ResourceExhausted", err)
	}
	if _, err := c.ModelMetadata(ctx, &v2pb.ModelMetadataRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown model over gRPC: %v, want NotFound", err)
	}
}

// A Triton-layout repository: numeric versions only, "0…" folders ignored, and a request without
// a version gets the highest one.
func TestRepositoryVersions(t *testing.T) {
	path, _ := digitsModel(t)
	model, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, v := range []string{"1", "3", "07", "x"} {
		if err := os.MkdirAll(filepath.Join(dir, "digits", v), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "digits", v, "model.onnx"), model, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	specs, err := ScanRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, Options{}, specs...)
	code, body, _ := do(t, "GET", "http://"+srv.Addr()+"/v2/models/digits", nil, nil)
	// Without config.pbtxt the version policy is Triton's default, the latest version only.
	if code != 200 || !strings.Contains(string(body), `"versions":["3"]`) {
		t.Fatalf("metadata: %d %s", code, body)
	}
	m, err := srv.repo.lookup("digits", "")
	if err != nil || m.Version != "3" {
		t.Fatalf("latest version: %v %v, want 3", m, err)
	}
}
