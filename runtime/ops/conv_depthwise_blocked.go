package ops

import (
	"fmt"
	"slices"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/vecmath"
)

// blockedDepthwise is convDepthwiseBlocked's geometry: 16 channels are taken at once, their rows
// interleaved pixel by pixel ([row][pixel][16], zero padding included) so that each tap is one
// vector multiply-add across the 16 channels (gemm.BlockedTaps) — onnxruntime's NCHWc idea,
// applied inside the convolution: the planes are interleaved on the way in and split again on
// the way out (gemm.Interleave16, gemm.Split16: 8×8 register transposes), a band of output rows at a time so that both sides stay
// in cache. Compared with convDepthwise2D's plane at a time, there is no per-channel padding
// copy, stride-2 phase split or grid compaction, and the taps run 16 lanes wide whatever the
// plane's size.
type blockedDepthwise struct {
	offs      []int // tap offsets in the interleaved band, 16·(ky·dh·pw + kx·dw)
	pw        int   // padded row length in pixels
	rowPixels int   // pixels computed per output row: the row rounded up to blockedGroup
	bandRows  int   // output rows per band
	// bands is the number of bands of an output plane. The bands of each (image, channel block)
	// are the items shared among threads, not the blocks: MobileNetV3's 16-channel stride-2
	// layer at 112×112 is one block, which a block split left on one thread at two threads
	// (and its 72-channel one five blocks, three on one thread and two on the other).
	bands  int
	inLen  int // band input buffer, in floats
	outLen int // band output buffer, in floats
	// staged: the input rows are shorter than Interleave16's 8-pixel group, so a band's rows are
	// interleaved in one call (consecutive in every plane) into a staging buffer of stageLen
	// floats and copied into their padded places from there. Longer rows that are not a whole
	// number of groups end with a group that overlaps the one before it (see band).
	staged   bool
	stageLen int
	// blocks is the number of channel blocks; when the channels do not fill the last one, tail
	// is how many it holds (else 0), and that block is computed as the block of the last 16
	// channels, overlapping the one before it: its input planes are read in place and its
	// output goes to 16 planes of scratch, of which the last tail are kept. Copying the tail
	// planes into zero-padded scratch planes instead made MobileNetV3's 72-channel stride-2
	// layer at 56×56 cost 66 cpu-µs against 51 for 80 channels (BenchmarkConvMobileNetV3, Zen 5).
	blocks, tail int
}

// blockedGroup is the pixel group of gemm.BlockedTaps's widest kernel.
const blockedGroup = 8

// blockedBandFloats is the size aimed at for a band's interleaved input: a few hundred KB of
// input and output together stay in the core's L2 cache.
const blockedBandFloats = 32 << 10

// newBlockedDepthwise returns the layout for s, nil when it has fewer than 16 channels. Channel
// counts between multiples of 16 (MobileNetV3's 72, 88, 120) take it too: the plane-at-a-time
// path they took before ran at 5–16 cpu-GFLOP/s against 20–60 here (BenchmarkConvMobileNetV3,
// Zen 5).
func newBlockedDepthwise(s *convShape) *blockedDepthwise {
	const cb = gemm.ChannelBlock
	if s.c < cb || s.m != s.c {
		return nil
	}
	kh, kw := s.kernel[0], s.kernel[1]
	dh, dw := s.dilations[0], s.dilations[1]
	l := &blockedDepthwise{pw: s.in[1] + s.padBegin[1] + s.padEnd[1], blocks: ceilDivInt(s.c, cb), tail: s.c % cb}
	for ky := range kh {
		for kx := range kw {
			l.offs = append(l.offs, cb*(ky*dh*l.pw+kx*dw))
		}
	}
	reach := (kh-1)*dh + 1 // input rows one output row reads
	rowsFit := blockedBandFloats / (cb * l.pw)
	l.bandRows = min(s.out[0], max(1, (rowsFit-reach)/s.strides[0]+1))
	// Bands of equal height, and an even number of them where there are several, so that two
	// threads split a plane of one block evenly (seven bands of 56 rows went 4:3).
	l.bands = ceilDivInt(s.out[0], l.bandRows)
	if l.bands > 1 && l.bands%2 == 1 {
		l.bands++
	}
	l.bandRows = ceilDivInt(s.out[0], l.bands)
	l.bands = ceilDivInt(s.out[0], l.bandRows)
	// Rows are computed in whole groups of blockedGroup pixels (the kernels' tails go one pixel
	// at a time, latency-bound on narrow planes): the extra pixels of a row land at the start of
	// the next, computed after it, and both buffers get slack for the band's last row.
	l.rowPixels = ceilDivInt(s.out[1], blockedGroup) * blockedGroup
	l.inLen = cb*l.pw*((l.bandRows-1)*s.strides[0]+reach) + cb*(l.rowPixels-s.out[1])*s.strides[1]
	l.outLen = cb * (s.out[1]*l.bandRows + l.rowPixels - s.out[1])
	if s.in[1] < blockedGroup {
		l.staged, l.stageLen = true, cb*s.in[1]*((l.bandRows-1)*s.strides[0]+reach)
	}
	return l
}

