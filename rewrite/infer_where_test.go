package rewrite

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// TestInferElemTypeThroughWhere: a float value chosen by Where on a bool condition is float (the
// keep-mask attention of BERT-style exports feeds GELU sites through Where), not bool.
func TestInferElemTypeThroughWhere(t *testing.T) {
	t.Parallel()
	b := newGraphBuilder()
	b.g.Input = append(b.g.Input, &onnx.ValueInfoProto{Name: proto.String("keep"), Type: &onnx.TypeProto{
		Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(tensor.Bool))}}}})
	w := b.op("Where", "keep", "x", b.init(-1e30))
	y := b.op("Add", w, b.init(1))
	if got := newGraphView(b.g).inferElemType(y, 0); got != tensor.Float32 {
		t.Fatalf("type of Add(Where(bool, float, float), 1) inferred as %v, want float32", got)
	}
}
