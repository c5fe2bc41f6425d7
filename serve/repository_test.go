package serve

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actswap/actswap/serve/v2pb"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// digitsConfig is a complete Triton configuration of the bundled digits ViT
// (input "input" float32[N,1,8,8], output "output" float32[N,10]).
const digitsConfig = `
name: "digits"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input", data_type: TYPE_FP32, dims: [ 1, 8, 8 ] } ]
output [ { name: "output", data_type: TYPE_FP32, dims: [ 10 ] } ]
dynamic_batching { max_queue_delay_microseconds: 500, preferred_batch_size: [ 4, 8 ] }
instance_group [ { count: 2, kind: KIND_CPU } ]
model_operations { op_library_filename: "libactswap_ort.so" }
`

// writeVersion puts the model into DIR/NAME/VERSION, as a file or in the folder form
// VERSION/model.onnx/model.onnx.
func writeVersion(t *testing.T, dir, name, version string, model []byte, folderForm bool) {
	t.Helper()
	vdir := filepath.Join(dir, name, version)
	if folderForm {
		vdir = filepath.Join(vdir, "model.onnx")
	}
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vdir, "model.onnx"), model, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeConfig(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name, configFileName), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tritonRepository builds a repository: digits (config.pbtxt, version 1 a file, version 2 in the
// folder form) and digits_all (every version served).
func tritonRepository(t *testing.T) (dir, modelPath string, x *tensor.Tensor) {
	modelPath, x = digitsModel(t)
	model, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	writeConfig(t, dir, "digits", digitsConfig)
	writeVersion(t, dir, "digits", "1", model, false)
	writeVersion(t, dir, "digits", "2", model, true)
	writeConfig(t, dir, "digits_all", strings.Replace(digitsConfig, `name: "digits"`, `name: "digits_all" version_policy: { all { } }`, 1))
	writeVersion(t, dir, "digits_all", "1", model, false)
	writeVersion(t, dir, "digits_all", "2", model, true)
	return dir, modelPath, x
}

func grpcConn(t *testing.T, srv *Server) *grpc.ClientConn {
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// restInferDigits sends rows of x to NAME over REST and checks the answer against a direct run.
func restInferDigits(t *testing.T, srv *Server, name, modelPath string, x *tensor.Tensor) (version string) {
	t.Helper()
	code, body, _ := do(t, "POST", "http://"+srv.Addr()+"/v2/models/"+name+"/infer", inferBody("input", x, "FP32"), nil)
	if code != 200 {
		t.Fatalf("infer %s: %d %s", name, code, body)
	}
	var resp struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Name string    `json:"name"`
			Data []float32 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	want := reference(t, modelPath, x)
	if len(resp.Outputs) != 1 || !slices.Equal(resp.Outputs[0].Data, want["output"].F32()) {
		t.Fatalf("infer %s: outputs differ from a direct run", name)
	}
	return resp.ModelVersion
}

// A repository with config.pbtxt, two versions and the folder form loads, serves the latest
// version by default (every version with version_policy all), applies the configuration
// (batching, instances) and answers ModelConfig the same over REST and gRPC.
func TestTritonRepositoryServesLatest(t *testing.T) {
	dir, modelPath, x := tritonRepository(t)
	srv := startServer(t, Options{Repository: dir})

	code, body, _ := do(t, "GET", "http://"+srv.Addr()+"/v2/models/digits", nil, nil)
	if code != 200 || !strings.Contains(string(body), `"versions":["2"]`) {
		t.Fatalf("digits metadata: %d %s, want only version 2", code, body)
	}
	code, body, _ = do(t, "GET", "http://"+srv.Addr()+"/v2/models/digits_all", nil, nil)
	if code != 200 || !strings.Contains(string(body), `"versions":["1","2"]`) {
		t.Fatalf("digits_all metadata: %d %s, want versions 1 and 2", code, body)
	}
	if v := restInferDigits(t, srv, "digits", modelPath, tensor.SliceRows(x, 0, 3)); v != "2" {
		t.Fatalf("a request without a version ran version %q, want the latest, 2 (folder form)", v)
	}
	if code, body, _ := do(t, "POST", "http://"+srv.Addr()+"/v2/models/digits/versions/1/infer", inferBody("input", tensor.SliceRows(x, 0, 1), "FP32"), nil); code != 404 {
		t.Fatalf("version 1 of digits is not served by the default policy, got %d %s", code, body)
	}
	if code, body, _ := do(t, "POST", "http://"+srv.Addr()+"/v2/models/digits/infer", inferBody("input", tensor.SliceRows(x, 0, 9), "FP32"), nil); code != 400 || !strings.Contains(string(body), "exceeds max_batch_size 8") {
		t.Fatalf("9 rows for max_batch_size 8: %d %s, want 400", code, body)
	}
	m, err := srv.repo.lookup("digits", "")
	if err != nil {
		t.Fatal(err)
	}
	if !m.batchable || m.sched.maxBatch != 8 || m.sched.maxDelay != 500*time.Microsecond {
		t.Errorf("dynamic_batching not applied: batchable %v, max batch %d, delay %v", m.batchable, m.sched.maxBatch, m.sched.maxDelay)
	}

	c := v2pb.NewGRPCInferenceServiceClient(grpcConn(t, srv))
	cfg, err := c.ModelConfig(context.Background(), &v2pb.ModelConfigRequest{Name: "digits"})
	if err != nil {
		t.Fatal(err)
	}
	want := &v2pb.ModelConfig{}
	if err := unmarshalConfigText(digitsConfig, want); err != nil {
		t.Fatal(err)
	}
	want.Backend = tritonOnnxBackend // completed from the model, as Triton does
	if !proto.Equal(cfg.Config, want) {
		t.Fatalf("gRPC ModelConfig:\n%v\nwant\n%v", cfg.Config, want)
	}
	code, body, _ = do(t, "GET", "http://"+srv.Addr()+"/v2/models/digits/config", nil, nil)
	if code != 200 || !strings.Contains(string(body), `"max_batch_size":8`) || !strings.Contains(string(body), `"dims":[1,8,8]`) {
		t.Fatalf("REST config: %d %s", code, body)
	}
	restCfg := &v2pb.ModelConfig{}
	if err := protojson.Unmarshal(body, restCfg); err != nil || !proto.Equal(restCfg, want) {
		t.Fatalf("REST config differs from gRPC's: %v\n%s", err, body)
	}
}

// Explicit model control: nothing loads at startup, and load, unload and index work over REST and
// gRPC with Triton's states; health follows the model.
func TestRepositoryLoadUnloadIndex(t *testing.T) {
	dir, modelPath, x := tritonRepository(t)
	srv := startServer(t, Options{Repository: dir, ModelControl: ModelControlExplicit})
	base := "http://" + srv.Addr()
	ctx := context.Background()
	conn := grpcConn(t, srv)
	c := v2pb.NewGRPCInferenceServiceClient(conn)
	hc := healthpb.NewHealthClient(conn)

	index := func(ready bool) string {
		t.Helper()
		code, body, _ := do(t, "POST", base+"/v2/repository/index", []byte(`{"ready":`+map[bool]string{true: "true", false: "false"}[ready]+`}`), nil)
		if code != 200 {
			t.Fatalf("index: %d %s", code, body)
		}
		return strings.TrimSpace(string(body))
	}
	if got := index(false); got != `[{"name":"digits"},{"name":"digits_all"}]` {
		t.Fatalf("index before any load: %s", got)
	}
	if code, body, _ := do(t, "POST", base+"/v2/models/digits/infer", inferBody("input", tensor.SliceRows(x, 0, 1), "FP32"), nil); code != 404 {
		t.Fatalf("infer before load: %d %s, want 404", code, body)
	}

	// Load over REST, unload over gRPC.
	if code, body, _ := do(t, "POST", base+"/v2/repository/models/digits/load", nil, nil); code != 200 {
		t.Fatalf("REST load: %d %s", code, body)
	}
	if got := index(true); got != `[{"name":"digits","version":"2","state":"READY"}]` {
		t.Fatalf("ready index after load: %s", got)
	}
	restInferDigits(t, srv, "digits", modelPath, tensor.SliceRows(x, 0, 2))
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "digits"}); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health of a loaded model: %v %v", r, err)
	}
	if _, err := c.RepositoryModelUnload(ctx, &v2pb.RepositoryModelUnloadRequest{ModelName: "digits"}); err != nil {
		t.Fatal(err)
	}
	gi, err := c.RepositoryIndex(ctx, &v2pb.RepositoryIndexRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantIndex := []*v2pb.RepositoryIndexResponse_ModelIndex{{Name: "digits", State: "UNAVAILABLE", Reason: "unloaded"}, {Name: "digits_all"}}
	if len(gi.Models) != 2 || !proto.Equal(gi.Models[0], wantIndex[0]) || !proto.Equal(gi.Models[1], wantIndex[1]) {
		t.Fatalf("gRPC index after unload: %v", gi.Models)
	}
	if code, body, _ := do(t, "POST", base+"/v2/models/digits/infer", inferBody("input", tensor.SliceRows(x, 0, 1), "FP32"), nil); code != 404 || !strings.Contains(string(body), "not loaded") {
		t.Fatalf("infer after unload: %d %s", code, body)
	}
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "digits"}); err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health of an unloaded model: %v %v", r, err)
	}

	// Load over gRPC, unload over REST.
	if _, err := c.RepositoryModelLoad(ctx, &v2pb.RepositoryModelLoadRequest{ModelName: "digits_all"}); err != nil {
		t.Fatal(err)
	}
	gi, err = c.RepositoryIndex(ctx, &v2pb.RepositoryIndexRequest{Ready: true})
	if err != nil || len(gi.Models) != 2 || gi.Models[0].Version != "1" || gi.Models[1].Version != "2" || gi.Models[1].State != "READY" {
		t.Fatalf("gRPC ready index after load: %v %v", gi.GetModels(), err)
	}
	restInferDigits(t, srv, "digits_all", modelPath, tensor.SliceRows(x, 0, 1))
	if code, body, _ := do(t, "POST", base+"/v2/repository/models/digits_all/unload", []byte(`{}`), nil); code != 200 {
		t.Fatalf("REST unload: %d %s", code, body)
	}
	if got := index(true); got != `[]` {
		t.Fatalf("ready index after every unload: %s", got)
	}

	// Errors name what is wrong.
	if _, err := c.RepositoryModelLoad(ctx, &v2pb.RepositoryModelLoadRequest{ModelName: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("load of a model not in the repository: %v, want NotFound", err)
	}
	if code, body, _ := do(t, "POST", base+"/v2/repository/models/..%2F..%2Fetc/load", nil, nil); code < 400 {
		t.Errorf("load of a path outside the repository: %d %s", code, body)
	}
	if code, body, _ := do(t, "POST", base+"/v2/repository/models/digits/unload", nil, nil); code != 404 {
		t.Errorf("unload of a model not loaded: %d %s, want 404", code, body)
	}
}

