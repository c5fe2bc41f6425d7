package rewrite

import (
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
)

// attachFunction adds the family's model-local function body (once).
func attachFunction(m *onnx.ModelProto, fam onnxops.Family) error {
	return nil // INTERIM until onnxops.AttachFunctions lands
}
