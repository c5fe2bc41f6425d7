package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"testing"

	"github.com/actswap/actswap/serve/v2pb"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// jsonRequest writes a V2 request for rows×64 FP32 values.
func jsonRequest(rows int) []byte {
	var body []byte
	body = fmt.Appendf(body, `{"inputs":[{"name":"x","shape":[%d,64],"datatype":"FP32","data":[`, rows)
	for i := 0; i < rows*64; i++ {
		if i > 0 {
			body = append(body, ',')
		}
		body = strconv.AppendFloat(body, float64(i%1000)*0.001234567-0.6, 'g', 7, 32)
	}
	return append(body, "]}]}"...)
}

func decodeAll(body []byte) (*restRequest, error) {
	return decodeRESTRequest(bytes.NewReader(body), bytes.NewReader(nil), decodeLimits{maxElements: 1 << 30, bodyBytes: int64(len(body))})
}

// The decoder's values must equal encoding/json's reading of the same text (an independent
// parser), and what it allocates beyond the tensor must stay under the body's size (the issue
// allows 4×; the old decoder allocated ~50×).
func TestDecodeMatchesEncodingJSONAndStaysSmall(t *testing.T) {
	body := jsonRequest(20_000) // ~13 MB
	var ref struct {
		Inputs []struct {
			Data []float32 `json:"data"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(body, &ref); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, err := decodeAll(body)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	got := req.inputs[0].tensor.F32()
	if err := tensor.AllClose(tensor.New([]int{len(got)}, got), tensor.New([]int{len(ref.Inputs[0].Data)}, ref.Inputs[0].Data), 0, 0); err != nil {
		t.Fatalf("decoded values differ from encoding/json's: %v", err)
	}
	overhead := int64(after.TotalAlloc-before.TotalAlloc) - int64(4*len(got))
	t.Logf("body %d bytes, tensor %d bytes, other allocations %d bytes (%.3f× the body)", len(body), 4*len(got), overhead, float64(overhead)/float64(len(body)))
	if overhead > int64(len(body)) {
		t.Errorf("decoding a %d-byte body allocated %d bytes beyond its tensor", len(body), overhead)
	}
}

func TestJSONNumberGrammar(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "1.5": true, "-12e+3": true, "3E-2": true, "1e5": true,
		"+1": false, "01": false, ".5": false, "1.": false, "1e": false, "Inf": false, "0x10": false, "1_0": false, "-": false, "": false,
	} {
		if got := isJSONNumber([]byte(s)); got != want {
			t.Errorf("isJSONNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	body := jsonRequest(10_000)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeAll(body); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeRESTRequest feeds arbitrary bytes to the V2 JSON request decoder: it must return a
// request or an error, never panic, and whatever it accepts must agree with encoding/json on
// being valid JSON and must hold tensors of exactly their shapes.
//
//	go test -run NONE -fuzz FuzzDecodeRESTRequest -fuzztime 60s ./serve
func FuzzDecodeRESTRequest(f *testing.F) {
	for _, seed := range []string{
		`{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3,4]}]}`,
		`{"id":"a","inputs":[{"name":"x","shape":[2,2],"datatype":"INT64","data":[[1,2],[3,4]]}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}`,
		`{"inputs":[{"data":["NaN","Infinity",-1.5e3],"name":"x","shape":[3],"datatype":"FP64"}],"parameters":{"binary_data_output":true}}`,
		`{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","data":["h\u00e9"]},{"name":"b","shape":[2],"datatype":"BOOL","data":[true,false]}]}`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[255]}],"unknown":{"a":[1,{"b":"]"}]}}`,
		`{"inputs":[{"name":"x","shape":[2],"datatype":"FP16","parameters":{"binary_data_size":4}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		req, err := decodeRESTRequest(bytes.NewReader(body), bytes.NewReader(nil), decodeLimits{maxElements: 1 << 16, bodyBytes: int64(len(body))})
		if err != nil {
			if _, isHTTP := err.(*httpError); !isHTTP {
				t.Fatalf("error %v is not an answerable request error", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		for _, in := range req.inputs {
			if in.tensor == nil {
				t.Fatalf("input %q accepted without a tensor", in.name)
			}
			if tensor.NumElements(in.tensor.Shape) != in.tensor.Len() {
				t.Fatalf("input %q: shape %v with %d elements", in.name, in.tensor.Shape, in.tensor.Len())
			}
		}
	})
}

// FuzzGRPCRequestToTensors feeds arbitrary bytes through what a gRPC ModelInfer does with them:
// protobuf decoding, then the request → tensor conversion. It must never panic, and every
// accepted tensor must hold exactly its shape's elements.
//
//	go test -run NONE -fuzz FuzzGRPCRequestToTensors -fuzztime 60s ./serve
func FuzzGRPCRequestToTensors(f *testing.F) {
	for _, req := range []*v2pb.ModelInferRequest{
		{ModelName: "m", Inputs: []*v2pb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: []int64{2, 2}, Contents: &v2pb.InferTensorContents{Fp32Contents: []float32{1, 2, 3, math.Pi}}}}},
		{ModelName: "m", Inputs: []*v2pb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "INT8", Shape: []int64{3}, Contents: &v2pb.InferTensorContents{IntContents: []int32{-1, 2, 300}}}}},
		{ModelName: "m", Inputs: []*v2pb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP16", Shape: []int64{2}}}, RawInputContents: [][]byte{{0, 60, 0, 188}}},
		{ModelName: "m", Inputs: []*v2pb.ModelInferRequest_InferInputTensor{{Name: "s", Datatype: "BYTES", Shape: []int64{1}}}, RawInputContents: [][]byte{{2, 0, 0, 0, 'h', 'i'}}},
		{ModelName: "m", Inputs: []*v2pb.ModelInferRequest_InferInputTensor{{Name: "b", Datatype: "BOOL", Shape: []int64{2}, Contents: &v2pb.InferTensorContents{BoolContents: []bool{true, false}}}}},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var req v2pb.ModelInferRequest
		if err := proto.Unmarshal(msg, &req); err != nil {
			return
		}
		inputs, err := grpcInputs(&req, 1<<16)
		if err != nil {
			if _, isHTTP := err.(*httpError); !isHTTP {
				t.Fatalf("error %v is not an answerable request error", err)
			}
			return
		}
		for _, in := range inputs {
			if tensor.NumElements(in.tensor.Shape) != in.tensor.Len() {
				t.Fatalf("input %q: shape %v with %d elements", in.name, in.tensor.Shape, in.tensor.Len())
			}
		}
	})
}
