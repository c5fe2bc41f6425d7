package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// com.microsoft contrib operators that onnxruntime's transformer optimizer writes into models
// (fused GELU variants, bias/residual adds folded into LayerNorm, MatMul with transposes), so such
// optimized models run here too. Semantics follow onnxruntime's ContribOperators documentation;
// every op is evaluated in float64 per element and rounded once to the input's float type.

// MicrosoftDomain is the operator-set domain of onnxruntime's contrib operators.
const MicrosoftDomain = "com.microsoft"

func init() {
	Register(MicrosoftDomain, "Gelu", 1, func(n *Node) (Kernel, error) { return biasActivation(geluErf, false), nil })
	Register(MicrosoftDomain, "BiasGelu", 1, func(n *Node) (Kernel, error) { return biasActivation(geluErf, true), nil })
	// FastGelu's definition is the tanh approximation, 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
	Register(MicrosoftDomain, "FastGelu", 1, func(n *Node) (Kernel, error) { return biasActivation(geluTanh, false), nil })
	Register(MicrosoftDomain, "QuickGelu", 1, func(n *Node) (Kernel, error) {
		alpha := float64(n.AttrFloat("alpha", 1.702))
		return biasActivation(func(x float64) float64 { return x * sigmoid(alpha*x) }, false), nil
	})
	Register(MicrosoftDomain, "BiasAdd", 1, newBiasAdd)
	Register(MicrosoftDomain, "SkipLayerNormalization", 1, func(n *Node) (Kernel, error) { return newSkipLayerNorm(n, false) })
	Register(MicrosoftDomain, "SkipSimplifiedLayerNormalization", 1, func(n *Node) (Kernel, error) { return newSkipLayerNorm(n, true) })
	Register(MicrosoftDomain, "FusedMatMul", 1, newFusedMatMul)
	// onnxruntime also defines LayerNormalization and SimplifiedLayerNormalization (RMSNorm) in the
	// ONNX domain at version 1, and its transformer optimizer writes them into models of any
	// opset. Their inputs, attributes and first output are those of ONNX's LayerNormalization-17
	// and RMSNormalization-23.
	Register(DefaultDomain, "LayerNormalization", 1, newLayerNorm)
	Register(DefaultDomain, "SimplifiedLayerNormalization", 1, newRMSNorm)
}

// biasActivation computes f(x + bias), bias a 1-D tensor over x's last axis; the bias input is
// optional (FastGelu) unless needBias (BiasGelu), and ignored when absent.
func biasActivation(f func(float64) float64, needBias bool) Kernel {
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		want := 1
		if needBias {
			want = 2
		}
		if err := needInputs(in, want); err != nil {
			return nil, err
		}
		x := in[0]
		if err := requireFloat(x, "X"); err != nil {
			return nil, err
		}
		var bias []float64
		if len(in) > 1 && in[1] != nil {
			b, err := lastAxisVector(in[1], x, "bias")
			if err != nil {
				return nil, err
			}
			bias = b
		}
		if bias == nil {
			return unaryKernel(floatUnary{f64: f}, nil).Run(ctx, in[:1])
		}
		c := len(bias)
		out := ctx.Alloc(x.DType, x.Shape)
		if src, ok := x.Data.([]float32); ok {
			dst := out.F32()
			ctx.Parallel(len(src)/c, 1, func(lo, hi int) {
				for i := lo * c; i < hi*c; i++ {
					dst[i] = float32(f(float64(src[i]) + bias[i%c]))
				}
			})
			return ctx.Result(out), nil
		}
		vals := toFloat64s(x)
		if x.DType != tensor.Float64 {
			// The sum x+bias is rounded to the element type first, as a kernel working in that type does.
			for i := range vals {
				vals[i] = roundFloat(x.DType, vals[i]+bias[i%c])
			}
		} else {
			for i := range vals {
				vals[i] += bias[i%c]
			}
		}
		for i, v := range vals {
			vals[i] = f(v)
		}
		if err := storeFloats(vals, out); err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	})
}

// roundFloat rounds v to the precision of the float type dt (float16/bfloat16 go through float32).
func roundFloat(dt tensor.DType, v float64) float64 {
	switch dt {
	case tensor.Float32:
		return float64(float32(v))
	case tensor.Float16:
		return float64(tensor.Float16FromFloat32(float32(v)).Float32())
	case tensor.BFloat16:
		return float64(tensor.BFloat16FromFloat32(float32(v)).Float32())
	}
	return v
}

