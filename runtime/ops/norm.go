package ops

import (
	"fmt"
	"github.com/actswap/actswap/internal/vecmath"
	"math"

	"github.com/actswap/actswap/tensor"
)

// Normalisation ops. Statistics are computed in float64 whatever the input type (ONNX's
// stash_type asks for at least float32), then the result is rounded once to the input type.

func init() {
	Register(DefaultDomain, "BatchNormalization", 1, newBatchNorm)
	Register(DefaultDomain, "InstanceNormalization", 1, newInstanceNorm)
	Register(DefaultDomain, "LayerNormalization", 17, newLayerNorm)
	Register(DefaultDomain, "RMSNormalization", 23, newRMSNorm)
	Register(DefaultDomain, "GroupNormalization", 18, newGroupNorm)
	Register(DefaultDomain, "LpNormalization", 1, newLpNorm)
	Register(DefaultDomain, "MeanVarianceNormalization", 9, newMVN)
	Register(DefaultDomain, "LRN", 1, newLRN)
}

// expandTo returns t's values broadcast (one way) to shape, as float64.
func expandTo(t *tensor.Tensor, shape []int, what string) ([]float64, error) {
	p, err := broadcastPlanOf(shape, t.Shape)
	if err != nil || !tensor.SameShape(p.Out, shape) {
		return nil, fmt.Errorf("%s of shape %v does not broadcast to %v", what, t.Shape, shape)
	}
	vals := toFloat64s(t)
	idx := p.Indices()[1]
	out := make([]float64, len(idx))
	for i, j := range idx {
		out[i] = vals[j]
	}
	return out, nil
}

// floatOut allocates an output of x's dtype and stores float64 values in it.
func floatOut(ctx *Context, dt tensor.DType, shape []int, vals []float64) (*tensor.Tensor, error) {
	out := ctx.Alloc(dt, shape)
	return out, storeFloats(vals, out)
}

func requireFloat(t *tensor.Tensor, what string) error {
	if !t.DType.IsFloat() {
		return fmt.Errorf("%s: unsupported type %v (want a float type)", what, t.DType)
	}
	return nil
}

// perChannel reads a [C] parameter (or, for old non-spatial BatchNorm, a [C, D…] one) into a
// per-(channel, position) lookup.
func perChannel(t *tensor.Tensor, c, spatial int, what string) (func(ch, pos int) float64, error) {
	v := toFloat64s(t)
	switch len(v) {
	case c:
		return func(ch, _ int) float64 { return v[ch] }, nil
	case c * spatial:
		return func(ch, pos int) float64 { return v[ch*spatial+pos] }, nil
	}
	return nil, fmt.Errorf("%s has %d elements, want %d (one per channel)", what, len(v), c)
}

// bnAffine returns inference BatchNormalization as one scale and shift per channel:
// a = scale/√(var + eps) and b = bias − mean·a, computed in float64, for per-channel float32
// parameters (scale, bias, mean, var) of length c; ok is false for other types and shapes.
func bnAffine(params []*tensor.Tensor, c int, eps float64) (a, b []float32, ok bool) {
	var p [4][]float32
	for i, t := range params {
		if t == nil || t.DType != tensor.Float32 || t.Len() != c || c == 0 {
			return nil, nil, false
		}
		p[i] = t.F32()
	}
	a, b = make([]float32, c), make([]float32, c)
	for ch := range a {
		ach := float64(p[0][ch]) / math.Sqrt(float64(p[3][ch])+eps)
		a[ch], b[ch] = float32(ach), float32(float64(p[1][ch])-float64(p[2][ch])*ach)
	}
	return a, b, true
}

// batchNormFloat32 is inference BatchNormalization for float32 data with the per-channel scale
// and shift of bnAffine (BatchNormalization that no Conv absorbed: DenseNet's and pre-activation
// ResNets' BN → ReLU → Conv): y = x·a + b over every plane with vector kernels.
func batchNormFloat32(ctx *Context, x *tensor.Tensor, a, b []float32, spatial int) *tensor.Tensor {
	out := ctx.AllocOverwrite(tensor.Float32, x.Shape)
	src, dst := x.F32(), out.F32()
	for plane := 0; plane*spatial < len(src); plane++ {
		ch := plane % len(a)
		d := dst[plane*spatial : (plane+1)*spatial]
		vecmath.ArithScalar(vecmath.OpMul, d, src[plane*spatial:(plane+1)*spatial], a[ch])
		vecmath.ArithScalar(vecmath.OpAdd, d, d, b[ch])
	}
	return out
}