// convDepthwiseBlocked is the depthwise convolution (one filter per channel, 2-D) for channel
// counts that are multiples of 16; see blockedDepthwise. Bias is added as the band is split
// back into planes; residual and activation follow per plane while it is in cache.
// wb holds the weights interleaved like the image (interleaveDepthwiseWeights).
func convDepthwiseBlocked(ctx *Context, s *convShape, xv, wb, bias, residual []float32, act func([]float32), out []float32) error {
	return runDepthwise(ctx, &depthwiseJob{s: s, xv: xv, w: wb, bias: bias, residual: residual, act: act, out: out})
}

// expansionStage is the stage a band computed from a 1×1 convolution's input needs: the image
// rows of the tallest band, interleaved.
func (l *blockedDepthwise) expansionStage(s *convShape) int {
	reach := (s.kernel[0]-1)*s.dilations[0] + 1
	return gemm.ChannelBlock * s.in[1] * min(s.in[0], (l.bandRows-1)*s.strides[0]+reach)
}

// bandBuffers are the scratch buffers one goroutine computes bands with: the interleaved input
// and output rows, and the staging rows of an interleave done in one call.
type bandBuffers struct{ in, out, stage *[]float32 }

func (l *blockedDepthwise) buffers(stage int) bandBuffers {
	return bandBuffers{getScratch(l.inLen), getScratch(l.outLen), getScratch(stage)}
}

func (b bandBuffers) put() {
	convScratch.Put(b.in)
	convScratch.Put(b.out)
	convScratch.Put(b.stage)
}

// tailBlock holds the 16 output planes of a partial channel block's overlapping block.
type tailBlock struct{ out *[]float32 }

func (l *blockedDepthwise) tailBuffers(s *convShape) tailBlock {
	if l.tail == 0 {
		return tailBlock{}
	}
	return tailBlock{getScratch(gemm.ChannelBlock * s.outSize)}
}

// keep copies output rows [oy0, oy1) of the kept planes, the last channels of the 16 computed,
// into out's planes from plane0.
func (t tailBlock) keep(s *convShape, out []float32, plane0, channels, oy0, oy1 int) {
	const cb = gemm.ChannelBlock
	ow := s.out[1]
	for c := range channels {
		from := (cb-channels+c)*s.outSize + oy0*ow
		copy(out[(plane0+c)*s.outSize+oy0*ow:(plane0+c)*s.outSize+oy1*ow], (*t.out)[from:from+(oy1-oy0)*ow])
	}
}

func (t tailBlock) put() {
	if t.out != nil {
		convScratch.Put(t.out)
	}
}

