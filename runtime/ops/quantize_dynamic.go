package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// DynamicQuantizeLinear (opset 11): uint8 quantization with the scale and zero point computed from
// the tensor's own range, which onnxruntime's quantize_dynamic puts before every MatMulInteger.
// Arithmetic is float32, as the definition's reference is.

func init() {
	Register(DefaultDomain, "DynamicQuantizeLinear", 11, func(n *Node) (Kernel, error) {
		return KernelFunc(dynamicQuantizeLinear), nil
	})
}

func dynamicQuantizeLinear(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x, ok := in[0].Data.([]float32)
	if !ok {
		return nil, fmt.Errorf("x has type %v, want float32", in[0].DType)
	}
	// The range always includes 0, so that 0 is exactly representable.
	lo, hi := float32(0), float32(0)
	for _, v := range x {
		if math.IsNaN(float64(v)) {
			return nil, fmt.Errorf("x contains NaN; its quantization range is undefined")
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	scale := (hi - lo) / 255
	zp := float32(0)
	if scale != 0 {
		zp = float32(math.RoundToEven(float64(max(0, min(255, 0-lo/scale)))))
	}
	y := ctx.Alloc(tensor.Uint8, in[0].Shape)
	dst := y.Data.([]uint8)
	if scale != 0 {
		for i, v := range x {
			q := float32(math.RoundToEven(float64(v/scale))) + zp
			dst[i] = uint8(max(0, min(255, q)))
		}
	}
	return []*tensor.Tensor{y, tensor.Scalar(scale), tensor.Scalar(uint8(zp))}, nil
}
