package runtime

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// fastLayerNorms gives LayerNormalization over the last axis, with constant float32 scale (and
// bias) and only Y requested, a float32 kernel: each lane's mean, variance and affine map in
// three vector passes while the lane is in L1 (transformers normalise every token twice per
// block). Other inputs (float16, another axis at run time) run the original kernel.
// The chains that exporters write out in ReduceMean/Sub/Pow/Sqrt/Div get the same kernel from
// fuseLayerNormChains.
func fastLayerNorms(o *optimizer) int {
	count := 0
	for i, n := range o.g.nodes {
		if o.dead[i] || !o.isOp(i, "LayerNormalization") || len(n.inputs) < 2 {
			continue
		}
		if _, ok := o.singleOutput(i); !ok || n.inputs[0] < 0 {
			continue
		}
		if axis := attrInt(n.proto, "axis", -1); axis != -1 {
			continue
		}
		scale := o.constInput(i, 1)
		if scale == nil || scale.DType != tensor.Float32 || scale.Rank() != 1 {
			continue
		}
		d := scale.Len()
		var biasF32 []float32 // nil without B
		if len(n.inputs) > 2 && n.inputs[2] >= 0 {
			bias := o.constInput(i, 2)
			if bias == nil || bias.DType != tensor.Float32 || bias.Len() != d || bias.Rank() != 1 {
				continue
			}
			biasF32 = bias.F32()
		}
		k := &layerNormKernel{label: n.label, scale: scale.F32(), bias: biasF32,
			eps: attrFloat(n.proto, "epsilon", 1e-5), inner: n.kernel, nInputs: len(n.inputs)}
		o.g.nodes[i] = &node{label: n.label, opType: "LayerNormalization", kernel: k, proto: n.proto,
			version: n.version, inputs: n.inputs, outputs: n.outputs}
		count++
	}
	return count
}

// layerNormKernel is LayerNormalization over the last axis in float32.
type layerNormKernel struct {
	label       string
	scale, bias []float32 // bias nil without B
	eps         float32
	inner       ops.Kernel // the original kernel for other inputs; nil for a fused chain
	nInputs     int
}

func (k *layerNormKernel) Run(ctx *ops.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) == 0 || inputs[0] == nil {
		return nil, fmt.Errorf("LayerNormalization %q: input X is missing", k.label)
	}
	x := inputs[0]
	d := len(k.scale)
	if x.DType != tensor.Float32 || x.Rank() == 0 || x.Shape[x.Rank()-1] != d || d == 0 {
		if k.inner == nil { // a fused chain: its scale and bias are float32 vectors of length d
			return nil, fmt.Errorf("LayerNorm %q: input %v %v does not match its %d-value scale", k.label, x.DType, x.Shape, d)
		}
		return k.inner.Run(ctx, inputs)
	}
	out := ctx.AllocOverwrite(tensor.Float32, x.Shape)
	xv, yv := x.F32(), out.F32()
	lanes := len(xv) / d
	minLanes := max(1, 16384/d)
	if ctx.Threads <= 1 || lanes < 2*minLanes {
		// Inline, without building the closure Parallel needs (one allocation per run).
		for l := 0; l < lanes; l++ {
			normalizeLane(yv[l*d:(l+1)*d], xv[l*d:(l+1)*d], k.scale, k.bias, k.eps)
		}
		return ctx.Result(out), nil
	}
	job := laneNorm{x: xv, y: yv, d: d, scale: k.scale, bias: k.bias, eps: k.eps}
	laneNormTasks.Run(ctx, lanes, minLanes, &job)
	return ctx.Result(out), nil
}

// laneNorm is the multi-threaded layer normalization's work: lanes of d values of x into y.
type laneNorm struct {
	x, y, scale, bias []float32
	d                 int
	eps               float32
}

var laneNormTasks ops.TaskPool[laneNorm, *laneNorm]

// Chunk implements workers.Task: lanes [lo, hi).
func (j *laneNorm) Chunk(lo, hi int) {
	for l := lo; l < hi; l++ {
		normalizeLane(j.y[l*j.d:(l+1)*j.d], j.x[l*j.d:(l+1)*j.d], j.scale, j.bias, j.eps)
	}
}

// normalizeLane writes (x − mean)/√(variance + eps)·scale + bias for one lane; bias may be nil.
func normalizeLane(dst, x, scale, bias []float32, eps float32) {
	mean, variance := vecmath.MeanVar(x)
	vecmath.Normalize(dst, x, mean, float32(1/math.Sqrt(variance+float64(eps))), scale, bias)
}
