package runtime

import (
	"errors"
	"fmt"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// fuseConvChannelScales folds a squeeze-and-excitation block's scaling, Mul(x, s) with s one
// value per channel of each image, into the 1×1 Conv that is its only reader (EfficientNet's and
// MobileNetV3's projections): the Conv scales its weights' columns by s instead of the Mul
// writing a scaled copy of the whole image (ops.ChannelScaleFuser). It takes plain Convs and
// Convs with a fused residual (conv_residual_fusion runs first). Which operand is the image is
// known only at run time; when neither is (a Mul that broadcasts otherwise), the original Mul and
// Conv run instead.
func fuseConvChannelScales(o *optimizer) int {
	count := 0
	prod := o.producers()
	for i, n := range o.g.nodes {
		if o.dead[i] || n.proto == nil || !onnx.IsDefaultDomain(n.proto.GetDomain()) || n.proto.GetOpType() != "Conv" {
			continue
		}
		residual := false
		switch k := n.kernel.(type) {
		case *convResidualKernel:
			if n.opType != "Conv+Add" || k.tail == nil {
				continue
			}
			residual = true
		default:
			if n.opType != "Conv" {
				continue
			}
		}
		if len(n.inputs) < 2 || len(n.outputs) != 1 {
			continue
		}
		mul := o.internalFrom(prod, n.inputs[0], i)
		if mul < 0 || o.dead[mul] || !o.isOp(mul, "Mul") {
			continue
		}
		a, b, ok := o.operands(mul)
		if !ok {
			continue
		}
		fused := o.convWithChannelScale(i, a, b, residual)
		if fused == nil {
			continue
		}
		fused.kernel = &convChannelScaleKernel{label: n.label, fused: fused.kernel, mul: o.g.nodes[mul].kernel,
			conv: n.kernel, convInputs: len(n.inputs)}
		fused.outputs = n.outputs
		fused.opType = "Mul+" + n.opType
		o.g.nodes[i] = fused
		o.dead[mul] = true
		count++
	}
	return count
}

// convWithChannelScale builds a kernel for Conv node c (with its residual when residual) that
// convolves the product of slots a and b: inputs a, W, B, residual, b. nil where the Conv
// cannot take the scale.
func (o *optimizer) convWithChannelScale(c, a, b int, residual bool) *node {
	conv := o.g.nodes[c]
	w := o.constInput(c, 1)
	if w == nil || w.DType != tensor.Float32 {
		return nil
	}
	inputs := []int{a, conv.inputs[1], -1, -1, b}
	for j := 2; j < len(conv.inputs) && j < 4; j++ {
		inputs[j] = conv.inputs[j]
	}
	k, p := o.rebuildConv(c, inputs)
	if k == nil {
		return nil
	}
	if residual {
		rf, ok := k.(ops.ResidualFuser)
		if !ok || !rf.FuseResidual() {
			return nil
		}
	}
	sf, ok := k.(ops.ChannelScaleFuser)
	if !ok || !sf.FuseChannelScale() {
		return nil
	}
	return &node{label: conv.label, kernel: k, proto: p, version: conv.version, inputs: inputs}
}

// convChannelScaleKernel is a Conv that convolves the product of its inputs 0 and 4, keeping the
// unfused Mul and Conv for operands that are not an image and its channel scales.
type convChannelScaleKernel struct {
	label      string
	fused      ops.Kernel // inputs: Mul's first operand, W, B, residual, Mul's second operand
	mul        ops.Kernel // the original Mul
	conv       ops.Kernel // the original Conv (or Conv with its residual)
	convInputs int        // how many inputs the original Conv took (X, W[, B[, residual]])
}

func (k *convChannelScaleKernel) Run(ctx *ops.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) != 5 {
		return nil, fmt.Errorf("fused Mul and Conv %q: needs 5 inputs, has %d", k.label, len(inputs))
	}
	out, err := k.fused.Run(ctx, inputs)
	if err == nil || !errors.Is(err, ops.ErrChannelScaleShape) && !errors.Is(err, ops.ErrResidualShape) {
		return out, err
	}
	y, err := k.mul.Run(ctx, []*tensor.Tensor{inputs[0], inputs[4]})
	if err != nil {
		return nil, err
	}
	convIn := append([]*tensor.Tensor{y[0]}, inputs[1:k.convInputs]...)
	return k.conv.Run(ctx, convIn)
}
