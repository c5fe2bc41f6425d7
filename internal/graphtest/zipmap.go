package graphtest

import (
	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// ZipMapModel is a scikit-learn classifier's last step: scores "x" [N, 3] → ai.onnx.ml ZipMap with
// the given class labels (classlabels_strings or classlabels_int64s, keyType String or Int64) →
// one output, a sequence of N maps from the labels to the row's scores.
func ZipMapModel(labels Attr, keyType tensor.DType) *onnx.ModelProto {
	b := New("zipmap", 17).Opset("ai.onnx.ml", 1)
	x := b.Input("x", tensor.Float32, "N", 3)
	out := b.Node("ai.onnx.ml", "ZipMap", []string{x}, 1, labels)[0]
	m := b.Model()
	m.Graph.Output = append(m.Graph.Output, &onnx.ValueInfoProto{Name: proto.String(out), Type: &onnx.TypeProto{
		Value: &onnx.TypeProto_SequenceType{SequenceType: &onnx.TypeProto_Sequence{ElemType: &onnx.TypeProto{
			Value: &onnx.TypeProto_MapType{MapType: &onnx.TypeProto_Map{KeyType: proto.Int32(int32(keyType)),
				ValueType: ValueInfo("", tensor.Float32).GetType()}}}}}}})
	return m
}
