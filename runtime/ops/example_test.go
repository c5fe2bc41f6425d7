package ops_test

import (
	"fmt"

	"github.com/actswap/actswap/runtime/ops"
)

// Lookup is how the runtime finds a node's kernel: by domain, op type and the model's opset
// version for that domain. Relu has kernels for every version since 1; an op type nobody
// registered is not known, and the runtime's error names the node that uses it.
func ExampleLookup() {
	_, relu := ops.Lookup(ops.DefaultDomain, "Relu", 14)
	_, made := ops.Lookup(ops.DefaultDomain, "NoSuchOp", 14)
	fmt.Println("Relu at opset 14:", relu)
	fmt.Println("NoSuchOp:", made, ops.Known(ops.DefaultDomain, "NoSuchOp"))
	// Output:
	// Relu at opset 14: true
	// NoSuchOp: false false
}