// run computes the (image, channel block, band) items [lo, hi); with ex.w set, xv is the input
// of the 1×1 convolution ex, whose output is computed into each band instead of read.
func (l *blockedDepthwise) run(s *convShape, in, ob, stage, xv, wb, bias, residual []float32, act func([]float32), out []float32, ex *blockedExpansion, lo, hi int) error {
	const cb = gemm.ChannelBlock
	kSize := s.kSize
	var tb tailBlock
	defer func() { tb.put() }()
	for item := lo; item < hi; item++ {
		job, band := item/l.bands, item%l.bands
		b, blk := job/l.blocks, job%l.blocks
		oy0 := band * l.bandRows
		oy1 := min(s.out[0], oy0+l.bandRows)
		plane0 := b*s.c + blk*cb // the block's first channel plane, in and out (m == c)
		w := wb[blk*kSize*cb : (blk+1)*kSize*cb]
		channels := cb
		if blk == l.blocks-1 && l.tail > 0 {
			channels = l.tail
		}
		first := blk * cb // the block's first channel
		if channels < cb {
			first = s.c - cb // the last 16 channels (see blockedDepthwise.tail)
		}
		var blockBias []float32
		if bias != nil {
			blockBias = bias[first : first+cb]
		}
		dstPlanes, dstPlane0 := out, plane0
		var src []float32
		var rows *blockedExpansion
		if ex.w == nil {
			src = xv[(b*s.c+first)*s.inSize:]
		} else {
			src = xv[b*ex.k*s.inSize:]
			rows = &blockedExpansion{k: ex.k, w: ex.w[blk*ex.k*cb : (blk+1)*ex.k*cb], act: ex.act}
			if ex.bias != nil {
				rows.bias = ex.bias[first : first+cb]
			}
		}
		if channels < cb {
			if tb.out == nil {
				tb = l.tailBuffers(s)
			}
			dstPlanes, dstPlane0 = *tb.out, 0
		}
		if err := l.band(s, in, ob, stage, src, s.inSize, 0, rows, w, blockBias, dstPlanes, dstPlane0, oy0, oy1); err != nil {
			return err
		}
		if channels < cb {
			tb.keep(s, out, plane0, channels, oy0, oy1)
		}
		// Residual and activation on the band's rows while Split16 has just left them in cache:
		// a whole block of 112×112 planes (800 KB) is past the L2 cache by the time its last
		// band is done.
		bandEpilogue(s, out, residual, act, plane0, channels, oy0, oy1)
	}
	return nil
}

// bandEpilogue adds the residual (nil for none) to output rows [oy0, oy1) of the planes
// [plane0, plane0+planes) of out and applies act (nil for none) to them.
func bandEpilogue(s *convShape, out, residual []float32, act func([]float32), plane0, planes, oy0, oy1 int) {
	if residual == nil && act == nil {
		return
	}
	ow := s.out[1]
	for c := range planes {
		at := (plane0+c)*s.outSize + oy0*ow
		dst := out[at : at+(oy1-oy0)*ow]
		if residual != nil {
			vecmath.Arith(vecmath.OpAdd, dst, dst, residual[at:at+len(dst)])
		}
		if act != nil {
			act(dst)
		}
	}
}

// inputRows returns the image rows [y0, y1) that output rows [oy0, oy1) read.
func (l *blockedDepthwise) inputRows(s *convShape, oy0, oy1 int) (y0, y1 int) {
	reach := (s.kernel[0]-1)*s.dilations[0] + 1
	py0, py1 := oy0*s.strides[0], (oy1-1)*s.strides[0]+reach
	return max(0, py0-s.padBegin[0]), min(s.in[0], py1-s.padBegin[0])
}

// band computes output rows [oy0, oy1) of one channel block, bias included: src holds the block's
// 16 input planes planeStride apart, from image row srcRow0 on (rows s.in[1] long), or, with
// rows non-nil, the planes of the 1×1 convolution's input that rows computes the block's 16
// planes from (into stage, expansionStage floats); the output goes to the 16 planes of out from
// outPlane0.
func (l *blockedDepthwise) band(s *convShape, in, ob, stage, src []float32, planeStride, srcRow0 int, rows *blockedExpansion, w, blockBias, out []float32, outPlane0, oy0, oy1 int) error {
	const cb = gemm.ChannelBlock
	ih, iw, ow := s.in[0], s.in[1], s.out[1]
	top, left := s.padBegin[0], s.padBegin[1]
	sh, sw := s.strides[0], s.strides[1]
	reach := (s.kernel[0]-1)*s.dilations[0] + 1
	py0, py1 := oy0*sh, (oy1-1)*sh+reach // padded input rows of the band
	y0, y1 := l.inputRows(s, oy0, oy1)   // the image rows among them
	switch {
	case rows != nil && y1 > y0:
		// The band's image rows are consecutive in every input plane: one call computes them
		// all, in whole groups of pixels where a row alone (7 or 14 pixels) would go mostly
		// one pixel at a time.
		if err := rows.row(stage, src[(y0-srcRow0)*iw:], planeStride, (y1-y0)*iw); err != nil {
			return err
		}
	case l.staged && y1 > y0:
		if err := gemm.Interleave16(stage, src[(y0-srcRow0)*iw:], planeStride, (y1-y0)*iw); err != nil {
			return err
		}
	}
	for py := py0; py < py1; py++ {
		row := in[(py-py0)*l.pw*cb : (py-py0+1)*l.pw*cb]
		y := py - top
		if y < 0 || y >= ih {
			clear(row)
			continue
		}
		clear(row[:left*cb])
		clear(row[(left+iw)*cb:])
		if l.staged || rows != nil {
			copy(row[left*cb:(left+iw)*cb], stage[(y-y0)*iw*cb:])
			continue
		}
		if err := interleaveRow(row[left*cb:], src[(y-srcRow0)*iw:], planeStride, iw); err != nil {
			return err
		}
	}
	// The slack past the band's rows is read by the last row's extra pixels: keep it free of
	// stale values (a NaN or subnormal there would only cost time, never a result). Only what
	// the taps reach: a band shorter than bandRows (the last one, or the fused expansion's
	// shorter bands) would otherwise clear the unused rows of the buffer, which was 3 MB per
	// run in EfficientNet's 16→96 112×112 pair.
	used := (py1 - py0) * l.pw * cb
	reads := cb*(oy1-oy0-1)*sh*l.pw + slices.Max(l.offs) + cb*(sw*(l.rowPixels-1)+1)
	clear(in[used:max(used, min(l.inLen, reads))])
	if err := gemm.BlockedTapsRows(ob, in, l.offs, w, oy1-oy0, l.rowPixels, sw, ow, sh*l.pw); err != nil {
		return err
	}
	// The band's rows are consecutive in every output plane: one split for all of them.
	return gemm.Split16(out[outPlane0*s.outSize+oy0*ow:], s.outSize, ob, (oy1-oy0)*ow, blockBias)
}