// channelSplit views an [N, C, D…] tensor as (N, C, spatial size).
func channelSplit(shape []int) (n, c, spatial int, err error) {
	if len(shape) < 2 {
		if len(shape) == 1 {
			return shape[0], 1, 1, nil
		}
		return 0, 0, 0, fmt.Errorf("input must have rank ≥ 1, got %v", shape)
	}
	return shape[0], shape[1], tensor.NumElements(shape[2:]), nil
}

// newBatchNorm implements inference (running statistics) and, from opset 14, training_mode=1,
// which normalises with the batch statistics and also returns the updated running ones.
func newBatchNorm(n *Node) (Kernel, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	momentum := float64(n.AttrFloat("momentum", 0.9))
	// Before opset 14 a node asked for training by declaring the statistics outputs.
	training := n.AttrInt("training_mode", 0) != 0 ||
		(n.Version < 14 && n.NumOutputs() > 1 && n.AttrInt("is_test", 0) == 0)
	// Constant parameters (the usual case) give the per-channel scale and shift once, here.
	var constA, constB []float32
	if !training && len(n.Const) >= 5 && n.Const[1] != nil {
		constA, constB, _ = bnAffine(n.Const[1:5], n.Const[1].Len(), eps)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 5); err != nil {
			return nil, err
		}
		x := in[0]
		if err := requireFloat(x, "X"); err != nil {
			return nil, err
		}
		nb, c, spatial, err := channelSplit(x.Shape)
		if err != nil {
			return nil, err
		}
		if !training && x.DType == tensor.Float32 && spatial > 0 {
			a, b, ok := constA, constB, len(constA) == c
			if !ok {
				a, b, ok = bnAffine(in[1:5], c, eps)
			}
			if ok {
				return ctx.Result(batchNormFloat32(ctx, x, a, b, spatial)), nil
			}
		}
		scale, err := perChannel(in[1], c, spatial, "scale")
		if err != nil {
			return nil, err
		}
		bias, err := perChannel(in[2], c, spatial, "B")
		if err != nil {
			return nil, err
		}
		mean, err := perChannel(in[3], c, spatial, "mean")
		if err != nil {
			return nil, err
		}
		variance, err := perChannel(in[4], c, spatial, "var")
		if err != nil {
			return nil, err
		}
		xs := toFloat64s(x)
		y := make([]float64, len(xs))
		if !training {
			for b := 0; b < nb; b++ {
				for ch := 0; ch < c; ch++ {
					off := (b*c + ch) * spatial
					for s := 0; s < spatial; s++ {
						inv := 1 / math.Sqrt(variance(ch, s)+eps)
						y[off+s] = (xs[off+s]-mean(ch, s))*inv*scale(ch, s) + bias(ch, s)
					}
				}
			}
			out, err := floatOut(ctx, x.DType, x.Shape, y)
			return []*tensor.Tensor{out}, err
		}
		// Training mode: batch statistics per channel over N and the spatial positions.
		count := float64(nb * spatial)
		bm := make([]float64, c)
		bv := make([]float64, c)
		for ch := 0; ch < c; ch++ {
			sum := 0.0
			for b := 0; b < nb; b++ {
				for _, v := range xs[(b*c+ch)*spatial : (b*c+ch+1)*spatial] {
					sum += v
				}
			}
			bm[ch] = sum / count
			sq := 0.0
			for b := 0; b < nb; b++ {
				for _, v := range xs[(b*c+ch)*spatial : (b*c+ch+1)*spatial] {
					sq += (v - bm[ch]) * (v - bm[ch])
				}
			}
			bv[ch] = sq / count
			inv := 1 / math.Sqrt(bv[ch]+eps)
			for b := 0; b < nb; b++ {
				off := (b*c + ch) * spatial
				for s := 0; s < spatial; s++ {
					y[off+s] = (xs[off+s]-bm[ch])*inv*scale(ch, s) + bias(ch, s)
				}
			}
		}
		outs := make([]*tensor.Tensor, 5)
		if outs[0], err = floatOut(ctx, x.DType, x.Shape, y); err != nil {
			return nil, err
		}
		// Opsets 9–13 may also ask for the batch statistics themselves (saved_mean, saved_var).
		if n.HasOutput(3) {
			if outs[3], err = floatOut(ctx, in[3].DType, []int{c}, bm); err != nil {
				return nil, err
			}
		}
		if n.HasOutput(4) {
			if outs[4], err = floatOut(ctx, in[4].DType, []int{c}, bv); err != nil {
				return nil, err
			}
		}
		rm := make([]float64, c)
		rv := make([]float64, c)
		for ch := 0; ch < c; ch++ {
			rm[ch] = mean(ch, 0)*momentum + bm[ch]*(1-momentum)
			rv[ch] = variance(ch, 0)*momentum + bv[ch]*(1-momentum)
		}
		if outs[1], err = floatOut(ctx, in[3].DType, []int{c}, rm); err != nil {
			return nil, err
		}
		if outs[2], err = floatOut(ctx, in[4].DType, []int{c}, rv); err != nil {
			return nil, err
		}
		return outs, nil
	}), nil
}

