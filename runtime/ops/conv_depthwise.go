package ops

import (
	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/vecmath"
)

// convDepthwise2D is the convolution with one filter per channel (group == C == M), where a
// GEMM would have a single output row per group. Each channel's plane is zero-padded once, and
// every tap (ky, kx) of the output grid is that plane shifted by a constant, so the whole grid
// is one gemm.TapSum — a vector multiply-add per tap over the plane. A stride-2 convolution
// first splits the padded plane into its four (row, column) parity phases, in which each tap
// reads consecutive outputs from consecutive addresses; other strides compute the stride-1 grid
// and keep every stride-th value.
//
// Each plane gets its bias, residual and activation while it is in cache.
func convDepthwise2D(ctx *Context, s *convShape, xv, wv, bias, residual []float32, act func([]float32), out []float32) error {
	return runDepthwise(ctx, &depthwiseJob{s: s, xv: xv, w: wv, bias: bias, residual: residual, act: act, out: out})
}

// depthwiseJob is a depthwise convolution's work: by (image, channel) plane through s.depthwise,
// or by (image, block of 16 channels, band of output rows) through s.blocked, with w interleaved
// for it.
type depthwiseJob struct {
	s                          *convShape
	xv, w, bias, residual, out []float32
	act                        func([]float32)
	// ex, where ex.w is set, is the 1×1 convolution whose output the blocked convolution reads,
	// computed into each band from its input xv (expandDepthwise).
	ex blockedExpansion
}

var depthwiseTasks TaskPool[depthwiseJob, *depthwiseJob]

// runDepthwise runs job's items on ctx's threads.
func runDepthwise(ctx *Context, job *depthwiseJob) error {
	n := job.s.batch * job.s.c
	if l := job.s.blocked; l != nil {
		n = job.s.batch * l.blocks * l.bands
	}
	if ctx.Inline(n, 1) { // one thread: no closure or error slot to allocate
		return job.items(0, n)
	}
	depthwiseTasks.Run(ctx, n, 1, job)
	return nil
}

// Chunk implements workers.Task. The checks that can fail guard the layouts' own arithmetic, so
// a failure is a bug: it panics, and the runtime reports it as the node's error.
func (j *depthwiseJob) Chunk(lo, hi int) {
	if err := j.items(lo, hi); err != nil {
		panic(err)
	}
}

// items computes planes or bands of channel blocks [lo, hi).
func (j *depthwiseJob) items(lo, hi int) error {
	if l := j.s.blocked; l != nil {
		stage := l.stageLen
		if j.ex.w != nil {
			stage = max(stage, l.expansionStage(j.s))
		}
		b := l.buffers(stage)
		defer b.put()
		return l.run(j.s, *b.in, *b.out, *b.stage, j.xv, j.w, j.bias, j.residual, j.act, j.out, &j.ex, lo, hi)
	}
	return j.planes(lo, hi)
}

// planes computes planes [lo, hi).
func (j *depthwiseJob) planes(lo, hi int) error {
	s, l, kSize := j.s, j.s.depthwise, j.s.kSize // the layout is built with the shape (cachedShape)
	planeBuf, phaseBuf, gridBuf := getScratch(l.planeLen), getScratch(l.phasesLen), getScratch(l.span)
	defer convScratch.Put(planeBuf)
	defer convScratch.Put(phaseBuf)
	defer convScratch.Put(gridBuf)
	plane, phases, onGrid := *planeBuf, *phaseBuf, *gridBuf
	for bc := lo; bc < hi; bc++ {
		c := bc % s.c
		padPlane(plane, j.xv[bc*s.inSize:(bc+1)*s.inSize], s.in[0], s.in[1], s.padBegin[0], s.padBegin[1], l.pw)
		src := plane
		if l.phased {
			l.splitPhases(phases, plane)
			src = phases
		}
		var b0 float32
		if j.bias != nil {
			b0 = j.bias[c]
		}
		if err := gemm.TapSum(onGrid, src, l.offs, j.w[c*kSize:(c+1)*kSize], b0, l.grid); err != nil {
			return err
		}
		dst := j.out[bc*s.outSize : (bc+1)*s.outSize]
		l.compact(dst, onGrid)
		if j.residual != nil {
			vecmath.Arith(vecmath.OpAdd, dst, dst, j.residual[bc*s.outSize:(bc+1)*s.outSize])
		}
		if j.act != nil {
			j.act(dst)
		}
	}
	return nil
}

