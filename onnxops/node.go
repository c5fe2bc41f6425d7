package onnxops

import (
	"fmt"

	"github.com/actswap/actswap/onnx"
	"google.golang.org/protobuf/proto"
)

// NewNodeProto builds an ai.actswap node computing y from x with the parameter inputs named in
// paramInputs (in the order of ParamInputNames). axis is written for every family and gate for
// Zorro, even at their defaults, so that a runtime without function-attribute defaults still
// reads them.
func NewNodeProto(fam Family, name, x, y string, paramInputs []string, axis int, gate bool) (*onnx.NodeProto, error) {
	want := ParamInputNames(fam)
	if want == nil {
		return nil, fmt.Errorf("unknown family %q", fam)
	}
	if len(paramInputs) != len(want) {
		return nil, fmt.Errorf("%s node %q: %d parameter inputs, want %d (%v)", fam, name, len(paramInputs), len(want), want)
	}
	if gate && fam != FamilyZorro {
		return nil, fmt.Errorf("%s node %q: only Zorro has a gate attribute", fam, name)
	}
	n := &onnx.NodeProto{
		Name:      proto.String(name),
		OpType:    proto.String(string(fam)),
		Domain:    proto.String(Domain),
		Input:     append([]string{x}, paramInputs...),
		Output:    []string{y},
		Attribute: []*onnx.AttributeProto{intAttr("axis", int64(axis))},
	}
	if fam == FamilyZorro {
		g := int64(0)
		if gate {
			g = 1
		}
		n.Attribute = append(n.Attribute, intAttr("gate", g))
	}
	return n, nil
}

func intAttr(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}