// lastAxisVector returns v's values when v is a float tensor of x's type holding one value per
// element of x's last axis (shape [C], or any shape of C elements whose leading dims are 1).
func lastAxisVector(v, x *tensor.Tensor, name string) ([]float64, error) {
	if v.DType != x.DType {
		return nil, fmt.Errorf("%s has type %v, X has %v", name, v.DType, x.DType)
	}
	if len(x.Shape) == 0 {
		return nil, fmt.Errorf("X is a scalar; %s needs a last axis", name)
	}
	c := x.Shape[len(x.Shape)-1]
	if v.Len() != c || (len(v.Shape) > 0 && v.Shape[len(v.Shape)-1] != c) {
		return nil, fmt.Errorf("%s has shape %v, want [%d] (X's last axis of %v)", name, v.Shape, c, x.Shape)
	}
	if c == 0 {
		return nil, fmt.Errorf("X's last axis is empty (shape %v)", x.Shape)
	}
	return toFloat64s(v), nil
}

// newBiasAdd: Y = X + bias + skip, X and skip [N, S, C], bias [C].
func newBiasAdd(n *Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 3); err != nil {
			return nil, err
		}
		x, skip := in[0], in[2]
		if err := requireFloat(x, "X"); err != nil {
			return nil, err
		}
		if len(x.Shape) != 3 {
			return nil, fmt.Errorf("X has shape %v, want [N, S, C]", x.Shape)
		}
		if skip.DType != x.DType || !tensor.SameShape(skip.Shape, x.Shape) {
			return nil, fmt.Errorf("skip is %v%v, want X's %v%v", skip.DType, skip.Shape, x.DType, x.Shape)
		}
		bias, err := lastAxisVector(in[1], x, "bias")
		if err != nil {
			return nil, err
		}
		xs, ss := toFloat64s(x), toFloat64s(skip)
		c := len(bias)
		for i := range xs {
			xs[i] = xs[i] + bias[i%c] + ss[i]
		}
		out := ctx.Alloc(x.DType, x.Shape)
		if err := storeFloats(xs, out); err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

// optionalAt is in[i] when present (nil for a negative i, an absent or empty input).
func optionalAt(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < 0 || i >= len(in) {
		return nil
	}
	return in[i]
}

// newSkipLayerNorm: s = input + skip (+ bias); output = LayerNorm(s over the last axis)·gamma
// (+ beta). Outputs: output, mean and inv_std_var (float32, shape [.., 1]; training aids), and s.
// skip may also be [S, C] or [1, S, C] against an input of [N, S, C] (broadcast over the batch).
// The simplified form (SkipSimplifiedLayerNormalization) is RMSNorm: no mean is subtracted and it
// has no beta; its inputs are input, skip, gamma, bias.
func newSkipLayerNorm(n *Node, simplified bool) (Kernel, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-12))
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 3); err != nil {
			return nil, err
		}
		x, skip := in[0], in[1]
		if err := requireFloat(x, "input"); err != nil {
			return nil, err
		}
		if r := len(x.Shape); r != 2 && r != 3 {
			return nil, fmt.Errorf("input has shape %v, want [N, S, C] or [T, C]", x.Shape)
		}
		if skip.DType != x.DType {
			return nil, fmt.Errorf("skip has type %v, input has %v", skip.DType, x.DType)
		}
		// skip repeats every period elements: the whole input, or one batch item.
		period := x.Len()
		if !tensor.SameShape(skip.Shape, x.Shape) {
			if len(x.Shape) != 3 || skip.Len() != x.Shape[1]*x.Shape[2] ||
				skip.Shape[len(skip.Shape)-1] != x.Shape[2] || (len(skip.Shape) == 3 && skip.Shape[0] != 1) {
				return nil, fmt.Errorf("skip has shape %v, want input's %v or [%d, %d]", skip.Shape, x.Shape, x.Shape[1], x.Shape[2])
			}
			period = skip.Len()
		}
		gamma, err := lastAxisVector(in[2], x, "gamma")
		if err != nil {
			return nil, err
		}
		var beta, bias []float64
		betaAt, biasAt := 3, 4
		if simplified {
			betaAt, biasAt = -1, 3
		}
		if b := optionalAt(in, betaAt); b != nil {
			if beta, err = lastAxisVector(b, x, "beta"); err != nil {
				return nil, err
			}
		}
		if b := optionalAt(in, biasAt); b != nil {
			if bias, err = lastAxisVector(b, x, "bias"); err != nil {
				return nil, err
			}
		}
		c := len(gamma)
		rows := x.Len() / c
		xs, ss := toFloat64s(x), toFloat64s(skip)
		sum := make([]float64, len(xs))
		y := make([]float64, len(xs))
		means := make([]float64, rows)
		invs := make([]float64, rows)
		for r := range rows {
			row, out := sum[r*c:(r+1)*c], y[r*c:(r+1)*c]
			mean := 0.0
			for j := range row {
				v := xs[r*c+j] + ss[(r*c+j)%period]
				if bias != nil {
					v += bias[j]
				}
				v = roundFloat(x.DType, v) // the sum output is in the input's type
				row[j] = v
				mean += v
			}
			mean /= float64(c)
			if simplified {
				mean = 0 // RMSNorm: the "variance" below is the mean square
			}
			variance := 0.0
			for _, v := range row {
				variance += (v - mean) * (v - mean)
			}
			inv := 1 / math.Sqrt(variance/float64(c)+eps)
			for j, v := range row {
				out[j] = (v - mean) * inv * gamma[j]
				if beta != nil {
					out[j] += beta[j]
				}
			}
			means[r], invs[r] = mean, inv
		}
		outY := ctx.Alloc(x.DType, x.Shape)
		if err := storeFloats(y, outY); err != nil {
			return nil, err
		}
		outs := []*tensor.Tensor{outY, nil, nil, nil}
		statShape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), 1)
		if n.HasOutput(1) {
			outs[1] = ctx.Alloc(tensor.Float32, statShape)
			_ = storeFloats(means, outs[1])
		}
		if n.HasOutput(2) {
			outs[2] = ctx.Alloc(tensor.Float32, statShape)
			_ = storeFloats(invs, outs[2])
		}
		if n.HasOutput(3) {
			outs[3] = ctx.Alloc(x.DType, x.Shape)
			if err := storeFloats(sum, outs[3]); err != nil {
				return nil, err
			}
		}
		return outs, nil
	}), nil
}