func newInstanceNorm(n *Node) (Kernel, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 3); err != nil {
			return nil, err
		}
		x := in[0]
		if err := requireFloat(x, "input"); err != nil {
			return nil, err
		}
		if x.Rank() < 2 {
			return nil, fmt.Errorf("input must have rank ≥ 2, got %v", x.Shape)
		}
		nb, c, spatial, _ := channelSplit(x.Shape)
		scale, err := perChannel(in[1], c, 1, "scale")
		if err != nil {
			return nil, err
		}
		bias, err := perChannel(in[2], c, 1, "B")
		if err != nil {
			return nil, err
		}
		xs := toFloat64s(x)
		y := make([]float64, len(xs))
		for b := 0; b < nb; b++ {
			for ch := 0; ch < c; ch++ {
				lane := xs[(b*c+ch)*spatial : (b*c+ch+1)*spatial]
				m, v := meanVar(lane)
				inv := 1 / math.Sqrt(v+eps)
				dst := y[(b*c+ch)*spatial:]
				for s, xv := range lane {
					dst[s] = (xv-m)*inv*scale(ch, 0) + bias(ch, 0)
				}
			}
		}
		out, err := floatOut(ctx, x.DType, x.Shape, y)
		return []*tensor.Tensor{out}, err
	}), nil
}

// meanVar returns the mean and population variance of v.
func meanVar(v []float64) (mean, variance float64) {
	if len(v) == 0 {
		return 0, 0
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(v))
}

// trailingSplit views shape as [outer, inner] with inner = prod(shape[axis:]).
func trailingSplit(shape []int, axisAttr int64) (axis, outer, inner int, err error) {
	axis, err = normalizeAxis(axisAttr, len(shape))
	if err != nil {
		return 0, 0, 0, err
	}
	return axis, tensor.NumElements(shape[:axis]), tensor.NumElements(shape[axis:]), nil
}

// newLayerNorm normalises over dimensions axis… and optionally returns Mean and InvStdDev
// (shaped like X with ones from axis on, in float32 unless stash_type says otherwise).
func newLayerNorm(n *Node) (Kernel, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	axisAttr := n.AttrInt("axis", -1)
	stash := tensor.DType(n.AttrInt("stash_type", 1))
	if !stash.IsFloat() {
		return nil, fmt.Errorf("LayerNormalization: stash_type %v is not a float type", stash)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		x := in[0]
		if err := requireFloat(x, "X"); err != nil {
			return nil, err
		}
		axis, outer, inner, err := trailingSplit(x.Shape, axisAttr)
		if err != nil {
			return nil, err
		}
		normShape := x.Shape[axis:]
		scale, err := expandTo(in[1], normShape, "Scale")
		if err != nil {
			return nil, err
		}
		var bias []float64
		if len(in) > 2 && in[2] != nil {
			if bias, err = expandTo(in[2], normShape, "B"); err != nil {
				return nil, err
			}
		}
		means := make([]float64, outer)
		invs := make([]float64, outer)
		y, err := trailingNorm(ctx, x, outer, inner, scale, bias, eps, means, invs)
		if err != nil {
			return nil, err
		}
		statShape := append([]int(nil), x.Shape...)
		for i := axis; i < len(statShape); i++ {
			statShape[i] = 1
		}
		outs := []*tensor.Tensor{y, nil, nil}
		if n.HasOutput(1) {
			if outs[1], err = floatOut(ctx, stash, statShape, means); err != nil {
				return nil, err
			}
		}
		if n.HasOutput(2) {
			if outs[2], err = floatOut(ctx, stash, statShape, invs); err != nil {
				return nil, err
			}
		}
		return outs, nil
	}), nil
}

