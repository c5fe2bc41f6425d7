package onnxops

import (
	"fmt"
	"strings"

	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

func init() {
	for _, fam := range Families {
		ops.Register(Domain, string(fam), Version, func(n *ops.Node) (ops.Kernel, error) { return newKernel(fam, n) })
	}
}

// table is a family's precomputed float32 constants, one set per channel.
type table interface {
	channels() int
	// apply evaluates the operator with channel ch's constants; len(dst) == len(src). stream
	// asks for non-temporal stores: the whole output is far larger than the caches.
	apply(dst, src []float32, ch int, stream bool)
	// eval is one element of channel ch, for layouts where channels change every few elements.
	eval(x float32, ch int) float32
	// applyRow evaluates one row of all channels in order (element i is channel i), the layout
	// of a channel axis that is the last one.
	applyRow(dst, src []float32)
}

// activationKernel runs one Zorro, PWLU or CRReLU node.
type activationKernel struct {
	fam  Family
	node string
	axis int
	gate bool
	// params and tab are built at session creation when the parameter inputs are constants
	// (initializers, the normal case) and per Run otherwise.
	params []Params
	tab    table
}

func newKernel(fam Family, n *ops.Node) (*activationKernel, error) {
	want := 1 + len(ParamInputNames(fam))
	if n.NumInputs() != want {
		return nil, fmt.Errorf("%s takes %d inputs (X, %v), node has %d", fam, want, ParamInputNames(fam), n.NumInputs())
	}
	for i := 0; i < want; i++ {
		if !n.HasInput(i) {
			return nil, fmt.Errorf("input %d is empty; %s has no optional inputs", i, fam)
		}
	}
	if !n.HasOutput(0) || n.NumOutputs() != 1 {
		return nil, fmt.Errorf("%s has exactly one output Y, node declares %d", fam, n.NumOutputs())
	}
	k := &activationKernel{fam: fam, node: n.Name(), axis: int(n.AttrInt("axis", 1))}
	if fam == FamilyZorro {
		switch g := n.AttrInt("gate", 0); g {
		case 0, 1:
			k.gate = g == 1
		default:
			return nil, fmt.Errorf("attribute gate = %d, want 0 or 1", g)
		}
	}
	constant := true
	for i := 1; i < want; i++ {
		if n.Const[i] == nil {
			constant = false
		}
	}
	if constant {
		ps, tab, err := k.build(n.Const[1:])
		if err != nil {
			return nil, err
		}
		k.params, k.tab = ps, tab
		if err := k.checkDeclaredShape(n.InputShapes[0]); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// build decodes and validates the parameter tensors and precomputes the kernel table.
func (k *activationKernel) build(ts []*tensor.Tensor) ([]Params, table, error) {
	ps, err := ParamsFromTensors(k.fam, ts)
	if err != nil {
		return nil, nil, err
	}
	switch k.fam {
	case FamilyCRReLU:
		return ps, newCRReLUTable(ps), nil
	case FamilyPWLU:
		return ps, newPWLUTable(ps), nil
	default:
		for i := range ps {
			z := ps[i].(ZorroParams)
			z.Gate = k.gate
			ps[i] = z
		}
		return ps, newZorroTable(ps, k.gate), nil
	}
}

func (k *activationKernel) errorf(format string, args ...any) error {
	return fmt.Errorf("node %q (%s:%s): %s", k.node, Domain, k.fam, fmt.Sprintf(format, args...))
}

// Run implements ops.Kernel.
func (k *activationKernel) Run(ctx *ops.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) == 0 || inputs[0] == nil {
		return nil, k.errorf("input X is missing")
	}
	x := inputs[0]
	ps, tab := k.params, k.tab
	if tab == nil {
		var err error
		if ps, tab, err = k.build(inputs[1:]); err != nil {
			return nil, k.errorf("%v", err)
		}
	}
	outer, c, inner, err := k.channelPlan(x.Shape, tab.channels())
	if err != nil {
		return nil, err
	}
	switch x.DType {
	case tensor.Float32:
		y := ctx.Alloc(tensor.Float32, x.Shape)
		applyF32(ctx, tab, y.F32(), x.F32(), outer, c, inner)
		return ctx.Result(y), nil
	case tensor.Float64:
		y := ctx.Alloc(tensor.Float64, x.Shape)
		applyF64(ctx, ps, y.Data.([]float64), x.Data.([]float64), outer, c, inner)
		return ctx.Result(y), nil
	case tensor.Float16, tensor.BFloat16:
		buf := make([]float32, x.Len())
		toF32(buf, x)
		applyF32(ctx, tab, buf, buf, outer, c, inner)
		y := ctx.Alloc(x.DType, x.Shape)
		fromF32(y, buf)
		return ctx.Result(y), nil
	}
	return nil, k.errorf("input X has element type %v; want float32, float16, bfloat16 or float64", x.DType)
}

// checkDeclaredShape rejects, when the session is created, per-channel parameters that cannot
// fit X as the model declares it (axis out of range, or a fixed channel dimension other than C);
// dimensions known only at run time are checked by channelPlan.
func (k *activationKernel) checkDeclaredShape(shape []int) error {
	c := k.tab.channels()
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

// channelPlan views X as [outer, C, inner] around the channel axis; with per-tensor parameters
// (C = 1) it is [1, 1, len].
func (k *activationKernel) channelPlan(shape []int, c int) (outer, channels, inner int, err error) {
	n := tensor.NumElements(shape)
	if c == 1 {
		return 1, 1, n, nil
	}
	axis := k.axis
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis >= len(shape) {
		return 0, 0, 0, k.errorf("axis %d is out of range for X of shape %s (per-channel parameters with C=%d)", k.axis, tensor.ShapeString(shape), c)
	}
	if shape[axis] != c {
		return 0, 0, 0, k.errorf("per-channel parameters have C=%d but X of shape %s has %d along axis %d", c, tensor.ShapeString(shape), shape[axis], k.axis)
	}
	outer = tensor.NumElements(shape[:axis])
	inner = tensor.NumElements(shape[axis+1:])
	return outer, c, inner, nil
}

// parallelGrain is the number of elements below which splitting across goroutines costs more than
// it saves.
const parallelGrain = 1 << 15

func applyF32(ctx *ops.Context, tab table, dst, src []float32, outer, c, inner int) {
	stream := len(src) >= streamMinElems
	if c == 1 {
		ctx.Parallel(len(src), parallelGrain, func(lo, hi int) { tab.apply(dst[lo:hi], src[lo:hi], 0, stream) })
		return
	}
	if inner == 1 {
		ctx.Parallel(outer, max(1, parallelGrain/c), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				tab.applyRow(dst[r*c:(r+1)*c], src[r*c:(r+1)*c])
			}
		})
		return
	}
	if inner < shortRun {
		// Channels change every few elements (a channel axis at or near the end): one call per
		// element is cheaper than one vector-kernel call per short run.
		ctx.Parallel(outer*c, max(1, parallelGrain/max(inner, 1)), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				ch := r % c
				for i := r * inner; i < (r+1)*inner; i++ {
					dst[i] = tab.eval(src[i], ch)
				}
			}
		})
		return
	}
	ctx.Parallel(outer*c, max(1, parallelGrain/max(inner, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			tab.apply(dst[r*inner:(r+1)*inner], src[r*inner:(r+1)*inner], r%c, stream)
		}
	})
}