// newFusedMatMul: Y = alpha · op(A) · op(B), op transposing the last two axes when transA/transB
// is set; batch axes broadcast as in MatMul. transBatchA/transBatchB (moving the batch axes
// behind the matrix axes) are rejected rather than guessed at.
func newFusedMatMul(n *Node) (Kernel, error) {
	alpha := float64(n.AttrFloat("alpha", 1))
	transA, transB := n.AttrInt("transA", 0) != 0, n.AttrInt("transB", 0) != 0
	if n.AttrInt("transBatchA", 0) != 0 || n.AttrInt("transBatchB", 0) != 0 {
		return nil, fmt.Errorf("FusedMatMul: transBatchA/transBatchB are not supported")
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if err := requireFloat(a, "A"); err != nil {
			return nil, err
		}
		if b.DType != a.DType {
			return nil, fmt.Errorf("B has type %v, A has %v", b.DType, a.DType)
		}
		if len(a.Shape) < 2 || len(b.Shape) < 2 {
			// 1-D operands have nothing to transpose; ORT's FusedMatMul requires matrices too.
			return nil, fmt.Errorf("A %v and B %v must have rank ≥ 2", a.Shape, b.Shape)
		}
		av, bv := matrices(a, transA), matrices(b, transB)
		m, k := av.rows, av.cols
		if bv.rows != k {
			return nil, fmt.Errorf("inner dimensions differ: op(A) is %d×%d, op(B) is %d×%d", m, k, bv.rows, bv.cols)
		}
		nn := bv.cols
		batch, err := broadcastShapes(a.Shape[:len(a.Shape)-2], b.Shape[:len(b.Shape)-2])
		if err != nil {
			return nil, err
		}
		plan, err := newBroadcastPlan(a.Shape[:len(a.Shape)-2], b.Shape[:len(b.Shape)-2])
		if err != nil {
			return nil, err
		}
		idx := plan.Indices() // idx[0][i], idx[1][i]: A's and B's matrix for output matrix i
		outShape := append(append([]int(nil), batch...), m, nn)
		y := make([]float64, tensor.NumElements(outShape))
		for bi := range plan.N {
			aOff, bOff := idx[0][bi]*m*k, idx[1][bi]*k*nn
			dst := y[bi*m*nn : (bi+1)*m*nn]
			for i := range m {
				for j := range nn {
					s := 0.0
					for p := range k {
						s += av.at(aOff, i, p) * bv.at(bOff, p, j)
					}
					dst[i*nn+j] = alpha * s
				}
			}
		}
		out := ctx.Alloc(a.DType, outShape)
		if err := storeFloats(y, out); err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

// matrixView reads the last two axes of a tensor as a (possibly transposed) stack of matrices.
type matrixView struct {
	vals       []float64
	rows, cols int // of op(M)
	trans      bool
}

func matrices(t *tensor.Tensor, trans bool) matrixView {
	r, c := t.Shape[len(t.Shape)-2], t.Shape[len(t.Shape)-1]
	if trans {
		r, c = c, r
	}
	return matrixView{vals: toFloat64s(t), rows: r, cols: c, trans: trans}
}

// at returns op(M)[i, j] of the matrix starting at off.
func (v matrixView) at(off, i, j int) float64 {
	if v.trans {
		return v.vals[off+j*v.rows+i]
	}
	return v.vals[off+i*v.cols+j]
}