// newRMSNorm: Y = X / sqrt(mean(X²) + ε) · scale over dimensions axis….
func newRMSNorm(n *Node) (Kernel, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	axisAttr := n.AttrInt("axis", -1)
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		x := in[0]
		if err := requireFloat(x, "X"); err != nil {
			return nil, err
		}
		axis, outer, inner, err := trailingSplit(x.Shape, axisAttr)
		if err != nil {
			return nil, err
		}
		scale, err := expandTo(in[1], x.Shape[axis:], "scale")
		if err != nil {
			return nil, err
		}
		y, err := trailingNorm(ctx, x, outer, inner, scale, nil, eps, nil, nil)
		if err != nil {
			return nil, err
		}
		return ctx.Result(y), nil
	}), nil
}

// trailingNorm normalises each of the outer contiguous lanes of inner elements and applies the
// per-position scale and bias. With means non-nil it centres the lane (LayerNorm) and records the
// statistics; with means nil it divides by the root mean square (RMSNorm). float32 and float64
// data are read and written in place of a float64 copy, since these ops sit on hot paths.
func trailingNorm(ctx *Context, x *tensor.Tensor, outer, inner int, scale, bias []float64, eps float64,
	means, invs []float64) (*tensor.Tensor, error) {
	w := widenHalf(x)
	out := ctx.Alloc(w.DType, x.Shape)
	switch src := w.Data.(type) {
	case []float32:
		normLanes(ctx, src, out.F32(), outer, inner, scale, bias, eps, means, invs)
	case []float64:
		normLanes(ctx, src, out.Data.([]float64), outer, inner, scale, bias, eps, means, invs)
	default:
		return nil, fmt.Errorf("unsupported type %v", x.DType)
	}
	return narrowTo(ctx, out, x.DType), nil
}

func normLanes[T floatElem](ctx *Context, x, y []T, outer, inner int, scale, bias []float64, eps float64,
	means, invs []float64) {
	if inner == 0 {
		return
	}
	ctx.Parallel(outer, max(1, elementwiseMinChunk/inner), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			lane, dst := x[o*inner:(o+1)*inner], y[o*inner:(o+1)*inner]
			m := 0.0
			if means != nil {
				for _, v := range lane {
					m += float64(v)
				}
				m /= float64(inner)
			}
			sq := 0.0
			for _, v := range lane {
				d := float64(v) - m
				sq += d * d
			}
			inv := 1 / math.Sqrt(sq/float64(inner)+eps)
			if means != nil {
				means[o], invs[o] = m, inv
			}
			for i, v := range lane {
				r := (float64(v) - m) * inv * scale[i]
				if bias != nil {
					r += bias[i]
				}
				dst[i] = T(r)
			}
		}
	})
}

// newGroupNorm normalises each group of channels. Opset 18 gives scale/bias one value per group,
// opset 21 one per channel.
func newGroupNorm(n *Node) (Kernel, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	groups := int(n.AttrInt("num_groups", 0))
	if groups <= 0 {
		return nil, fmt.Errorf("GroupNormalization: num_groups must be positive, got %d", groups)
	}
	perGroupParams := n.Version < 21
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 3); err != nil {
			return nil, err
		}
		x := in[0]
		if err := requireFloat(x, "X"); err != nil {
			return nil, err
		}
		if x.Rank() < 2 {
			return nil, fmt.Errorf("X must have rank ≥ 2, got %v", x.Shape)
		}
		nb, c, spatial, _ := channelSplit(x.Shape)
		if c%groups != 0 {
			return nil, fmt.Errorf("%d channels do not split into %d groups", c, groups)
		}
		per := c / groups
		params := c
		if perGroupParams {
			params = groups
		}
		scale, bias := toFloat64s(in[1]), toFloat64s(in[2])
		if len(scale) != params || len(bias) != params {
			return nil, fmt.Errorf("scale and bias need %d elements, got %d and %d", params, len(scale), len(bias))
		}
		xs := toFloat64s(x)
		y := make([]float64, len(xs))
		block := per * spatial
		for b := 0; b < nb; b++ {
			for g := 0; g < groups; g++ {
				off := (b*c + g*per) * spatial
				m, v := meanVar(xs[off : off+block])
				inv := 1 / math.Sqrt(v+eps)
				for k := 0; k < per; k++ {
					p := g*per + k
					if perGroupParams {
						p = g
					}
					for s := 0; s < spatial; s++ {
						at := off + k*spatial + s
						y[at] = (xs[at]-m)*inv*scale[p] + bias[p]
					}
				}
			}
		}
		out, err := floatOut(ctx, x.DType, x.Shape, y)
		return []*tensor.Tensor{out}, err
	}), nil
}

