package ops

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/tensor"
)

// The Reduce* family. Floats accumulate in float64 and integers in int64, so sums of many float32
// values do not drift and integer results are exact; the result is rounded once to the input
// type. The walk reuses the broadcast plan: the accumulator, shaped like the input with ones on
// reduced axes, is "broadcast" against the input, which maps every input element to its slot.

type reduceKind int

const (
	reduceSum reduceKind = iota
	reduceMean
	reduceMax
	reduceMin
	reduceProd
	reduceL1
	reduceL2
	reduceLogSum
	reduceLogSumExp
	reduceSumSquare
)

func init() {
	// axesInput is the opset from which axes moved from an attribute to the second input.
	kinds := []struct {
		op        string
		kind      reduceKind
		axesInput int
	}{
		{"ReduceSum", reduceSum, 13},
		{"ReduceMean", reduceMean, 18},
		{"ReduceMax", reduceMax, 18},
		{"ReduceMin", reduceMin, 18},
		{"ReduceProd", reduceProd, 18},
		{"ReduceL1", reduceL1, 18},
		{"ReduceL2", reduceL2, 18},
		{"ReduceLogSum", reduceLogSum, 18},
		{"ReduceLogSumExp", reduceLogSumExp, 18},
		{"ReduceSumSquare", reduceSumSquare, 18},
	}
	for _, k := range kinds {
		Register(DefaultDomain, k.op, 1, reduceFactory(k.kind, k.axesInput))
	}
}

func reduceFactory(kind reduceKind, axesInputSince int) Factory {
	return func(n *Node) (Kernel, error) {
		keepdims := n.AttrInt("keepdims", 1) != 0
		noop := n.AttrInt("noop_with_empty_axes", 0) != 0
		axesFromInput := n.Version >= axesInputSince
		attrAxes := n.AttrInts("axes", nil)
		if axesFromInput && n.HasAttr("axes") {
			return nil, fmt.Errorf("axes is an input from opset %d, not an attribute", axesInputSince)
		}
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 1); err != nil {
				return nil, err
			}
			axes := attrAxes
			if axesFromInput && len(in) > 1 && in[1] != nil {
				var err error
				if axes, err = toInt64s(in[1]); err != nil {
					return nil, fmt.Errorf("axes: %w", err)
				}
			}
			x := in[0]
			if len(axes) == 0 && noop {
				out, err := castTensor(ctx, x, x.DType) // a copy through ctx.Alloc
				return []*tensor.Tensor{out}, err
			}
			var maskBuf [8]bool
			reduced, err := reductionAxesInto(maskBuf[:], axes, x.Rank())
			if err != nil {
				return nil, err
			}
			out, err := reduce(ctx, kind, x, reduced, keepdims)
			if err != nil {
				return nil, err
			}
			return ctx.Result(out), nil
		}), nil
	}
}

// normalizeAxis maps a possibly negative axis into [0, rank).
func normalizeAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// reductionAxes returns a per-dimension mask of reduced axes; no axes means all of them.
func reductionAxes(axes []int64, rank int) ([]bool, error) {
	return reductionAxesInto(nil, axes, rank)
}

// reductionAxesInto is reductionAxes building the mask in dst's array when it is long enough.
func reductionAxesInto(dst []bool, axes []int64, rank int) ([]bool, error) {
	mask := dst[:0]
	if cap(mask) < rank {
		mask = make([]bool, rank)
	}
	mask = mask[:rank]
	clear(mask)
	if len(axes) == 0 {
		for i := range mask {
			mask[i] = true
		}
		return mask, nil
	}
	for _, a := range axes {
		ax, err := normalizeAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if mask[ax] {
			return nil, fmt.Errorf("axis %d repeated", a)
		}
		mask[ax] = true
	}
	return mask, nil
}

// reduceShapes returns the accumulator shape (ones on reduced axes) and the output shape.
func reduceShapes(shape []int, mask []bool, keepdims bool) (kept, out []int) {
	return reduceShapesInto(nil, nil, shape, mask, keepdims)
}

// reduceShapesInto is reduceShapes building kept and out in the arrays of keptBuf and outBuf when
// they are long enough.
func reduceShapesInto(keptBuf, outBuf, shape []int, mask []bool, keepdims bool) (kept, out []int) {
	kept = keptBuf[:0]
	if cap(kept) < len(shape) {
		kept = make([]int, len(shape))
	}
	kept = kept[:len(shape)]
	out = outBuf[:0]
	if out == nil {
		out = []int{}
	}
	for i, d := range shape {
		if mask[i] {
			kept[i] = 1
			if keepdims {
				out = append(out, 1)
			}
			continue
		}
		kept[i] = d
		out = append(out, d)
	}
	return kept, out
}

