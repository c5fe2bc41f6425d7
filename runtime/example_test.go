package runtime_test

import (
	"fmt"
	"log"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// Run a bundled model on its test data with actswap's runtime and check the result against the
// output onnxruntime computed for it.
func ExampleSession_Run() {
	m, err := onnx.LoadFile("../models/digits_mlp_gelu/model.onnx")
	if err != nil {
		log.Fatal(err)
	}
	s, err := runtime.NewSession(m, runtime.WithThreads(1))
	if err != nil {
		log.Fatal(err)
	}
	inputs, want, err := s.ReadDataSet("../models/digits_mlp_gelu/test_data_set_0")
	if err != nil {
		log.Fatal(err)
	}
	got, err := s.Run(inputs)
	if err != nil {
		log.Fatal(err)
	}
	y := got[s.Outputs()[0].Name]
	fmt.Println(s.Outputs()[0].Name, y.Shape)
	fmt.Println("matches onnxruntime:", tensor.AllClose(y, want[0], 1e-4, 1e-5) == nil)
	// The erf-GELU chains ran as fused GELU kernels.
	fmt.Println("GELU chains fused:", s.Optimizations()["gelu_fusion"])
	// Output:
	// output [16 10]
	// matches onnxruntime: true
	// GELU chains fused: 2
}
