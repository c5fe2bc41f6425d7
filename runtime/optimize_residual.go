package runtime

import (
	"errors"
	"fmt"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// fuseConvResiduals folds a ResNet block's tail, Conv → Add(shortcut) → activation, into the
// Conv: the shortcut is added and the activation applied in the convolution's epilogue, while
// each block of the output is in cache, instead of in a pass of its own that reads two tensors
// and writes a third. It runs after add_activation_fusion and takes the fused Add+activation
// nodes it left (and plain Adds) whose one operand is a Conv read by nothing else. When the
// shortcut turns out at run time not to have the output's shape (an Add that broadcasts), the
// original Conv and Add run instead.
func fuseConvResiduals(o *optimizer) int {
	count := 0
	prod := o.producers()
	for i, n := range o.g.nodes {
		if o.dead[i] {
			continue
		}
		var act func([]float32)
		var relu bool       // act is Relu's
		var tail ops.Kernel // runs the Add (and activation) in the fallback
		switch k := n.kernel.(type) {
		case *addActKernel:
			act, relu, tail = k.act, k.relu, k
		default:
			if !o.isOp(i, "Add") {
				continue
			}
			tail = n.kernel
		}
		if len(n.inputs) != 2 || len(n.outputs) != 1 || n.outputs[0] < 0 {
			continue
		}
		for side := 0; side < 2; side++ {
			c := o.internalFrom(prod, n.inputs[side], i)
			shortcut := n.inputs[1-side]
			if c < 0 || o.dead[c] || shortcut < 0 || o.g.consts[shortcut] != nil {
				continue
			}
			fused := o.convWithResidual(c, shortcut, act, relu)
			if fused == nil {
				continue
			}
			conv := o.g.nodes[c]
			fused.kernel = &convResidualKernel{label: conv.label, fused: fused.kernel, conv: conv.kernel,
				tail: tail, convFirst: side == 0}
			fused.outputs = []int{n.outputs[0]}
			fused.opType = "Conv+" + n.opType
			o.g.nodes[i] = fused
			o.dead[c] = true
			count++
			break
		}
	}
	return count
}

// convWithResidual builds a second kernel for Conv node c that adds slot shortcut (and applies
// act, when not nil; relu: act is Relu's) in its epilogue; nil when c is not a plain float Conv
// that can.
func (o *optimizer) convWithResidual(c, shortcut int, act func([]float32), relu bool) *node {
	conv := o.g.nodes[c]
	if !o.isOp(c, "Conv") || conv.opType != "Conv" || len(conv.inputs) < 2 || len(conv.inputs) > 3 {
		return nil
	}
	w := o.constInput(c, 1)
	if w == nil || w.DType != tensor.Float32 {
		return nil
	}
	inputs := []int{conv.inputs[0], conv.inputs[1], -1, shortcut}
	if len(conv.inputs) == 3 && conv.inputs[2] >= 0 {
		inputs[2] = conv.inputs[2]
	}
	k, p := o.rebuildConv(c, inputs)
	if k == nil {
		return nil
	}
	rf, ok := k.(ops.ResidualFuser)
	if !ok || !rf.FuseResidual() {
		return nil
	}
	if act != nil {
		af, ok := k.(ops.ActivationFuser)
		if !ok || !fuseInto(af, act, relu) {
			return nil
		}
	}
	return &node{label: conv.label, kernel: k, proto: p, version: conv.version, inputs: inputs}
}

// rebuildConv makes a new kernel for Conv node c that reads slots inputs (-1 for an omitted
// one), and the node as it names them, for a fusion to configure; nil where Conv refuses it.
func (o *optimizer) rebuildConv(c int, inputs []int) (ops.Kernel, *onnx.NodeProto) {
	conv, g := o.g.nodes[c], o.g
	p := proto.Clone(conv.proto).(*onnx.NodeProto)
	p.Input = make([]string, len(inputs))
	for j, s := range inputs {
		if s >= 0 {
			p.Input[j] = g.slotNames[s]
		}
	}
	on := ops.NewNode(p, conv.version)
	for j, s := range inputs {
		if s >= 0 {
			on.Const[j] = g.consts[s]
			on.InputTypes[j] = g.dtypes[s]
		}
	}
	factory, found := ops.Lookup("", "Conv", conv.version)
	if !found {
		return nil, nil
	}
	k, err := factory(on)
	if err != nil {
		return nil, nil
	}
	return k, p
}

// convResidualKernel is a Conv with the shortcut Add (and activation) in its epilogue, keeping
// the unfused kernels for a shortcut of another shape.
type convResidualKernel struct {
	label     string
	fused     ops.Kernel // inputs X, W, B, shortcut
	conv      ops.Kernel // the original Conv: X, W[, B]
	tail      ops.Kernel // the original Add, or Add+activation
	convFirst bool       // the Conv's output was the Add's first operand
}

func (k *convResidualKernel) Run(ctx *ops.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) != 4 {
		return nil, fmt.Errorf("fused Conv %q: needs 4 inputs, has %d", k.label, len(inputs))
	}
	out, err := k.fused.Run(ctx, inputs)
	if err == nil || !errors.Is(err, ops.ErrResidualShape) {
		return out, err
	}
	convIn := inputs[:2]
	if inputs[2] != nil {
		convIn = inputs[:3]
	}
	y, err := k.conv.Run(ctx, convIn)
	if err != nil {
		return nil, err
	}
	if k.convFirst {
		return k.tail.Run(ctx, []*tensor.Tensor{y[0], inputs[3]})
	}
	return k.tail.Run(ctx, []*tensor.Tensor{inputs[3], y[0]})
}