func reduce(ctx *Context, kind reduceKind, x *tensor.Tensor, mask []bool, keepdims bool) (*tensor.Tensor, error) {
	var keptBuf, outBuf [8]int
	kept, outShape := reduceShapesInto(keptBuf[:], outBuf[:], x.Shape, mask, keepdims)
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
	slots := tensor.NumElements(kept)
	out := ctx.AllocOverwrite(x.DType, outShape) // every slot is stored below
	if x.DType == tensor.Float32 && (kind == reduceSum || kind == reduceMean) && count > 0 && trailingAxes(mask) {
		sumContiguous(out.F32(), x.F32(), count, kind == reduceMean)
		return out, nil
	}
	switch {
	case x.DType == tensor.Float32:
		scratch := reduceScratch.Get().(*[]float64)
		if cap(*scratch) < slots {
			*scratch = make([]float64, slots)
		}
		err := storeFloats(reduceFloatsInto((*scratch)[:slots], p, kind, x.F32(), count), out)
		reduceScratch.Put(scratch)
		return out, err
	case x.DType.IsFloat():
		return out, storeFloats(reduceFloats(p, kind, toFloat64s(x), slots, count), out)
	case x.DType == tensor.Bool:
		if kind != reduceMax && kind != reduceMin {
			return nil, fmt.Errorf("bool input is only defined for ReduceMax and ReduceMin")
		}
		vals := toFloat64s(x)
		acc := reduceFloats(p, kind, vals, slots, count)
		dst := out.Data.([]bool)
		for i, v := range acc {
			// An empty max is -inf (false) and an empty min +inf (true), as any/all.
			dst[i] = v > 0
		}
		return out, nil
	case x.DType == tensor.String:
		return nil, fmt.Errorf("unsupported input type %v", x.DType)
	}
	if isUnsigned(x.DType) {
		wide, err := castTensor(ctx, x, tensor.Uint64)
		if err != nil {
			return nil, err
		}
		acc, err := reduceInts(p, kind, wide.Data.([]uint64), slots, count, 0, uint64(1)<<(8*x.DType.Size())-1)
		if err != nil {
			return nil, err
		}
		return out, storeIntegers(acc, out)
	}
	vals, err := toInt64s(x)
	if err != nil {
		return nil, err
	}
	bits := 8 * x.DType.Size()
	lo, hi := int64(-1)<<(bits-1), int64(uint64(1)<<(bits-1)-1)
	acc, err := reduceInts(p, kind, vals, slots, count, lo, hi)
	if err != nil {
		return nil, err
	}
	return out, storeIntegers(acc, out)
}

// trailingAxes reports whether mask reduces the last axes and only those: each output slot is
// then a contiguous run of the input.
func trailingAxes(mask []bool) bool {
	i := len(mask)
	for i > 0 && mask[i-1] {
		i--
	}
	return i < len(mask) && !slices.Contains(mask[:i], true)
}

// sumContiguous sets dst[i] to the sum (or mean) of src's i-th run of count values, accumulated
// in float64 like the general path, with one vector sum per run: a global average pool over
// small planes (digits_cnn's 1024 4×4 planes) spent more on the general path's per-row
// bookkeeping than on its additions.
func sumContiguous(dst, src []float32, count int, mean bool) {
	for i := range dst {
		s := vecmath.Sum(src[i*count : (i+1)*count])
		if mean {
			s /= float64(count)
		}
		dst[i] = float32(s)
	}
}

// reduceScratch recycles the float64 accumulators of float32 reductions.
var reduceScratch = sync.Pool{New: func() any { return new([]float64) }}

// reduceFloats returns the reduced slots in float64.
func reduceFloats[T floatElem](p *broadcastPlan, kind reduceKind, x []T, slots, count int) []float64 {
	return reduceFloatsInto(make([]float64, slots), p, kind, x, count)
}

// reduceFloatsInto is reduceFloats accumulating in acc (one element per slot). A log-sum-exp
// returns a new slice; acc then holds the slot maxima.
func reduceFloatsInto[T floatElem](acc []float64, p *broadcastPlan, kind reduceKind, x []T, count int) []float64 {
	slots := len(acc)
	init := 0.0
	switch kind {
	case reduceProd:
		init = 1
	case reduceMax, reduceLogSumExp:
		init = math.Inf(-1)
	case reduceMin:
		init = math.Inf(1)
	}
	for i := range acc {
		acc[i] = init
	}
	sb, inner := p.InnerStride[1], p.Inner
	pass := kind
	if kind == reduceLogSumExp {
		pass = reduceMax // first pass: the slot maxima
	}
	p.ForRows2(0, p.Rows(), func(o, _, ib int) {
		accumulateRow(pass, acc, ib, sb, x[o:o+inner])
	})
	if kind == reduceLogSumExp {
		// Subtract the slot maximum before exponentiating so large inputs do not overflow.
		peak := acc
		acc = make([]float64, slots)
		p.ForRows2(0, p.Rows(), func(o, _, ib int) {
			row := x[o : o+inner]
			for j, v := range row {
				k := ib + j*sb
				if !math.IsInf(peak[k], 0) {
					acc[k] += math.Exp(float64(v) - peak[k])
				}
			}
		})
		for i := range acc {
			if math.IsInf(peak[i], 0) || math.IsNaN(peak[i]) {
				acc[i] = peak[i]
			} else {
				acc[i] = peak[i] + math.Log(acc[i])
			}
		}
	}
	switch kind {
	case reduceMean:
		for i := range acc {
			acc[i] /= float64(count)
		}
	case reduceL2:
		for i := range acc {
			acc[i] = math.Sqrt(acc[i])
		}
	case reduceLogSum:
		for i := range acc {
			acc[i] = math.Log(acc[i])
		}
	}
	return acc
}