func newLpNorm(n *Node) (Kernel, error) {
	axisAttr := n.AttrInt("axis", -1)
	p := n.AttrInt("p", 2)
	if p != 1 && p != 2 {
		return nil, fmt.Errorf("LpNormalization: p must be 1 or 2, got %d", p)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if err := requireFloat(x, "input"); err != nil {
			return nil, err
		}
		if x.Rank() == 0 {
			return nil, fmt.Errorf("input must have rank ≥ 1")
		}
		axis, err := normalizeAxis(axisAttr, x.Rank())
		if err != nil {
			return nil, err
		}
		outer, cnt, inner := axisSplit(x.Shape, axis)
		xs := toFloat64s(x)
		y := make([]float64, len(xs))
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				base := o*cnt*inner + i
				norm := 0.0
				for k := 0; k < cnt; k++ {
					v := xs[base+k*inner]
					if p == 1 {
						norm += math.Abs(v)
					} else {
						norm += v * v
					}
				}
				if p == 2 {
					norm = math.Sqrt(norm)
				}
				for k := 0; k < cnt; k++ {
					if norm == 0 {
						continue // an all-zero lane stays zero rather than becoming NaN
					}
					y[base+k*inner] = xs[base+k*inner] / norm
				}
			}
		}
		out, err := floatOut(ctx, x.DType, x.Shape, y)
		return []*tensor.Tensor{out}, err
	}), nil
}

// newMVN: (X − mean) / (std + 1e-9) with statistics over axes (default N and spatial dims),
// as ONNX's function body defines it.
func newMVN(n *Node) (Kernel, error) {
	axes := n.AttrInts("axes", []int64{0, 2, 3})
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if err := requireFloat(x, "X"); err != nil {
			return nil, err
		}
		mask, err := reductionAxes(axes, x.Rank())
		if err != nil {
			return nil, err
		}
		kept, _ := reduceShapes(x.Shape, mask, true)
		p, err := broadcastPlanOf(x.Shape, kept)
		if err != nil {
			return nil, err
		}
		count := 1
		for i, d := range x.Shape {
			if mask[i] {
				count *= d
			}
		}
		xs := toFloat64s(x)
		slots := tensor.NumElements(kept)
		mean := reduceFloats(p, reduceMean, xs, slots, count)
		sq := make([]float64, len(xs))
		for i, v := range xs {
			sq[i] = v * v
		}
		meanSq := reduceFloats(p, reduceMean, sq, slots, count)
		idx := p.Indices()[1]
		y := make([]float64, len(xs))
		for i, v := range xs {
			k := idx[i]
			std := math.Sqrt(max(0, meanSq[k]-mean[k]*mean[k]))
			y[i] = (v - mean[k]) / (std + 1e-9)
		}
		out, err := floatOut(ctx, x.DType, x.Shape, y)
		return []*tensor.Tensor{out}, err
	}), nil
}

// newLRN: local response normalisation across channels,
// y = x / (bias + alpha/size · Σ x²)^beta over a window of size channels around each one.
func newLRN(n *Node) (Kernel, error) {
	size := int(n.AttrInt("size", 0))
	if size <= 0 {
		return nil, fmt.Errorf("LRN: size must be positive, got %d", size)
	}
	alpha := float64(n.AttrFloat("alpha", 1e-4))
	beta := float64(n.AttrFloat("beta", 0.75))
	bias := float64(n.AttrFloat("bias", 1))
	before, after := (size-1)/2, size/2 // floor and ceil of (size−1)/2
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if err := requireFloat(x, "X"); err != nil {
			return nil, err
		}
		if x.Rank() < 2 {
			return nil, fmt.Errorf("X must have rank ≥ 2, got %v", x.Shape)
		}
		nb, c, spatial, _ := channelSplit(x.Shape)
		xs := toFloat64s(x)
		y := make([]float64, len(xs))
		for b := 0; b < nb; b++ {
			for ch := 0; ch < c; ch++ {
				lo, hi := max(0, ch-before), min(c-1, ch+after)
				for s := 0; s < spatial; s++ {
					sum := 0.0
					for k := lo; k <= hi; k++ {
						v := xs[(b*c+k)*spatial+s]
						sum += v * v
					}
					at := (b*c+ch)*spatial + s
					y[at] = xs[at] / math.Pow(bias+alpha/float64(size)*sum, beta)
				}
			}
		}
		out, err := floatOut(ctx, x.DType, x.Shape, y)
		return []*tensor.Tensor{out}, err
	}), nil
}
