package ops

import (
	"fmt"
	"strings"

	"github.com/actswap/actswap/internal/actkernel"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// The ai.actswap operators (Zorro, PWLU, CRReLU) are registered here, with the rest of the
// runtime's kernels, so that every program that runs models runs them fused; their float32
// loops live in internal/actkernel, shared with the onnxruntime plugin.
func init() {
	for _, fam := range onnxops.Families {
		Register(onnxops.Domain, string(fam), onnxops.Version, func(n *Node) (Kernel, error) { return newActswapKernel(fam, n) })
	}
}

// actswapKernel runs one Zorro, PWLU or CRReLU node.
type actswapKernel struct {
	fam  onnxops.Family
	node string
	axis int
	gate bool
	// k is built at session creation when the parameter inputs are constants (initializers,
	// the normal case) and per Run otherwise.
	k *actkernel.Kernel
}

func newActswapKernel(fam onnxops.Family, n *Node) (*actswapKernel, error) {
	want := 1 + len(onnxops.ParamInputNames(fam))
	if n.NumInputs() != want {
		return nil, fmt.Errorf("%s takes %d inputs (X, %v), node has %d", fam, want, onnxops.ParamInputNames(fam), n.NumInputs())
	}
	for i := 0; i < want; i++ {
		if !n.HasInput(i) {
			return nil, fmt.Errorf("input %d is empty; %s has no optional inputs", i, fam)
		}
	}
	if !n.HasOutput(0) || n.NumOutputs() != 1 {
		return nil, fmt.Errorf("%s has exactly one output Y, node declares %d", fam, n.NumOutputs())
	}
	k := &actswapKernel{fam: fam, node: n.Name(), axis: int(n.AttrInt("axis", 1))}
	if fam == onnxops.FamilyZorro {
		switch g := n.AttrInt("gate", 0); g {
		case 0, 1:
			k.gate = g == 1
		default:
			return nil, fmt.Errorf("attribute gate = %d, want 0 or 1", g)
		}
	}
	for i := 1; i < want; i++ {
		if n.Const[i] == nil {
			return k, nil
		}
	}
	built, err := actkernel.New(fam, k.gate, n.Const[1:want])
	if err != nil {
		return nil, err
	}
	k.k = built
	if err := k.checkDeclaredShape(n.InputShapes[0]); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *actswapKernel) errorf(format string, args ...any) error {
	return fmt.Errorf("node %q (%s:%s): %s", k.node, onnxops.Domain, k.fam, fmt.Sprintf(format, args...))
}

// Run implements Kernel.
func (k *actswapKernel) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) == 0 || inputs[0] == nil {
		return nil, k.errorf("input X is missing")
	}
	x := inputs[0]
	built := k.k
	if built == nil {
		var err error
		if built, err = actkernel.New(k.fam, k.gate, inputs[1:]); err != nil {
			return nil, k.errorf("%v", err)
		}
	}
	outer, inner, err := actkernel.Plan(x.Shape, k.axis, built.Channels())
	if err != nil {
		return nil, k.errorf("%v", err)
	}
	switch x.DType {
	case tensor.Float32:
		y := ctx.Alloc(tensor.Float32, x.Shape)
		built.Apply(y.F32(), x.F32(), outer, inner, ctx.Parallel)
		return ctx.Result(y), nil
	case tensor.Float64:
		y := ctx.Alloc(tensor.Float64, x.Shape)
		built.ApplyFloat64(y.Data.([]float64), x.Data.([]float64), outer, inner, ctx.Parallel)
		return ctx.Result(y), nil
	case tensor.Float16:
		// Widened to float32 a block at a time inside the kernel: no float32 copy of the tensor.
		y := ctx.Alloc(tensor.Float16, x.Shape)
		built.ApplyFloat16(y.Data.([]tensor.Float16Bits), x.Data.([]tensor.Float16Bits), outer, inner, ctx.Parallel)
		return ctx.Result(y), nil
	case tensor.BFloat16:
		y := ctx.Alloc(tensor.BFloat16, x.Shape)
		built.ApplyBFloat16(y.Data.([]tensor.BFloat16Bits), x.Data.([]tensor.BFloat16Bits), outer, inner, ctx.Parallel)
		return ctx.Result(y), nil
	}
	return nil, k.errorf("input X has element type %v; want float32, float16, bfloat16 or float64", x.DType)
}

// ElementwiseFloat32 lets the runtime apply the operator in the epilogue of the Conv, Gemm or
// MatMul that feeds it. Only per-tensor parameters known at session creation qualify:
// per-channel ones need the channel of each element, which an epilogue does not see.
func (k *actswapKernel) ElementwiseFloat32() func(dst []float32) {
	if k.k == nil {
		return nil
	}
	return k.k.Elementwise()
}

// ChannelsLastFloat32 lets the runtime apply per-channel parameters in the epilogue of a MatMul
// whose columns are the channels: the channel axis must then be the input's last.
func (k *actswapKernel) ChannelsLastFloat32() (channels, rank int, f func(dst []float32, ch0 int)) {
	if k.k == nil {
		return 0, 0, nil
	}
	switch {
	case k.axis == -1:
	case k.axis >= 0:
		rank = k.axis + 1
	default:
		return 0, 0, nil
	}
	return k.k.Channels(), rank, k.k.Columns()
}

// checkDeclaredShape rejects, when the session is created, per-channel parameters that cannot
// fit X as the model declares it (axis out of range, or a fixed channel dimension other than C);
// dimensions known only at run time are checked by actkernel.Plan.
func (k *actswapKernel) checkDeclaredShape(shape []int) error {
	c := k.k.Channels()
	if shape == nil || c == 1 {
		return nil
	}
	axis := k.axis
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis >= len(shape) {
		return fmt.Errorf("axis %d is out of range for X declared as %s (per-channel parameters with C=%d)", k.axis, declaredShape(shape), c)
	}
	if shape[axis] >= 0 && shape[axis] != c {
		return fmt.Errorf("per-channel parameters have C=%d but X is declared as %s with %d along axis %d", c, declaredShape(shape), shape[axis], k.axis)
	}
	return nil
}

func declaredShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = "?"
		if d >= 0 {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}