// accumulateRow folds one input row into the accumulator: into the single slot acc[at] when the
// row lies along reduced axes (stride 0), else element by element into acc[at:].
func accumulateRow[T floatElem](kind reduceKind, acc []float64, at, stride int, row []T) {
	if stride == 0 {
		a := acc[at]
		switch kind {
		case reduceSum, reduceMean, reduceLogSum:
			// Four running sums: one chain of dependent adds made a global average pool
			// latency-bound.
			var s0, s1, s2, s3 float64
			j := 0
			for ; j+4 <= len(row); j += 4 {
				s0 += float64(row[j])
				s1 += float64(row[j+1])
				s2 += float64(row[j+2])
				s3 += float64(row[j+3])
			}
			for ; j < len(row); j++ {
				s0 += float64(row[j])
			}
			a += (s0 + s1) + (s2 + s3)
		case reduceL1:
			for _, v := range row {
				a += math.Abs(float64(v))
			}
		case reduceL2, reduceSumSquare:
			var s0, s1, s2, s3 float64
			j := 0
			for ; j+4 <= len(row); j += 4 {
				s0 += float64(row[j]) * float64(row[j])
				s1 += float64(row[j+1]) * float64(row[j+1])
				s2 += float64(row[j+2]) * float64(row[j+2])
				s3 += float64(row[j+3]) * float64(row[j+3])
			}
			for ; j < len(row); j++ {
				s0 += float64(row[j]) * float64(row[j])
			}
			a += (s0 + s1) + (s2 + s3)
		case reduceProd:
			for _, v := range row {
				a *= float64(v)
			}
		case reduceMax:
			for _, v := range row {
				if float64(v) > a || v != v {
					a = float64(v)
				}
			}
		case reduceMin:
			for _, v := range row {
				if float64(v) < a || v != v {
					a = float64(v)
				}
			}
		}
		acc[at] = a
		return
	}
	dst := acc[at : at+len(row)]
	switch kind {
	case reduceSum, reduceMean, reduceLogSum:
		for j, v := range row {
			dst[j] += float64(v)
		}
	case reduceL1:
		for j, v := range row {
			dst[j] += math.Abs(float64(v))
		}
	case reduceL2, reduceSumSquare:
		for j, v := range row {
			dst[j] += float64(v) * float64(v)
		}
	case reduceProd:
		for j, v := range row {
			dst[j] *= float64(v)
		}
	case reduceMax:
		for j, v := range row {
			if float64(v) > dst[j] || v != v {
				dst[j] = float64(v)
			}
		}
	case reduceMin:
		for j, v := range row {
			if float64(v) < dst[j] || v != v {
				dst[j] = float64(v)
			}
		}
	}
}

// reduceInts reduces integers widened to int64 or uint64, exactly (sums wrap like the input
// type's arithmetic once stored back); lo and hi are the input type's range, the identities of
// max and min.
func reduceInts[W int64 | uint64](p *broadcastPlan, kind reduceKind, x []W, slots, count int, lo, hi W) ([]W, error) {
	acc := make([]W, slots)
	var init W
	switch kind {
	case reduceProd:
		init = 1
	case reduceMax:
		init = lo
	case reduceMin:
		init = hi
	case reduceLogSum, reduceLogSumExp:
		return nil, fmt.Errorf("integer input is not supported for this reduction")
	}
	for i := range acc {
		acc[i] = init
	}
	sb, inner := p.InnerStride[1], p.Inner
	p.ForRows2(0, p.Rows(), func(o, _, ib int) {
		row := x[o : o+inner]
		for j, v := range row {
			a := &acc[ib+j*sb]
			switch kind {
			case reduceSum, reduceMean:
				*a += v
			case reduceProd:
				*a *= v
			case reduceL1:
				if v < 0 {
					v = -v
				}
				*a += v
			case reduceL2, reduceSumSquare:
				*a += v * v
			case reduceMax:
				*a = max(*a, v)
			case reduceMin:
				*a = min(*a, v)
			}
		}
	})
	switch kind {
	case reduceMean:
		if count > 0 {
			for i := range acc {
				acc[i] /= W(count)
			}
		}
	case reduceL2:
		for i := range acc {
			acc[i] = W(math.Sqrt(float64(acc[i])))
		}
	}
	return acc, nil
}
