package ops

import (
	"fmt"
	"sync"
	"sync/atomic"

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
	// rowPacks holds the 1×1 weights of a part's output channels, packed ([2]int{c0, c1} →
	// *gemm.PackedA), for the runs split across threads (expandPart).
	rowPacks sync.Map
	// blockedW holds the 1×1 weights by channel block for gemm.PointwiseBlocked, on first use.
	blockedW atomic.Pointer[[]float32]
	// planesOnly keeps the expansion in planes (expandPart) where it could be computed into the
	// depthwise bands: the tests' way to that path on a CPU with AVX-512.
	planesOnly bool
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
	// splits: on several threads the pair runs by parts of its channels (expandPart); unbanded,
	// not where the 1×1 convolution takes the gather or direct lowering, which the parts do not
	// have (banded, the expansion is always the packed product).
	splits bool
	// inPlace: unbanded, the 1×1 product reads X's planes in place, as convGEMM's would.
	inPlace bool
	// intoBands: the 1×1 convolution is computed into the depthwise convolution's interleaved
	// bands (blockedExpansion), so the expanded planes are neither written out nor interleaved
	// again; unbanded pairs, where a vector kernel does it (AVX-512). MobileNetV3's 16→72 pair
	// at 56×56 spent ≈ 40% of its time changing layouts.
	intoBands bool
	// rowsInPlace: a product over a range of X's rows (a band, or a part split by rows) reads
	// them in place where they are followed by enough values for its last panel's overreach
	// (not at the end of the last image), instead of packing them first: for the 16→96 112×112
	// pair the packing was 8% of its thread CPU (perf); read in place, the product's kernel
	// takes most of that back (k = 16 rows from 16 planes), the pair ≈ 3.5% less.
	rowsInPlace bool
}

// expandBandedFloats is the expanded tensor size from which computing it band by band pays:
// measured on MobileNetV2, the 96-channel 112×112 expansion (1.2M values) gains ~13% with its
// depthwise convolution, the 144-channel 56×56 one (0.45M) loses ~15%.
const expandBandedFloats = 1 << 20