// Without explicit model control, load and unload are refused (as Triton does).
func TestRepositoryLoadNeedsExplicitMode(t *testing.T) {
	dir, _, _ := tritonRepository(t)
	srv := startServer(t, Options{Repository: dir})
	code, body, _ := do(t, "POST", "http://"+srv.Addr()+"/v2/repository/models/digits/unload", nil, nil)
	if code != 400 || !strings.Contains(string(body), "explicit") {
		t.Fatalf("unload in mode none: %d %s", code, body)
	}
	c := v2pb.NewGRPCInferenceServiceClient(grpcConn(t, srv))
	if _, err := c.RepositoryModelLoad(context.Background(), &v2pb.RepositoryModelLoadRequest{ModelName: "digits"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("gRPC load in mode none: %v", err)
	}
}

// Poll mode serves a version added to the repository and unloads a model whose folder is removed.
func TestRepositoryPolling(t *testing.T) {
	dir, modelPath, x := tritonRepository(t)
	srv := startServer(t, Options{Repository: dir, ModelControl: ModelControlPoll, PollInterval: 20 * time.Millisecond})
	model, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	writeVersion(t, dir, "digits", "5", model, false)
	waitFor(t, "version 5 served", func() bool {
		m, err := srv.repo.lookup("digits", "")
		return err == nil && m.Version == "5"
	})
	if v := restInferDigits(t, srv, "digits", modelPath, tensor.SliceRows(x, 0, 1)); v != "5" {
		t.Fatalf("after the poll, requests run version %q, want 5", v)
	}
	if err := os.RemoveAll(filepath.Join(dir, "digits_all")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "digits_all unloaded", func() bool { return !srv.repo.has("digits_all") })
	// A broken configuration is logged; the model keeps serving what it had.
	writeConfig(t, dir, "digits", `name: "digits" platform: "tensorrt_plan"`)
	time.Sleep(100 * time.Millisecond)
	if m, err := srv.repo.lookup("digits", ""); err != nil || m.Version != "5" {
		t.Fatalf("a broken config.pbtxt took the model down: %v %v", m, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Every configuration actswap cannot honour is refused with an error naming the file and field.
func TestTritonConfigErrors(t *testing.T) {
	modelPath, _ := digitsModel(t)
	model, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ config, want string }{
		{`name: "digits" platform: "tensorflow_graphdef"`, `platform "tensorflow_graphdef" is not supported`},
		{`name: "digits" backend: "python"`, `backend "python" is not supported`},
		{`name: "other"`, `differs from the model's folder name "digits"`},
		{`name: "digits" max_batch_size: 4 sequence_batching { }`, `sequence_batching is not supported`},
		{`name: "digits" ensemble_scheduling { }`, `ensemble_scheduling is not supported`},
		{`name: "digits" dynamic_batching { }`, `dynamic_batching needs max_batch_size > 0`},
		{`name: "digits" instance_group [ { kind: KIND_GPU } ]`, `instance_group kind KIND_GPU is not supported`},
		{`name: "digits" max_batch_size: 8 input [ { name: "input" data_type: TYPE_FP32 dims: [ 1, 8, 8 ] reshape { shape: [ 64 ] } } ]`, `input "input": reshape is not supported`},
		{`name: "digits" max_batch_size: 8 input [ { name: "input" data_type: TYPE_FP32 dims: [ 1, 8, 9 ] } ]`, `input "input": dims [1 8 9], the model's are [1,8,8]`},
		{`name: "digits" max_batch_size: 8 input [ { name: "input" data_type: TYPE_INT64 dims: [ 1, 8, 8 ] } ]`, `data_type TYPE_INT64, the model's is TYPE_FP32`},
		{`name: "digits" input [ { name: "input" data_type: TYPE_FP32 dims: [ 1, 8, 8 ] } ]`, `dims [1 8 8], the model's are [batch,1,8,8] (with max_batch_size 0, dims include the batch dimension)`},
		{`name: "digits" max_batch_size: 8 input [ { name: "pixels" data_type: TYPE_FP32 dims: [ 1, 8, 8 ] } ]`, `input "pixels" is not in the model (its inputs: "input")`},
		{`name: "digits" max_batch_size: 8 output [ { name: "output" data_type: TYPE_FP32 dims: [ 11 ] } ]`, `output "output": dims [11]`},
		{`name: "digits" version_policy { specific { versions: [ 3 ] } }`, `version 3 is not in the repository`},
		{`name: "digits" max_batch_sise: 8`, `unknown field: max_batch_sise`},
		{`name: "digits" default_model_filename: "../model.onnx"`, `must be a file name`},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		writeConfig(t, dir, "digits", tc.config)
		writeVersion(t, dir, "digits", "1", model, false)
		_, err := New(nil, Options{Repository: dir})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "digits") {
			t.Errorf("config %q:\n got %v\nwant an error containing %q", tc.config, err, tc.want)
		}
	}
}

// grpc.health.v1 answers SERVING for the server, the inference service and each model, and
// server reflection lists and describes the services (what grpcurl list/describe do).
func TestGRPCHealthAndReflection(t *testing.T) {
	path, _ := digitsModel(t)
	srv := startServer(t, Options{}, ModelSpec{Name: "digits", Version: "1", Path: path})
	conn := grpcConn(t, srv)
	ctx := context.Background()
	hc := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", "inference.GRPCInferenceService", "digits"} {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %v %v", svc, r, err)
		}
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("health of an unknown model: %v, want NotFound", err)
	}

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	list := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
	var services []string
	for _, s := range list.GetListServicesResponse().GetService() {
		services = append(services, s.Name)
	}
	for _, want := range []string{"inference.GRPCInferenceService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(services, want) {
			t.Fatalf("reflection list: %v, missing %s", services, want)
		}
	}
	desc := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "inference.GRPCInferenceService"}})
	var methods []string
	for _, raw := range desc.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, fd); err != nil {
			t.Fatal(err)
		}
		for _, svc := range fd.Service {
			if svc.GetName() == "GRPCInferenceService" {
				for _, m := range svc.Method {
					methods = append(methods, m.GetName())
				}
			}
		}
	}
	for _, want := range []string{"ModelInfer", "ModelConfig", "ModelStatistics", "RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"} {
		if !slices.Contains(methods, want) {
			t.Fatalf("reflection describe: methods %v, missing %s", methods, want)
		}
	}
	// Draining turns health NOT_SERVING before the listeners close.
	srv.stopHealth()
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: ""}); err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health while draining: %v %v", r, err)
	}
}