// interleaveRow is gemm.Interleave16 of an image row of n ≥ blockedGroup pixels in whole
// groups: where n is not a multiple of the group, the last group is the row's last pixels,
// overlapping the group before it (written twice, with the same values), instead of the
// kernel's pixel-at-a-time tail. MobileNetV3's 28- and 14-pixel rows went through a staging
// buffer and a copy before, which took 15% of its 88-channel 28×28 layer's time.
func interleaveRow(dst, src []float32, lds, n int) error {
	const cb = gemm.ChannelBlock
	whole := n / blockedGroup * blockedGroup
	if err := gemm.Interleave16(dst, src, lds, whole); err != nil || whole == n {
		return err
	}
	return gemm.Interleave16(dst[(n-blockedGroup)*cb:], src[n-blockedGroup:], lds, blockedGroup)
}

// interleaveDepthwiseWeights writes depthwise weights (one filter of kSize taps per channel) the
// way gemm.BlockedTaps reads them: by channel block, then tap, then the block's 16 channels.
// A partial last block holds the last 16 channels' weights (see blockedDepthwise.tail); fewer
// than 16 channels in all get zero weights for the missing ones.
func interleaveDepthwiseWeights(dst, wv []float32, channels, kSize int) {
	const cb = gemm.ChannelBlock
	blocks := ceilDivInt(channels, cb)
	for blk := range blocks {
		first := blk * cb
		if blk == blocks-1 && channels > cb {
			first = min(first, channels-cb)
		}
		for t := range kSize {
			row := dst[(blk*kSize+t)*cb : (blk*kSize+t+1)*cb]
			for c := range row {
				row[c] = 0
				if ch := first + c; ch < channels {
					row[c] = wv[ch*kSize+t]
				}
			}
		}
	}
}

// blockedWeights returns W interleaved for convDepthwiseBlocked: made once for constant weights
// (wv nil), else into a scratch buffer that the caller puts back (scratch non-nil).
func (k *convKernel) blockedWeights(s *convShape, wv []float32) (wb []float32, scratch *[]float32, err error) {
	n := s.blocked.blocks * gemm.ChannelBlock * s.kSize
	if wv == nil {
		if p := k.blockedW.Load(); p != nil && len(*p) == n {
			return *p, nil, nil
		}
		if k.constW == nil {
			return nil, nil, fmt.Errorf("no weights to interleave")
		}
		built := make([]float32, n)
		interleaveDepthwiseWeights(built, k.constW.F32(), s.c, s.kSize)
		k.blockedW.Store(&built)
		return built, nil, nil
	}
	scratch = getScratch(n)
	interleaveDepthwiseWeights(*scratch, wv, s.c, s.kSize)
	return *scratch, scratch, nil
}
