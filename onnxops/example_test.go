package onnxops_test

import (
	"fmt"

	"github.com/actswap/actswap/onnxops"
)

// The operators' float64 reference math, which the rewriter and calibrator fit against:
// CRReLU with ε = 0 is ReLU; parameter sets validate themselves; GELU and its tanh form are the
// targets the ai.actswap operators replace.
func ExampleParams() {
	relu := onnxops.CRReLUParams{Epsilon: 0}
	fmt.Println(relu.Eval(-2), relu.Eval(1.5))

	z := onnxops.SymmetricZorro(1, 1)
	fmt.Println("Zorro is valid:", z.Validate() == nil, "family", z.Family())

	fmt.Printf("GELU(1) = %.4f, GELUTanh(1) = %.4f\n", onnxops.GELU(1), onnxops.GELUTanh(1))
	// Output:
	// 0 1.5
	// Zorro is valid: true family Zorro
	// GELU(1) = 0.8413, GELUTanh(1) = 0.8412
}