// ModelStatistics counts requests, rows, executions and batch sizes, the same over REST and gRPC.
func TestModelStatistics(t *testing.T) {
	dir, modelPath, x := tritonRepository(t)
	srv := startServer(t, Options{Repository: dir})
	for _, rows := range []int{1, 3, 2} {
		restInferDigits(t, srv, "digits", modelPath, tensor.SliceRows(x, 0, rows))
	}
	if code, _, _ := do(t, "POST", "http://"+srv.Addr()+"/v2/models/digits/infer", inferBody("input", tensor.SliceRows(x, 0, 1), "FP64"), nil); code != 400 {
		t.Fatalf("a wrong datatype should fail, got %d", code)
	}
	c := v2pb.NewGRPCInferenceServiceClient(grpcConn(t, srv))
	resp, err := c.ModelStatistics(context.Background(), &v2pb.ModelStatisticsRequest{Name: "digits"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ModelStats) != 1 {
		t.Fatalf("stats: %v", resp)
	}
	st := resp.ModelStats[0]
	is := st.InferenceStats
	if st.Name != "digits" || st.Version != "2" || st.InferenceCount != 6 || is.Success.Count != 3 || is.Fail.Count != 1 ||
		is.Queue.Count != 3 || is.ComputeInfer.Count != 3 || is.ComputeInfer.Ns == 0 || st.ExecutionCount != 3 || st.LastInference == 0 {
		t.Fatalf("stats: %v", st)
	}
	var sizes []uint64
	for _, b := range st.BatchStats {
		sizes = append(sizes, b.BatchSize)
	}
	if !slices.Equal(sizes, []uint64{1, 2, 3}) {
		t.Fatalf("batch sizes %v, want [1 2 3]", sizes)
	}
	all, err := c.ModelStatistics(context.Background(), &v2pb.ModelStatisticsRequest{})
	if err != nil || len(all.ModelStats) != 3 { // digits 2, digits_all 1 and 2
		t.Fatalf("stats of every model: %v %v", all, err)
	}
	code, body, _ := do(t, "GET", "http://"+srv.Addr()+"/v2/models/digits/stats", nil, nil)
	if code != 200 || !strings.Contains(string(body), `"inference_count":6`) || !strings.Contains(string(body), `"execution_count":3`) {
		t.Fatalf("REST stats: %d %s", code, body)
	}
	restStats := &v2pb.ModelStatisticsResponse{}
	if err := protojson.Unmarshal(body, restStats); err != nil || !proto.Equal(restStats, resp) {
		t.Fatalf("REST stats differ from gRPC's: %v\n%s\n%v", err, body, resp)
	}
	if code, _, _ := do(t, "GET", "http://"+srv.Addr()+"/v2/models/nope/stats", nil, nil); code != 404 {
		t.Fatalf("stats of an unknown model: %d", code)
	}
}

func unmarshalConfigText(text string, cfg *v2pb.ModelConfig) error {
	return prototext.Unmarshal([]byte(text), cfg)
}

// Unloading a model while requests arrive answers each one (a result, 404 or 503), never panics
// on the closed queue of the unloaded version.
func TestUnloadUnderLoad(t *testing.T) {
	dir, _, x := tritonRepository(t)
	srv := startServer(t, Options{Repository: dir, ModelControl: ModelControlExplicit, LoadModels: []string{"digits"}})
	body := inferBody("input", tensor.SliceRows(x, 0, 1), "FP32")
	// A request that looked the model up just before its unload closed the queue gets 503.
	stale, err := srv.repo.lookup("digits", "")
	if err != nil {
		t.Fatal(err)
	}
	stale.sched.close()
	if _, _, err := stale.infer(context.Background(), nil, []inferInput{{"input", tensor.SliceRows(x, 0, 1)}}, nil); statusOf(err) != 503 {
		t.Fatalf("request to a closed version: %v, want 503", err)
	}
	if _, err := srv.loadFromRepository("digits"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	errs := make(chan string, 8)
	for range 8 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- ""
					return
				default:
				}
				m, err := srv.repo.lookup("digits", "")
				if err != nil {
					continue
				}
				_, _, err = m.infer(context.Background(), nil, []inferInput{{"input", tensor.SliceRows(x, 0, 1)}}, nil)
				if err != nil && statusOf(err) != 503 {
					errs <- err.Error()
					return
				}
			}
		}()
	}
	for range 5 {
		if err := srv.unloadModel("digits", "unloaded"); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.loadFromRepository("digits"); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for range 8 {
		if e := <-errs; e != "" {
			t.Fatalf("a request during unload failed: %s", e)
		}
	}
	if code, b, _ := do(t, "POST", "http://"+srv.Addr()+"/v2/models/digits/infer", body, nil); code != 200 {
		t.Fatalf("after reloads: %d %s", code, b)
	}
}

// Without config.pbtxt, --max-batch only bounds dynamic batches: a request may carry more rows.
func TestNoConfigNoRowLimit(t *testing.T) {
	path, x := digitsModel(t)
	srv := startServer(t, Options{MaxBatch: 4}, ModelSpec{Name: "digits", Version: "1", Path: path})
	restInferDigits(t, srv, "digits", path, tensor.SliceRows(x, 0, 9))
}

func TestBatchStatsBounded(t *testing.T) {
	var s modelStats
	for rows := 1; rows <= 2*maxBatchSizeStats; rows++ {
		s.execution(rows, []time.Time{time.Now()}, time.Now(), time.Millisecond)
	}
	st := s.proto("m", "1")
	if len(st.BatchStats) != maxBatchSizeStats || st.ExecutionCount != 2*maxBatchSizeStats {
		t.Fatalf("%d batch sizes kept, %d executions counted", len(st.BatchStats), st.ExecutionCount)
	}
}
