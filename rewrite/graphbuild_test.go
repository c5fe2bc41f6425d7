package rewrite

import (
	"fmt"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// graphBuilder writes small test graphs: one float input "x", nodes named after their op type.
type graphBuilder struct {
	g    *onnx.GraphProto
	next int
}

func newGraphBuilder() *graphBuilder {
	b := &graphBuilder{g: &onnx.GraphProto{Name: proto.String("test")}}
	b.g.Input = append(b.g.Input, floatValueInfo("x"))
	return b
}

func floatValueInfo(name string) *onnx.ValueInfoProto {
	return &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{
		Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(tensor.Float32))}}}}
}

// op adds a standard-domain node and returns its output value.
func (b *graphBuilder) op(opType string, inputs ...string) string {
	return b.domainOp("", opType, nil, inputs...)
}

func (b *graphBuilder) domainOp(domain, opType string, attrs []*onnx.AttributeProto, inputs ...string) string {
	b.next++
	name := fmt.Sprintf("%s_%d", opType, b.next)
	out := name + "_out"
	b.g.Node = append(b.g.Node, &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(opType),
		Domain: proto.String(domain), Input: inputs, Output: []string{out}, Attribute: attrs})
	return out
}

// init adds a scalar float32 initializer.
func (b *graphBuilder) init(v float64) string {
	b.next++
	name := fmt.Sprintf("c%d", b.next)
	b.g.Initializer = append(b.g.Initializer, tensor.ToProto(tensor.Scalar(float32(v)), name))
	return name
}

// constant adds a Constant node holding v as a 0-d tensor (value attribute).
func (b *graphBuilder) constant(v float64) string {
	return b.domainOp("", "Constant", []*onnx.AttributeProto{{Name: proto.String("value"),
		Type: onnx.AttributeProto_TENSOR.Enum(), T: tensor.ToProto(tensor.Scalar(float32(v)), "")}})
}

// constantFloat adds a Constant node with value_float.
func (b *graphBuilder) constantFloat(v float64) string {
	return b.domainOp("", "Constant", []*onnx.AttributeProto{{Name: proto.String("value_float"),
		Type: onnx.AttributeProto_FLOAT.Enum(), F: proto.Float32(float32(v))}})
}

func (b *graphBuilder) output(name string) { b.g.Output = append(b.g.Output, floatValueInfo(name)) }

func (b *graphBuilder) model() *onnx.ModelProto {
	return &onnx.ModelProto{IrVersion: proto.Int64(7), Graph: b.g, ProducerName: proto.String("test"),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)},
			{Domain: proto.String("com.microsoft"), Version: proto.Int64(1)}},
		MetadataProps: []*onnx.StringStringEntryProto{{Key: proto.String("author"), Value: proto.String("t")}}}
}

func stringAttr(name, v string) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_STRING.Enum(), S: []byte(v)}
}

func floatAttr(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// evalScalar runs a graph on a scalar input x in float64: a reference evaluator for the elementwise
// ops the synthetic graphs use, written from the ONNX and com.microsoft op definitions, and the
// ai.actswap ops through onnxops' float64 reference math.
func evalScalar(t *testing.T, g *onnx.GraphProto, x float64) map[string]float64 {
	t.Helper()
	vals := map[string]float64{"x": x}
	for _, init := range g.GetInitializer() {
		if v, ok := tensorScalar(init); ok {
			vals[init.GetName()] = v
		}
	}
	inits := map[string]*onnx.TensorProto{}
	for _, init := range g.GetInitializer() {
		inits[init.GetName()] = init
	}
	sigmoid := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	for _, n := range g.GetNode() {
		in := func(i int) float64 {
			v, ok := vals[n.GetInput()[i]]
			if !ok {
				t.Fatalf("node %q: input %q has no value", n.GetName(), n.GetInput()[i])
			}
			return v
		}
		var y float64
		switch n.GetDomain() + ":" + n.GetOpType() {
		case ":Constant":
			y, _ = constantNodeScalar(n)
		case ":Identity", ":CastLike", ":Cast":
			y = in(0)
		case ":Sqrt":
			y = math.Sqrt(in(0))
		case ":Add":
			y = in(0) + in(1)
		case ":Sub":
			y = in(0) - in(1)
		case ":Mul":
			y = in(0) * in(1)
		case ":Div":
			y = in(0) / in(1)
		case ":Pow":
			y = math.Pow(in(0), in(1))
		case ":Erf":
			y = math.Erf(in(0))
		case ":Tanh":
			y = math.Tanh(in(0))
		case ":Sigmoid":
			y = sigmoid(in(0))
		case ":Relu":
			y = math.Max(in(0), 0)
		case ":Gelu":
			if a := attribute(n, "approximate"); a != nil && string(a.GetS()) == "tanh" {
				y = onnxops.GELUTanh(in(0))
			} else {
				y = onnxops.GELU(in(0))
			}
		case ":HardSwish":
			y = in(0) * math.Max(0, math.Min(1, in(0)/6+0.5))
		case ":HardSigmoid":
			y = math.Max(0, math.Min(1, 0.2*in(0)+0.5))
		case ":Clip":
			y = math.Max(in(1), math.Min(in(2), in(0)))
		case "com.microsoft:Gelu":
			y = onnxops.GELU(in(0))
		case "com.microsoft:BiasGelu":
			y = onnxops.GELU(in(0) + in(1))
		case "com.microsoft:FastGelu":
			v := in(0)
			if len(n.GetInput()) > 1 && n.GetInput()[1] != "" {
				v += in(1)
			}
			y = 0.5 * v * (1 + math.Tanh(0.7978845608028654*v+0.035677408136300125*v*v*v))
		case "com.microsoft:QuickGelu":
			alpha := 1.702
			if a := attribute(n, "alpha"); a != nil {
				alpha = float64(a.GetF())
			}
			y = in(0) * sigmoid(alpha*in(0))
		case onnxops.Domain + ":" + n.GetOpType():
			fam, err := onnxops.ParseFamily(n.GetOpType())
			if err != nil {
				t.Fatal(err)
			}
			var ts []*tensor.Tensor
			for _, name := range n.GetInput()[1:] {
				tt, err := tensor.FromProto(inits[name])
				if err != nil {
					t.Fatalf("node %q: %v", n.GetName(), err)
				}
				ts = append(ts, tt)
			}
			sets, err := onnxops.ParamsFromTensors(fam, ts)
			if err != nil {
				t.Fatalf("node %q: %v", n.GetName(), err)
			}
			p := sets[0]
			if z, ok := p.(onnxops.ZorroParams); ok {
				z.Gate = attribute(n, "gate").GetI() == 1
				p = z
			}
			y = p.Eval(in(0))
		default:
			t.Fatalf("evalScalar: no reference for %s:%s", n.GetDomain(), n.GetOpType())
		}
		vals[n.GetOutput()[0]] = y
	}
	return vals
}
