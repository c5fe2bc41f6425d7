package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/tensor"
)

// Softmax, LogSoftmax and Hardmax. Before opset 13 the input is viewed as a 2-D matrix split at
// axis (default 1) and each row of that matrix is normalised; from 13 the op runs along the one
// axis (default -1).

type softmaxKind int

const (
	softmaxPlain softmaxKind = iota
	softmaxLog
	softmaxHard
)

func init() {
	Register(DefaultDomain, "Softmax", 1, softmaxFactory(softmaxPlain))
	Register(DefaultDomain, "LogSoftmax", 1, softmaxFactory(softmaxLog))
	Register(DefaultDomain, "Hardmax", 1, softmaxFactory(softmaxHard))
}

func softmaxFactory(kind softmaxKind) Factory {
	return func(n *Node) (Kernel, error) {
		flatten := n.Version < 13
		def := int64(-1)
		if flatten {
			def = 1
		}
		axisAttr := n.AttrInt("axis", def)
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 1); err != nil {
				return nil, err
			}
			x := in[0]
			if !x.DType.IsFloat() {
				return nil, fmt.Errorf("unsupported input type %v (want a float type)", x.DType)
			}
			rank := x.Rank()
			if rank == 0 {
				rank = 1 // a scalar normalises over itself
			}
			axis, err := normalizeAxis(axisAttr, rank)
			if err != nil {
				return nil, err
			}
			var outer, cnt, inner int
			if flatten {
				outer, inner = 1, 1
				for i, d := range x.Shape {
					if i < axis {
						outer *= d
					} else {
						inner *= d
					}
				}
				cnt, inner = inner, 1
			} else if x.Rank() == 0 {
				outer, cnt, inner = 1, 1, 1
			} else {
				outer, cnt, inner = axisSplit(x.Shape, axis)
			}
			w := widenHalf(x)
			out := ctx.Alloc(w.DType, x.Shape)
			switch src := w.Data.(type) {
			case []float32:
				switch {
				case kind == softmaxHard:
					softmaxLanes(ctx, kind, src, out.F32(), outer, cnt, inner)
				case inner == 1:
					softmaxRowsF32(ctx, kind == softmaxLog, src, out.F32(), cnt)
				default:
					softmaxPlanesF32(ctx, kind == softmaxLog, src, out.F32(), outer, cnt, inner)
				}
			case []float64:
				softmaxLanes(ctx, kind, src, out.Data.([]float64), outer, cnt, inner)
			}
			return ctx.Result(narrowTo(ctx, out, x.DType)), nil
		}), nil
	}
}

// softmaxLanes normalises each of the outer·inner lanes of cnt elements (stride inner), with the
// sum in float64 and the lane maximum subtracted first for stability.
func softmaxLanes[T floatElem](ctx *Context, kind softmaxKind, src, dst []T, outer, cnt, inner int) {
	lanes := outer * inner
	if cnt == 0 || lanes == 0 {
		return
	}
	minLanes := max(1, elementwiseMinChunk/cnt)
	ctx.Parallel(lanes, minLanes, func(lo, hi int) {
		for l := lo; l < hi; l++ {
			base := (l/inner)*cnt*inner + l%inner
			peak := src[base]
			at := 0
			for k := 1; k < cnt; k++ {
				if v := src[base+k*inner]; v > peak {
					peak, at = v, k
				}
			}
			switch kind {
			case softmaxHard:
				for k := 0; k < cnt; k++ {
					dst[base+k*inner] = 0
				}
				dst[base+at*inner] = 1
			case softmaxPlain:
				sum := 0.0
				for k := 0; k < cnt; k++ {
					e := math.Exp(float64(src[base+k*inner] - peak))
					dst[base+k*inner] = T(e)
					sum += e
				}
				inv := 1 / sum
				for k := 0; k < cnt; k++ {
					dst[base+k*inner] = T(float64(dst[base+k*inner]) * inv)
				}
			case softmaxLog:
				sum := 0.0
				for k := 0; k < cnt; k++ {
					sum += math.Exp(float64(src[base+k*inner] - peak))
				}
				logSum := math.Log(sum)
				for k := 0; k < cnt; k++ {
					dst[base+k*inner] = T(float64(src[base+k*inner]-peak) - logSum)
				}
			}
		}
	})
}

