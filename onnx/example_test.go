package onnx_test

import (
	"fmt"
	"log"

	"github.com/actswap/actswap/onnx"
)

// Load a bundled model and read what it declares: its IR version, operator sets, inputs and the
// op types of its nodes.
func ExampleLoadFile() {
	m, err := onnx.LoadFile("../models/digits_mlp_gelu/model.onnx")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("IR version", m.GetIrVersion())
	for _, o := range m.GetOpsetImport() {
		fmt.Println("opset", onnx.DomainDisplayName(o.GetDomain()), o.GetVersion())
	}
	for _, in := range m.GetGraph().GetInput() {
		fmt.Println("input", in.GetName())
	}
	erf := 0
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "Erf" {
			erf++
		}
	}
	fmt.Println("Erf nodes", erf)
	// Output:
	// IR version 8
	// opset ai.onnx 17
	// input input
	// Erf nodes 2
}