// NewExpandDepthwise returns the fused kernel for a 1×1 convolution pw whose output only the
// depthwise convolution dw reads, or false when the kernels are not the ones it fuses: plain
// convolutions with constant weights, no fused residual, pw ungrouped, at least 16 channels.
// Channel counts between multiples of 16 (MobileNetV3's 72, 88, 120) compute their last block
// as the block of the last 16 channels, as convDepthwiseBlocked does: unfused, such a pair on
// two threads ran as two parallel loops that cut the data differently (pixels, then channels),
// so each core read most of what the other had just written.
func NewExpandDepthwise(pw, dw Kernel) (Kernel, bool) {
	p, ok1 := pw.(*convKernel)
	d, ok2 := dw.(*convKernel)
	if !ok1 || !ok2 || p.residual || d.residual || p.group != 1 || p.constW == nil || d.constW == nil ||
		len(p.packedW) != 1 || p.constW.Rank() != 4 || d.constW.Rank() != 4 {
		return nil, false
	}
	pws, dws := p.constW.Shape, d.constW.Shape
	if pws[2] != 1 || pws[3] != 1 || dws[1] != 1 || d.group != dws[0] || dws[0] != pws[0] || dws[0] < gemm.ChannelBlock {
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
	g.splits = g.fused && (g.banded || !s1.gather && s1.direct == nil)
	g.intoBands = g.fused && !g.banded && !s2.blocked.staged && gemm.PointwiseBlockedFast() && !k.planesOnly
	// (A 1×1 convolution that takes the gather lowering has no plane offsets.)
	g.rowsInPlace = s1.m <= 128 && !k.pw.lowering.packPointwise && len(s1.planeOffsets()) == s1.c
	g.inPlace = s1.outSize%gemm.PanelWidth == 0 && g.rowsInPlace
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
	if g.intoBands {
		job := depthwiseJob{s: s2, xv: xv, w: wb, bias: bias2, act: k.dw.act, out: ov,
			ex: blockedExpansion{k: s1.c, w: k.blockWeights(s2.blocked.blocks), bias: bias1, act: k.pw.act}}
		if err := runDepthwise(ctx, &job); err != nil {
			return nil, fmt.Errorf("Conv: %w", err)
		}
		return ctx.Result(out), nil
	}
	blocks := s2.blocked.blocks
	parts := 1
	if g.splits && !ctx.Inline(blocks, 1) {
		parts = min(ctx.Threads, blocks)
	}
	if !g.banded && parts == 1 {
		midBuf := getScratch(s1.batch * s1.m * s1.outSize)
		defer convScratch.Put(midBuf)
		if err := k.pw.convGEMM(ctx, s1, xv, nil, bias1, nil, nil, *midBuf); err != nil {
			return nil, fmt.Errorf("Conv: %w", err)
		}
		if err := convDepthwiseBlocked(ctx, s2, *midBuf, wb, bias2, nil, k.dw.act, ov); err != nil {
			return nil, fmt.Errorf("Conv: %w", err)
		}
		return ctx.Result(out), nil
	}
	job := expandPart{k: k, g: g, xv: xv, wb: wb, bias1: bias1, bias2: bias2, out: ov, parts: parts}
	job.byRows = parts > 1 && !g.banded && g.rowsBalanceBetter(parts)
	if parts == 1 {
		job.Chunk(0, 1)
	} else {
		expandPartTasks.Run(ctx, parts, 1, &job)
	}
	return ctx.Result(out), nil
}

// expandPart is the pair's work split across threads by channels or by output rows: part p of
// parts expands its share of the channel blocks (or the input rows its output rows read, with
// the kernel's overlap computed twice) and runs their depthwise convolution, band by band where
// the geometry is banded, else all at once, on one thread. A block's or a row range's depthwise
// output depends on nothing but its own expanded values, so the parts run without a wait
// between the two steps; split the other way — each step's own parallel loop, once per band —
// EfficientNet's expansions used 2 threads at ≈ 1.45× one thread's speed, in thread CPU.
type expandPart struct {
	k                         *expandDepthwise
	g                         *expandGeometry
	xv, wb, bias1, bias2, out []float32
	parts                     int
	byRows                    bool
}

// rowsBalanceBetter reports whether splitting the unbanded pair into parts by output rows costs
// less than by channel blocks: by blocks, the largest part holds ⌈blocks/parts⌉ of them (9
// blocks on 2 threads: 5 against an even 4.5); by rows, each part also expands the input rows
// its neighbour's share reads (the kernel's reach past its stride), which on small images is
// much of the image.
func (g *expandGeometry) rowsBalanceBetter(parts int) bool {
	blocks := g.dw.blocked.blocks
	byBlocks := float64(ceilDivInt(blocks, parts)*parts) / float64(blocks)
	l, oh := g.dw.blocked, g.dw.out[0]
	most := 0 // input rows of the largest part
	for p := range parts {
		y0, y1 := l.inputRows(g.dw, p*oh/parts, (p+1)*oh/parts)
		most = max(most, y1-y0)
	}
	byRows := float64(most*parts) / float64(g.pw.in[0])
	return byRows < byBlocks
}

var expandPartTasks TaskPool[expandPart, *expandPart]

// Chunk implements workers.Task. As in depthwiseJob, a failing check is a bug: it panics.
func (j *expandPart) Chunk(lo, hi int) {
	for p := lo; p < hi; p++ {
		if err := j.run(p); err != nil {
			panic(err)
		}
	}
}

// run computes part p: the channel blocks [p·blocks/parts, (p+1)·blocks/parts).
func (j *expandPart) run(p int) error {
	const cb = gemm.ChannelBlock
	k, g := j.k, j.g
	s1, s2 := g.pw, g.dw
	l := s2.blocked
	blocks := l.blocks
	blk0, blk1 := p*blocks/j.parts, (p+1)*blocks/j.parts
	oyLo, oyHi := 0, s2.out[0]
	if j.byRows {
		blk0, blk1 = 0, blocks
		oyLo, oyHi = p*s2.out[0]/j.parts, (p+1)*s2.out[0]/j.parts
	}
	// The part expands channels [c0, c1): its blocks' channels, from 16 below the end where it
	// holds only a partial last block, which is computed as the last 16 channels.
	c0, c1 := blk0*cb, min(blk1*cb, s2.c)
	if c1-c0 < cb {
		c0 = c1 - cb
	}
	pa, err := k.packedRows(c0, c1)
	if err != nil {
		return err
	}
	var bias1 []float32
	if j.bias1 != nil {
		bias1 = j.bias1[c0:c1]
	}
	iw := s1.in[1]
	rows, rowsIn := g.bandRows, g.rowsIn
	if !g.banded {
		y0, y1 := l.inputRows(s2, oyLo, oyHi)
		rows, rowsIn = max(1, oyHi-oyLo), y1-y0
	}
	bandBuf := getScratch((c1 - c0) * rowsIn * iw)
	defer convScratch.Put(bandBuf)
	// Consecutive bands share the expanded rows the kernel reaches past its stride (one of 11 in
	// the 16→96 112×112 pair): they are carried over from one band to the next, not computed again.
	overlap := max(0, (s2.kernel[0]-1)*s2.dilations[0]+1-s2.strides[0])
	carryBuf := getScratch((c1 - c0) * overlap * iw)
	defer convScratch.Put(carryBuf)
	bufs := l.buffers(l.stageLen)
	defer bufs.put()
	var tb tailBlock
	defer func() { tb.put() }()
	for b := 0; b < s1.batch; b++ {
		img := j.xv[b*s1.c*s1.inSize : (b+1)*s1.c*s1.inSize]
		prevY0, prevY1 := 0, 0 // the image rows in the band buffer
		for oy0 := oyLo; oy0 < oyHi; oy0 += rows {
			oy1 := min(oyHi, oy0+rows)
			y0, y1 := l.inputRows(s2, oy0, oy1)
			n := (y1 - y0) * iw
			carried := 0 // rows [y0, y0+carried) come from the previous band
			if y0 >= prevY0 && y0 < prevY1 && min(prevY1, y1)-y0 <= overlap {
				carried = min(prevY1, y1) - y0
				prevN := (prevY1 - prevY0) * iw
				for ch := range c1 - c0 {
					at := ch*prevN + (y0-prevY0)*iw
					copy((*carryBuf)[ch*carried*iw:(ch+1)*carried*iw], (*bandBuf)[at:at+carried*iw])
				}
			}
			prevY0, prevY1 = y0, y1
			band := (*bandBuf)[:(c1-c0)*n]
			if fresh := n - carried*iw; fresh > 0 {
				// The expanded rows [y0+carried, y1) of the part's channels: their rows of W1
				// times those rows of X's planes, with the 1×1's bias and activation.
				ep := epilogue(bias1, nil, n, k.pw.act, k.pw.actBiased)
				dst := band[carried*iw:]
				yf := y0 + carried
				// X from the first fresh row of the image's first plane on: planeOffsets apart,
				// the same rows of the others.
				bandX := j.xv[b*s1.c*s1.inSize+yf*iw:]
				switch {
				case !g.banded && !j.byRows && g.inPlace:
					err = gemm.SgemmPackedAIndirect(pa, n, gemm.IndirectB{Data: img, Offsets: s1.planeOffsets()}, 0, band, n, 1, ep)
				case g.rowsInPlace && (s1.c-1)*s1.inSize+ceilDivInt(fresh, gemm.PanelWidth)*gemm.PanelWidth <= len(bandX):
					err = gemm.SgemmPackedAIndirect(pa, fresh, gemm.IndirectB{Data: bandX, Offsets: s1.planeOffsets()}, 0, dst, n, 1, ep)
				default:
					err = gemm.SgemmPackedA(pa, false, fresh, 1, img[yf*iw:], s1.inSize, 0, dst, n, 1, ep)
				}
				if err != nil {
					return err
				}
			}
			if carried > 0 {
				for ch := range c1 - c0 {
					copy(band[ch*n:ch*n+carried*iw], (*carryBuf)[ch*carried*iw:(ch+1)*carried*iw])
				}
			}
			for blk := blk0; blk < blk1; blk++ {
				w := j.wb[blk*s2.kSize*cb : (blk+1)*s2.kSize*cb]
				first, channels := blk*cb, cb // the block's first expanded channel, and its output channels
				if blk == blocks-1 && l.tail > 0 {
					first, channels = s2.c-cb, l.tail
				}
				var blockBias []float32
				if j.bias2 != nil {
					blockBias = j.bias2[first : first+cb]
				}
				plane0 := b*s2.c + blk*cb
				src := band[(first-c0)*n:]
				dst, dstPlane0 := j.out, plane0
				if channels < cb {
					if tb.out == nil {
						tb = l.tailBuffers(s2)
					}
					dst, dstPlane0 = *tb.out, 0
				}
				for sy0 := oy0; sy0 < oy1; sy0 += l.bandRows {
					sy1 := min(oy1, sy0+l.bandRows)
					if err := l.band(s2, *bufs.in, *bufs.out, *bufs.stage, src, n, y0, nil, w, blockBias, dst, dstPlane0, sy0, sy1); err != nil {
						return err
					}
					if channels < cb {
						tb.keep(s2, j.out, plane0, channels, sy0, sy1)
					}
					bandEpilogue(s2, j.out, nil, k.dw.act, plane0, channels, sy0, sy1)
				}
			}
		}
	}
	return nil
}

// packedRows returns the 1×1 convolution's weights for output channels [c0, c1), packed: the
// kernel's own packing for all of them, else packed on first use and kept.
func (k *expandDepthwise) packedRows(c0, c1 int) (*gemm.PackedA, error) {
	full := k.pw.packedW[0]
	if c0 == 0 && c1 == full.M() {
		return full, nil
	}
	key := [2]int{c0, c1}
	if pa, ok := k.rowPacks.Load(key); ok {
		return pa.(*gemm.PackedA), nil
	}
	kk := full.K()
	pa, err := gemm.PackA(false, c1-c0, kk, k.pw.constW.F32()[c0*kk:c1*kk], kk)
	if err != nil {
		return nil, err
	}
	k.rowPacks.Store(key, pa)
	return pa, nil
}

// blockedExpansion is a fused pair's 1×1 convolution as convDepthwiseBlocked computes it into its
// bands: k input channels, the weights by channel block ([block][k][16], a partial last block
// holding the last 16 channels, blockWeights), the bias of every channel (nil for none) and the
// fused activation (nil for none). For one channel block (what band reads), w and bias are that
// block's.
type blockedExpansion struct {
	k       int
	w, bias []float32
	act     func([]float32)
}

// row computes one channel block's n expanded values of an image row into dst, interleaved, from
// the row's values in the k input planes of x, lds floats apart.
func (e *blockedExpansion) row(dst, x []float32, lds, n int) error {
	if err := gemm.PointwiseBlocked(dst, x, lds, n, e.k, e.w, e.bias); err != nil {
		return err
	}
	if e.act != nil {
		e.act(dst[:gemm.ChannelBlock*n]) // dst is the band's stage, sized for the tallest band
	}
	return nil
}

// blockWeights returns the 1×1 weights laid out for gemm.PointwiseBlocked by channel block, the
// last of blocks holding the last 16 channels: built once.
func (k *expandDepthwise) blockWeights(blocks int) []float32 {
	const cb = gemm.ChannelBlock
	if p := k.blockedW.Load(); p != nil {
		return *p
	}
	w := k.pw.constW.F32()
	m, kk := k.pw.constW.Shape[0], k.pw.constW.Shape[1]
	built := make([]float32, blocks*kk*cb)
	for blk := range blocks {
		first := min(blk*cb, m-cb)
		for q := range kk {
			for c := range cb {
				built[(blk*kk+q)*cb+c] = w[(first+c)*kk+q]
			}
		}
	}
	k.blockedW.Store(&built)
	return built
}