// softmaxRowsF32 is the common case, normalising contiguous float32 rows of length cnt with
// package vecmath's vector kernels (row max, exponentials and their sum, scaling).
func softmaxRowsF32(ctx *Context, logOut bool, src, dst []float32, cnt int) {
	rows := len(src) / max(cnt, 1)
	if cnt == 0 || rows == 0 {
		return
	}
	minChunk := max(1, elementwiseMinChunk/cnt)
	if ctx.Inline(rows, minChunk) {
		softmaxRowRange(logOut, src, dst, cnt, 0, rows)
		return
	}
	job := softmaxRows{logOut: logOut, src: src, dst: dst, cnt: cnt}
	softmaxRowTasks.Run(ctx, rows, minChunk, &job)
}

// softmaxRows is softmaxRowsF32's work for the workers.
type softmaxRows struct {
	logOut   bool
	src, dst []float32
	cnt      int
}

var softmaxRowTasks TaskPool[softmaxRows, *softmaxRows]

// Chunk implements workers.Task: rows [lo, hi).
func (j *softmaxRows) Chunk(lo, hi int) { softmaxRowRange(j.logOut, j.src, j.dst, j.cnt, lo, hi) }

// softmaxRowRange is softmaxRowsF32 over rows [lo, hi).
func softmaxRowRange(logOut bool, src, dst []float32, cnt, lo, hi int) {
	for r := lo; r < hi; r++ {
		x, y := src[r*cnt:(r+1)*cnt], dst[r*cnt:(r+1)*cnt]
		peak := rowMax(x)
		sum := expShiftSum(y, x, peak) // for LogSoftmax y is scratch, overwritten below
		if logOut {
			logSum := float32(math.Log(sum))
			for i, v := range x {
				y[i] = v - peak - logSum
			}
			continue
		}
		scaleRow(y, float32(1/sum))
	}
}

// softmaxPlanesF32 normalises along a middle axis (inner > 1, e.g. the channels of NCHW): for
// each outer index the cnt planes of inner contiguous values are combined lane by lane — plane
// maxima, then e^(x − max) by vecmath.Exp a plane at a time and the lane sums — so every pass
// reads memory contiguously.
func softmaxPlanesF32(ctx *Context, logOut bool, src, dst []float32, outer, cnt, inner int) {
	if cnt == 0 || outer*inner == 0 {
		return
	}
	ctx.Parallel(outer, max(1, elementwiseMinChunk/(cnt*inner)), func(lo, hi int) {
		peak := make([]float32, inner)
		sum := make([]float32, inner)
		for o := lo; o < hi; o++ {
			x := src[o*cnt*inner : (o+1)*cnt*inner]
			y := dst[o*cnt*inner : (o+1)*cnt*inner]
			copy(peak, x[:inner])
			for k := 1; k < cnt; k++ {
				for i, v := range x[k*inner : (k+1)*inner] {
					peak[i] = max(peak[i], v) // NaN propagates, as in rowMax
				}
			}
			clear(sum)
			for k := 0; k < cnt; k++ {
				xk, yk := x[k*inner:(k+1)*inner], y[k*inner:(k+1)*inner]
				for i, v := range xk {
					yk[i] = v - peak[i]
				}
				vecmath.Exp(yk, yk)
				for i, e := range yk {
					sum[i] += e
				}
			}
			if logOut {
				for i, s := range sum {
					sum[i] = float32(math.Log(float64(s)))
				}
				for k := 0; k < cnt; k++ {
					xk, yk := x[k*inner:(k+1)*inner], y[k*inner:(k+1)*inner]
					for i, v := range xk {
						yk[i] = v - peak[i] - sum[i]
					}
				}
				continue
			}
			for i, s := range sum {
				sum[i] = 1 / s
			}
			for k := 0; k < cnt; k++ {
				yk := y[k*inner : (k+1)*inner]
				for i := range yk {
					yk[i] *= sum[i]
				}
			}
		}
	})
}

// rowMax returns the largest element of a non-empty row (NaN if it holds one).
func rowMax(x []float32) float32 { return vecmath.Max(x) }

// expShiftSum sets dst[i] = e^(src[i]−shift) and returns the sum: a softmax row's exponentials.
func expShiftSum(dst, src []float32, shift float32) float64 {
	return float64(vecmath.ExpSumShiftedTo(dst, src, shift))
}

// scaleRow multiplies a row by s in place.
func scaleRow(y []float32, s float32) { vecmath.Scale(y, s) }
