package ops

import (
	"fmt"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/tensor"
)

// An inverted-residual block (MobileNetV2, EfficientNet) expands its channels with a 1×1
// convolution whose only reader is a depthwise convolution. At 112×112 or 56×56 the expanded
// tensor is megabytes that one layer writes and the next reads back, long after it left the
// cache; that traffic, not arithmetic, was most of those layers' time. expandDepthwise computes
// the expansion a band of rows at a time into a buffer that stays in cache and runs the blocked
// depthwise convolution on each band as soon as it is there, so the expanded tensor is never
// written out. Bands overlap by the depthwise kernel's reach past its stride (one row of 11 at
// stride 2, two of 12 at stride 1), which the expansion computes twice.

// expandBandFloats bounds a band of the expanded tensor (all channels): 512 KiB, half the L2.
const expandBandFloats = 128 << 10

// expandDepthwise is the fused pair; its inputs are X, W1, B1, W2, B2 (the biases may be nil).
type expandDepthwise struct {
	pw, dw *convKernel
	last   shapeMemo[*expandGeometry]
}

// expandGeometry is the pair's geometry for one input shape (immutable once stored).
type expandGeometry struct {
	xShape   []int
	pw, dw   *convShape
	bandRows int // depthwise output rows per band
	rowsIn   int // most expanded rows one band needs
	fused    bool
	// banded: the expansion is large enough for the band-by-band computation to pay; smaller
	// ones run the two convolutions in turn through a scratch buffer, with their usual lowerings
	// (per band, a small expansion would lose the gather product and pay the overlap).
	banded bool
}

// expandBandedFloats is the expanded tensor size from which computing it band by band pays:
// measured on MobileNetV2, the 96-channel 112×112 expansion (1.2M values) gains ~13% with its
// depthwise convolution, the 144-channel 56×56 one (0.45M) loses ~15%.
const expandBandedFloats = 1 << 20

// NewExpandDepthwise returns the fused kernel for a 1×1 convolution pw whose output only the
// depthwise convolution dw reads, or false when the kernels are not the ones it fuses: plain
// convolutions with constant weights, no fused residual, pw ungrouped.
func NewExpandDepthwise(pw, dw Kernel) (Kernel, bool) {
	p, ok1 := pw.(*convKernel)
	d, ok2 := dw.(*convKernel)
	if !ok1 || !ok2 || p.residual || d.residual || p.group != 1 || p.constW == nil || d.constW == nil ||
		len(p.packedW) != 1 || p.constW.Rank() != 4 || d.constW.Rank() != 4 {
		return nil, false
	}
	pws, dws := p.constW.Shape, d.constW.Shape
	if pws[2] != 1 || pws[3] != 1 || dws[1] != 1 || d.group != dws[0] || dws[0] != pws[0] || dws[0]%gemm.ChannelBlock != 0 {
		return nil, false // not a 1×1 feeding a depthwise convolution over blocks of 16 channels
	}
	return &expandDepthwise{pw: p, dw: d}, true
}

// geometry returns the pair's geometry for x; fused is false when the shapes do not qualify (then
// the two convolutions run one after the other).
func (k *expandDepthwise) geometry(x, w1, w2 *tensor.Tensor) (*expandGeometry, error) {
	return k.last.get(x.Shape, nil, func() (*expandGeometry, error) { return k.newGeometry(x, w1, w2) })
}

// newGeometry computes the pair's geometry for x.
func (k *expandDepthwise) newGeometry(x, w1, w2 *tensor.Tensor) (*expandGeometry, error) {
	s1, err := k.pw.cachedShape(x, w1)
	if err != nil {
		return nil, err
	}
	mid := &tensor.Tensor{DType: x.DType, Shape: s1.outShape}
	s2, err := k.dw.cachedShape(mid, w2)
	if err != nil {
		return nil, err
	}
	g := &expandGeometry{xShape: append([]int(nil), x.Shape...), pw: s1, dw: s2}
	g.fused = x.DType == tensor.Float32 && len(s1.in) == 2 && s1.isPointwise() && s2.blocked != nil
	g.banded = g.fused && s1.m*s1.outSize >= expandBandedFloats
	if g.banded {
		l := s2.blocked
		reach := (s2.kernel[0]-1)*s2.dilations[0] + 1
		rowsFit := max(reach, expandBandFloats/(s1.m*s1.in[1]))
		g.bandRows = max(1, min(l.bandRows, (rowsFit-reach)/s2.strides[0]+1))
		g.rowsIn = (g.bandRows-1)*s2.strides[0] + reach
	}
	return g, nil
}

