package tensor_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/actswap/actswap/tensor"
)

// A tensor is a shape, an element type and a typed slice; it round-trips through NumPy's .npy
// format (here in memory; WriteNpy and ReadNpy do the same with files).
func ExampleEncodeNpy() {
	t := tensor.New([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	var buf bytes.Buffer
	if err := tensor.EncodeNpy(&buf, t); err != nil {
		log.Fatal(err)
	}
	back, err := tensor.DecodeNpy(&buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(back.DType, back.Shape, back.F32())
	fmt.Println("equal:", tensor.AllClose(back, t, 0, 0) == nil)
	// Output:
	// float32 [2 3] [1 2 3 4 5 6]
	// equal: true
}

// Read one of an ONNX test-data folder's TensorProto files, as the backend suite stores inputs.
func ExampleReadProtoFile() {
	x, name, err := tensor.ReadProtoFile("../models/digits_mlp_gelu/test_data_set_0/input_0.pb")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(name, x.DType, x.Shape)
	// Output:
	// input float32 [16 1 8 8]
}
