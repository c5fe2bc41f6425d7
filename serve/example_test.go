package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"

	"github.com/actswap/actswap/serve"
)

// Serve a bundled model over the V2 inference protocol on a loopback port and send it one
// REST request, as a KServe or Triton client would.
func ExampleServer() {
	srv, err := serve.New([]serve.ModelSpec{{Name: "digits", Path: "../models/digits_mlp_gelu/model.onnx"}},
		serve.Options{Addr: "127.0.0.1:0", Threads: 1, Workers: 1})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	image := make([]float32, 64) // one 8×8 digit, all zeros
	body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{
		{"name": "input", "shape": []int{1, 1, 8, 8}, "datatype": "FP32", "data": image},
	}})
	resp, err := http.Post("http://"+srv.Addr()+"/v2/models/digits/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Outputs []struct {
			Name     string    `json:"name"`
			Shape    []int     `json:"shape"`
			Datatype string    `json:"datatype"`
			Data     []float32 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		log.Fatal(err)
	}
	out := answer.Outputs[0]
	fmt.Println(resp.StatusCode, out.Name, out.Shape, out.Datatype, len(out.Data), "logits")
	// Output:
	// 200 output [1 10] FP32 10 logits
}
