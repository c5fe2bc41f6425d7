package runtime

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// fuseSiLUs replaces x·Sigmoid(x) — Mul(x, Sigmoid(x)) in either operand order, how PyTorch
// exports SiLU/Swish (EfficientNet, YOLO, MobileNetV3's heads) — by one SiLU node, which
// activation_fusion then moves into the epilogue of the Conv or GEMM producing x. The Sigmoid's
// output must be read only by the Mul.
func fuseSiLUs(o *optimizer) int {
	count := 0
	prod := o.producers()
	for i := range o.g.nodes {
		if o.dead[i] || !o.isOp(i, "Mul") {
			continue
		}
		a, b, ok := o.operands(i)
		if !ok {
			continue
		}
		for _, pair := range [][2]int{{a, b}, {b, a}} {
			x, s := pair[0], pair[1]
			sig := o.internalFrom(prod, s, i)
			if sig < 0 || !o.isOp(sig, "Sigmoid") || len(o.g.nodes[sig].inputs) != 1 || o.g.nodes[sig].inputs[0] != x {
				continue
			}
			n := o.g.nodes[i]
			o.g.nodes[i] = &node{label: n.label, opType: "SiLU", kernel: siluKernel{}, inputs: []int{x}, outputs: n.outputs}
			o.dead[sig] = true
			count++
			break
		}
	}
	return count
}

// siluKernel is x·σ(x): in float32 through vecmath.SiLU, other float types through float64.
type siluKernel struct{}

// apply is SiLU in place, the form a GEMM epilogue calls on short rows.
func (siluKernel) apply(dst []float32) { vecmath.SiLU(dst, dst) }

// BiasedElementwiseFloat32 implements ops.BiasedElementwiseFloat32: SiLU of the input plus a
// bias, the same bits as the addition followed by apply.
func (siluKernel) BiasedElementwiseFloat32() func(dst []float32, bias float32) {
	return func(dst []float32, bias float32) { vecmath.SiLUBias(dst, dst, bias) }
}

func siluRef(x float64) float64 { return x / (1 + math.Exp(-x)) }

func (siluKernel) Run(ctx *ops.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) != 1 || inputs[0] == nil {
		return nil, fmt.Errorf("fused SiLU: needs one input")
	}
	x := inputs[0]
	out := ctx.AllocOverwrite(x.DType, x.Shape)
	switch src := x.Data.(type) {
	case []float32:
		dst := out.F32()
		if ctx.Inline(len(src), 1<<14) { // no closure to allocate on one thread
			vecmath.SiLU(dst, src)
			break
		}
		ctx.Parallel(len(src), 1<<14, func(lo, hi int) { vecmath.SiLU(dst[lo:hi], src[lo:hi]) })
	case []float64:
		dst := out.Data.([]float64)
		for i, v := range src {
			dst[i] = siluRef(v)
		}
	case []tensor.Float16Bits:
		dst := out.Data.([]tensor.Float16Bits)
		for i, v := range src {
			dst[i] = tensor.Float16FromFloat32(float32(siluRef(float64(v.Float32()))))
		}
	case []tensor.BFloat16Bits:
		dst := out.Data.([]tensor.BFloat16Bits)
		for i, v := range src {
			dst[i] = tensor.BFloat16FromFloat32(float32(siluRef(float64(v.Float32()))))
		}
	default:
		return nil, fmt.Errorf("fused SiLU: input is %v, want a float type", x.DType)
	}
	return ctx.Result(out), nil
}
