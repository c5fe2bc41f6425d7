package onnxops

import (
	"fmt"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// AttachFunctions makes m self-describing for the given operators: it imports ai.actswap at
// Version, adds the model-local function of each family that m does not have yet, and raises
// m.ir_version to MinIRVersion, or RequiredIRVersion of its functions, if it is lower. onnxruntime inlines functions at the model's own
// default-domain opset, so the bodies import that version: from opset 15 on they are generic
// (CastLike); from MinFunctionOpset (9) to 14 they are typed for the element type of the family's
// parameter initializers in m's graph, which must then agree (below 13 in the legacy form of
// function_legacy.go). Below opset 9 it fails. Raising an old export's ir_version to 9 keeps it
// loadable: onnxruntime 1.30 reads IR 3 to 13, and no op of opset 9–12 changes meaning with IR.
func AttachFunctions(m *onnx.ModelProto, fams ...Family) error {
	if m == nil {
		return fmt.Errorf("AttachFunctions: nil model")
	}
	opset := 0
	imported := false
	for _, o := range m.OpsetImport {
		switch onnx.CanonicalDomain(o.GetDomain()) {
		case "":
			opset = int(o.GetVersion())
		case Domain:
			if o.GetVersion() != Version {
				return fmt.Errorf("model imports %s version %d; this build writes version %d", Domain, o.GetVersion(), Version)
			}
			imported = true
		}
	}
	if opset == 0 {
		return fmt.Errorf("AttachFunctions: model imports no default-domain opset")
	}
	var funcs []*onnx.FunctionProto
	for _, fam := range fams {
		present := false
		for _, f := range m.Functions {
			if f.GetDomain() == Domain && f.GetName() == string(fam) {
				present = true
			}
		}
		if present {
			continue
		}
		var f *onnx.FunctionProto
		var err error
		if opset >= 15 {
			f, err = FunctionAt(fam, opset)
		} else {
			var dt tensor.DType
			if dt, err = paramDType(m, fam); err == nil {
				f, err = FunctionTyped(fam, opset, dt)
			}
		}
		if err != nil {
			return fmt.Errorf("AttachFunctions: %w", err)
		}
		funcs = append(funcs, f)
	}
	if !imported {
		m.OpsetImport = append(m.OpsetImport, &onnx.OperatorSetIdProto{Domain: proto.String(Domain), Version: proto.Int64(Version)})
	}
	m.Functions = append(m.Functions, funcs...)
	if need := max(MinIRVersion, RequiredIRVersion(m.Functions)); m.GetIrVersion() < need {
		m.IrVersion = proto.Int64(need)
	}
	return nil
}

// paramDType finds the element type of fam's parameters anywhere in m: initializers of the graph
// (or subgraph) a node is in, or Constant nodes (a function body's parameters).
func paramDType(m *onnx.ModelProto, fam Family) (tensor.DType, error) {
	dt := tensor.Undefined
	var err error
	onnx.WalkScopes(m, func(_ string, g *onnx.GraphProto, f *onnx.FunctionProto) {
		if err != nil || f.GetDomain() == Domain {
			return
		}
		params := map[string]tensor.DType{}
		nodes := f.GetNode()
		if g != nil {
			nodes = g.GetNode()
			for _, t := range g.GetInitializer() {
				params[t.GetName()] = tensor.DType(t.GetDataType())
			}
		}
		for _, n := range nodes {
			if n.GetOpType() == "Constant" && len(n.GetOutput()) == 1 {
				for _, a := range n.GetAttribute() {
					if a.GetName() == "value" && a.GetT() != nil {
						params[n.GetOutput()[0]] = tensor.DType(a.GetT().GetDataType())
					}
				}
			}
		}
		for _, n := range nodes {
			if n.GetDomain() != Domain || n.GetOpType() != string(fam) {
				continue
			}
			for _, in := range n.GetInput()[1:] {
				t, ok := params[in]
				if !ok {
					continue
				}
				if dt != tensor.Undefined && t != dt {
					err = fmt.Errorf("%s parameters are both %v and %v; opset < 15 needs one element type per family", fam, dt, t)
					return
				}
				dt = t
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if dt == tensor.Undefined {
		return 0, fmt.Errorf("%s: no parameter initializer or Constant gives the element type a typed (opset < 15) function needs", fam)
	}
	return dt, nil
}

// SingleNodeModel builds a model with one ai.actswap node, Y = fam(X, parameters), for tests and
// benchmarks in any runtime: X and Y are graph inputs/outputs of element type dt (Float32,
// Float64 or Float16) and shape inputShape (a negative size is a dynamic dimension), the
// parameters are initializers (one set per channel; one set per tensor), axis is the node's
// channel axis and, for Zorro, gate comes from the parameter sets.
func SingleNodeModel(fam Family, channels []Params, dt tensor.DType, inputShape []int, axis int) (*onnx.ModelProto, error) {
	params, err := ParamTensorsAs(dt, fam, channels)
	if err != nil {
		return nil, err
	}
	gate := false
	if z, ok := channels[0].(ZorroParams); ok {
		gate = z.Gate
	}
	names := ParamInputNames(fam)
	node, err := NewNodeProto(fam, string(fam)+"_0", "X", "Y", names, axis, gate)
	if err != nil {
		return nil, err
	}
	g := &onnx.GraphProto{
		Name:   proto.String("actswap_" + string(fam)),
		Node:   []*onnx.NodeProto{node},
		Input:  []*onnx.ValueInfoProto{valueInfo("X", dt, inputShape)},
		Output: []*onnx.ValueInfoProto{valueInfo("Y", dt, inputShape)},
	}
	for i, p := range params {
		g.Initializer = append(g.Initializer, tensor.ToProto(p, names[i]))
	}
	m := &onnx.ModelProto{
		IrVersion:    proto.Int64(MinIRVersion),
		ProducerName: proto.String("actswap"),
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(FunctionOpset)}},
		Graph:        g,
	}
	if err := AttachFunctions(m, fam); err != nil {
		return nil, err
	}
	return m, nil
}

func valueInfo(name string, dt tensor.DType, shape []int) *onnx.ValueInfoProto {
	dims := make([]*onnx.TensorShapeProto_Dimension, len(shape))
	for i, d := range shape {
		if d < 0 {
			dims[i] = &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: fmt.Sprintf("d%d", i)}}
		} else {
			dims[i] = &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}}
		}
	}
	return &onnx.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: proto.Int32(int32(dt)),
			Shape:    &onnx.TensorShapeProto{Dim: dims},
		}}},
	}
}
