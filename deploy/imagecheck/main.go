// Command imagecheck checks a running actswap serve (the container image, as
// deploy/test-image.sh runs it) from outside: readiness, a REST and a gRPC inference whose outputs
// must match the golden outputs of an ONNX backend-test folder (computed by onnxruntime), the
// grpc.health.v1 service, and the Prometheus metrics on the REST port. It exits non-zero naming
// the first check that failed.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/serve/v2pb"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	rest := flag.String("rest", "http://127.0.0.1:8080", "REST base URL")
	grpcAddr := flag.String("grpc", "127.0.0.1:8081", "gRPC address")
	model := flag.String("model", "digits", "model name")
	golden := flag.String("golden", "models/digits_vit/test_data_set_0", "folder with input_0.pb and output_0.pb")
	wait := flag.Duration("wait", 60*time.Second, "longest wait for readiness")
	flag.Parse()
	if err := run(*rest, *grpcAddr, *model, *golden, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "imagecheck:", err)
		os.Exit(1)
	}
}

func run(rest, grpcAddr, model, golden string, wait time.Duration) error {
	if err := waitReady(rest, wait); err != nil {
		return err
	}
	fmt.Println("imagecheck: ready")
	md, err := getJSON(rest + "/v2/models/" + model)
	if err != nil {
		return err
	}
	inputName := md["inputs"].([]any)[0].(map[string]any)["name"].(string)
	outputName := md["outputs"].([]any)[0].(map[string]any)["name"].(string)
	in, want, err := readGolden(golden, inputName, outputName)
	if err != nil {
		return err
	}

	got, err := restInfer(rest, model, inputName, in)
	if err != nil {
		return err
	}
	if err := compare("REST", got, want.F32()); err != nil {
		return err
	}
	fmt.Printf("imagecheck: REST infer matches the golden outputs (%d values)\n", len(got))

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, svc := range []string{"", model} {
		h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			return fmt.Errorf("grpc health %q: %w", svc, err)
		}
		if h.Status != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("grpc health %q: %s, want SERVING", svc, h.Status)
		}
	}
	fmt.Println("imagecheck: grpc.health.v1 SERVING (server and model)")
	shape := make([]int64, len(in.Shape))
	for i, d := range in.Shape {
		shape[i] = int64(d)
	}
	resp, err := v2pb.NewGRPCInferenceServiceClient(conn).ModelInfer(ctx, &v2pb.ModelInferRequest{
		ModelName:        model,
		Inputs:           []*v2pb.ModelInferRequest_InferInputTensor{{Name: inputName, Datatype: "FP32", Shape: shape}},
		Outputs:          []*v2pb.ModelInferRequest_InferRequestedOutputTensor{{Name: outputName}},
		RawInputContents: [][]byte{float32Bytes(in.F32())},
	})
	if err != nil {
		return fmt.Errorf("grpc infer: %w", err)
	}
	if len(resp.RawOutputContents) != 1 || len(resp.RawOutputContents[0]) != 4*len(want.F32()) {
		return fmt.Errorf("grpc infer: %d raw outputs, want one of %d bytes", len(resp.RawOutputContents), 4*len(want.F32()))
	}
	raw := resp.RawOutputContents[0]
	grpcOut := make([]float32, len(raw)/4)
	for i := range grpcOut {
		grpcOut[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	if err := compare("gRPC", grpcOut, want.F32()); err != nil {
		return err
	}
	fmt.Printf("imagecheck: gRPC infer matches the golden outputs (%d values)\n", len(grpcOut))

	metrics, err := getText(rest + "/metrics")
	if err != nil {
		return err
	}
	if !countsRequest(metrics, model, "grpc") || !countsRequest(metrics, model, "http") {
		return errors.New("/metrics does not count the REST and gRPC requests (actswap_requests_total with status 200)")
	}
	fmt.Println("imagecheck: /metrics on the REST port counts the requests")
	return nil
}

// readGolden reads input_0.pb and output_0.pb of the golden data set folder with the runtime's
// reader, named after the served model's first input and output.
func readGolden(dir, inputName, outputName string) (in, want *tensor.Tensor, err error) {
	ins, outs, err := runtime.ReadDataSetTensors(dir, []string{inputName}, []string{outputName})
	if err != nil {
		return nil, nil, fmt.Errorf("golden %w", err)
	}
	if ins[0].DType != tensor.Float32 {
		return nil, nil, fmt.Errorf("%s: %s, imagecheck compares float32 tensors", runtime.InputFile(dir, 0), ins[0].DType)
	}
	if outs[0].DType != tensor.Float32 {
		return nil, nil, fmt.Errorf("%s: %s, imagecheck compares float32 tensors", runtime.OutputFile(dir, 0), outs[0].DType)
	}
	return ins[0], outs[0], nil
}

func waitReady(rest string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		resp, err := http.Get(rest + "/v2/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/v2/health/ready not 200 within %s (last: %v)", rest, wait, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getText(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b), nil
}

func getJSON(url string) (map[string]any, error) {
	text, err := getText(url)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return v, nil
}

func restInfer(rest, model, inputName string, in *tensor.Tensor) ([]float32, error) {
	body, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{
		"name": inputName, "shape": in.Shape, "datatype": "FP32", "data": in.F32(),
	}}})
	resp, err := http.Post(rest+"/v2/models/"+model+"/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("REST infer: %d %s", resp.StatusCode, b)
	}
	var out struct {
		Outputs []struct {
			Data []float32 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Outputs) != 1 {
		return nil, fmt.Errorf("REST infer: unexpected answer %.200s (%v)", b, err)
	}
	return out.Outputs[0].Data, nil
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// compare allows 1e-4·max(1,|want|): actswap's kernels and onnxruntime's sum in different orders.
// NaN never matches.
func compare(what string, got, want []float32) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d outputs, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.Abs(g-w) > 1e-4*math.Max(1, math.Abs(w)) {
			return fmt.Errorf("%s: output[%d] = %g, golden %g", what, i, g, w)
		}
	}
	return nil
}

// countsRequest finds an actswap_requests_total sample of the model and protocol with status 200
// and a count of at least 1, whatever other labels the server adds.
func countsRequest(metrics, model, protocol string) bool {
	for _, line := range strings.Split(metrics, "\n") {
		labels, value, ok := strings.Cut(strings.TrimPrefix(line, "actswap_requests_total{"), "} ")
		if !ok || len(labels) == len(line) || !strings.HasPrefix(line, "actswap_requests_total{") {
			continue
		}
		if strings.Contains(labels, `model="`+model+`"`) && strings.Contains(labels, `protocol="`+protocol+`"`) &&
			strings.Contains(labels, `status="200"`) && value != "0" {
			return true
		}
	}
	return false
}