func (k *expandDepthwise) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) != 5 || inputs[0] == nil || inputs[1] == nil || inputs[3] == nil {
		return nil, fmt.Errorf("Conv (1×1 and depthwise, fused): inputs X, W1 and W2 are required")
	}
	x, w1, b1, w2, b2 := inputs[0], inputs[1], inputs[2], inputs[3], inputs[4]
	g, err := k.geometry(x, w1, w2)
	if err != nil {
		return nil, fmt.Errorf("Conv: %w", err)
	}
	if !g.fused {
		// One after the other, through a plain tensor (the runtime's arena does not know it).
		plain := *ctx
		plain.Allocator, plain.ReuseResults = nil, false
		mid, err := k.pw.Run(&plain, []*tensor.Tensor{x, w1, b1})
		if err != nil {
			return nil, err
		}
		outs, err := k.dw.Run(ctx, []*tensor.Tensor{mid[0], w2, b2})
		return outs, err
	}
	s1, s2 := g.pw, g.dw
	var bias1, bias2 []float32
	if b1 != nil {
		if bias1, err = floatInput(b1, "Conv: B"); err != nil || len(bias1) != s1.m {
			return nil, fmt.Errorf("Conv: the 1×1 convolution's bias does not have %d float values", s1.m)
		}
	}
	if b2 != nil {
		if bias2, err = floatInput(b2, "Conv: B"); err != nil || len(bias2) != s2.m {
			return nil, fmt.Errorf("Conv: the depthwise convolution's bias does not have %d float values", s2.m)
		}
	}
	wb, _, err := k.dw.blockedWeights(s2, nil)
	if err != nil {
		return nil, fmt.Errorf("Conv: %w", err)
	}
	xv := x.F32()
	out := ctx.AllocOverwrite(tensor.Float32, s2.outShape) // every output row is written
	ov := out.F32()
	if !g.banded {
		midBuf := getScratch(s1.batch * s1.m * s1.outSize)
		defer convScratch.Put(midBuf)
		if err := k.pw.convGEMM(ctx, s1, xv, nil, bias1, nil, *midBuf); err != nil {
			return nil, fmt.Errorf("Conv: %w", err)
		}
		if err := convDepthwiseBlocked(ctx, s2, *midBuf, wb, bias2, nil, k.dw.act, ov); err != nil {
			return nil, fmt.Errorf("Conv: %w", err)
		}
		return ctx.Result(out), nil
	}
	m, iw := s1.m, s1.in[1]
	bandBuf := getScratch(m * g.rowsIn * iw)
	defer convScratch.Put(bandBuf)
	job := expandBand{k: k, g: g, wb: wb, bias: bias2, out: ov}
	blocks := s2.c / gemm.ChannelBlock
	for b := 0; b < s1.batch; b++ {
		img := xv[b*s1.c*s1.inSize : (b+1)*s1.c*s1.inSize]
		for oy0 := 0; oy0 < s2.out[0]; oy0 += g.bandRows {
			oy1 := min(s2.out[0], oy0+g.bandRows)
			y0, y1 := s2.blocked.inputRows(s2, oy0, oy1)
			n := (y1 - y0) * iw
			band := (*bandBuf)[:m*n]
			if n > 0 {
				// The expanded rows [y0, y1) of every channel: W1 times those rows of X's planes
				// (K rows of n values, a plane apart), with the 1×1's bias and activation.
				ep := epilogue(bias1, nil, n, k.pw.act)
				if err := gemm.SgemmPackedA(k.pw.packedW[0], false, n, 1, img[y0*iw:], s1.inSize, 0, band, n, ctx.Threads, ep); err != nil {
					return nil, fmt.Errorf("Conv: %w", err)
				}
			}
			job.band, job.n, job.y0, job.b, job.oy0, job.oy1 = band, n, y0, b, oy0, oy1
			if ctx.Inline(blocks, 1) {
				job.Chunk(0, blocks)
			} else {
				expandBandTasks.Run(ctx, blocks, 1, &job)
			}
		}
	}
	return ctx.Result(out), nil
}

// expandBand is one band's depthwise work: channel blocks [lo, hi) of the expanded rows in band
// (n values per channel, from image row y0) into output rows [oy0, oy1) of image b.
type expandBand struct {
	k                   *expandDepthwise
	g                   *expandGeometry
	wb, bias, out, band []float32
	n, y0, b, oy0, oy1  int
}

var expandBandTasks TaskPool[expandBand, *expandBand]

// Chunk implements workers.Task. As in depthwiseJob, a failing check is a bug: it panics.
func (j *expandBand) Chunk(lo, hi int) {
	const cb = gemm.ChannelBlock
	s2 := j.g.dw
	l := s2.blocked
	bufs := l.buffers()
	defer bufs.put()
	ow := s2.out[1]
	for blk := lo; blk < hi; blk++ {
		w := j.wb[blk*s2.kSize*cb : (blk+1)*s2.kSize*cb]
		var blockBias []float32
		if j.bias != nil {
			blockBias = j.bias[blk*cb : (blk+1)*cb]
		}
		plane0 := j.b*s2.c + blk*cb
		if err := l.band(s2, *bufs.in, *bufs.out, *bufs.stage, j.band[blk*cb*j.n:], j.n, j.y0, w, blockBias, j.out, plane0, j.oy0, j.oy1); err != nil {
			panic(err)
		}
		if act := j.k.dw.act; act != nil {
			for c := range cb {
				at := (plane0+c)*s2.outSize + j.oy0*ow
				act(j.out[at : at+(j.oy1-j.oy0)*ow])
			}
		}
	}
}