// depthwiseLayout is where a depthwise convolution's taps read and its outputs land: on the
// padded plane (pw wide) with a stride-1 grid, or on its four parity phases (rowLen wide each)
// with a grid of exactly the output rows.
type depthwiseLayout struct {
	phased              bool
	ph, pw              int
	rowLen, phaseSize   int // phased: a phase row's length, a phase's size
	offs                []int
	grid, span          int // outputs computed, and rounded up to TapSum's block
	gridRow, gridStep   int // grid row of output row oy: oy·gridRow; column ox: ox·gridStep
	planeLen, phasesLen int
	oh, ow              int
}

func newDepthwiseLayout(s *convShape) *depthwiseLayout {
	kh, kw := s.kernel[0], s.kernel[1]
	sh, sw := s.strides[0], s.strides[1]
	dh, dw := s.dilations[0], s.dilations[1]
	l := &depthwiseLayout{ph: s.in[0] + s.padBegin[0] + s.padEnd[0], pw: s.in[1] + s.padBegin[1] + s.padEnd[1],
		oh: s.out[0], ow: s.out[1], offs: make([]int, 0, kh*kw)}
	l.phased = sh == 2 && sw == 2 && dh == 1 && dw == 1
	maxOff := 0
	for ky := 0; ky < kh; ky++ {
		for kx := 0; kx < kw; kx++ {
			off := ky*dh*l.pw + kx*dw
			if l.phased {
				l.rowLen, l.phaseSize = ceilDivInt(l.pw, 2), ceilDivInt(l.ph, 2)*ceilDivInt(l.pw, 2)
				off = ((ky%2)*2+kx%2)*l.phaseSize + (ky/2)*l.rowLen + kx/2
			}
			l.offs = append(l.offs, off)
			maxOff = max(maxOff, off)
		}
	}
	if l.phased {
		l.grid, l.gridRow, l.gridStep = l.oh*l.rowLen, l.rowLen, 1
	} else {
		l.grid, l.gridRow, l.gridStep = ((l.oh-1)*sh+1)*l.pw, sh*l.pw, sw // stride-1 rows to the last kept
	}
	l.span = ceilDivInt(l.grid, gemm.TapBlock) * gemm.TapBlock
	l.planeLen = l.ph * l.pw
	if l.phased {
		l.phasesLen = max(4*l.phaseSize, maxOff+l.span)
	} else {
		l.planeLen = max(l.planeLen, maxOff+l.span)
	}
	return l
}

// splitPhases writes the padded plane's four parity phases: padded row y goes to phase row y/2
// of phases (y%2, 0) (its even columns) and (y%2, 1) (its odd columns).
func (l *depthwiseLayout) splitPhases(phases, plane []float32) {
	for y := 0; y < l.ph; y++ {
		base := (y%2)*2*l.phaseSize + (y/2)*l.rowLen
		gemm.Deinterleave(phases[base:base+l.rowLen], phases[base+l.phaseSize:base+l.phaseSize+l.rowLen], plane[y*l.pw:(y+1)*l.pw])
	}
}

// compact copies the output rows out of the grid.
func (l *depthwiseLayout) compact(dst, onGrid []float32) {
	for oy := 0; oy < l.oh; oy++ {
		row := dst[oy*l.ow : (oy+1)*l.ow]
		from := onGrid[oy*l.gridRow:]
		if l.gridStep == 1 {
			copy(row, from)
			continue
		}
		for ox := range row {
			row[ox] = from[ox*l.gridStep]
		}
	}
}

// padPlane writes an ih×iw plane into plane with top rows and left columns of zero padding and
// rows pw apart, zeroing only what the copy does not overwrite: the padding and the tail.
func padPlane(plane, src []float32, ih, iw, top, left, pw int) {
	at := top*pw + left
	clear(plane[:at])
	for y := 0; y < ih; y++ {
		copy(plane[at:at+iw], src[y*iw:(y+1)*iw])
		if y == ih-1 {
			clear(plane[at+iw:])
			break
		}
		gap := plane[at+iw : at+pw] // this row's right padding and the next row's left
		for i := range gap {
			gap[i] = 0
		}
		at += pw
	}
}