// shortRun is the run length of one channel below which applyF32 evaluates element by element.
const shortRun = 16

// streamMinElems is the output size (elements) from which kernels write with non-temporal
// stores: 32 MiB of float32, beyond the last-level caches, where reading each destination line
// in before overwriting it only costs bandwidth. Smaller outputs stay in cache for the next op.
const streamMinElems = 8 << 20

// applyF64 evaluates float64 inputs with the float64 reference.
func applyF64(ctx *ops.Context, ps []Params, dst, src []float64, outer, c, inner int) {
	ctx.Parallel(outer*c, max(1, parallelGrain/max(inner, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p := ps[r%c]
			for i := r * inner; i < (r+1)*inner; i++ {
				dst[i] = p.Eval(src[i])
			}
		}
	})
}

func toF32(dst []float32, t *tensor.Tensor) {
	switch d := t.Data.(type) {
	case []tensor.Float16Bits:
		for i, h := range d {
			dst[i] = h.Float32()
		}
	case []tensor.BFloat16Bits:
		for i, h := range d {
			dst[i] = h.Float32()
		}
	}
}

func fromF32(t *tensor.Tensor, src []float32) {
	switch d := t.Data.(type) {
	case []tensor.Float16Bits:
		for i, v := range src {
			d[i] = tensor.Float16FromFloat32(v)
		}
	case []tensor.BFloat16Bits:
		for i, v := range src {
			d[i] = tensor.BFloat16FromFloat32(v)
		}
	}
}
