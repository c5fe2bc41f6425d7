package ops

import (
	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/vecmath"
)

// The direct lowering of a 2-D convolution with few input taps (C_in·kh·kw ≤ directMaxTaps):
// MobileNetV3's 3-channel stem, digits_cnn's one-channel first layer, ConvNeXt's 4×4 patchify
// stem. Their products are too shallow for a GEMM or gather tile to amortise its per-tile
// overhead, and the gather product's pixel-major result costs as much again to transpose into
// planes. gemm.DirectConvRows instead holds 16 consecutive output pixels of a row in a vector
// and one accumulator per output channel, so its results are rows of the output planes already;
// bias is where the accumulators start, and the residual and activation are applied to each
// band of rows while it is in cache. Each band pads just the input rows it reads, into a
// buffer that stays in L1/L2 for the product: no padded copy of the whole image goes out to
// memory and back (MobileNetV3's 3×226×226 floats), and the padding is split with the bands.

// directMaxTaps is the deepest window (C_in·kh·kw) the direct lowering is offered for (the
// tuner times it against the others): deeper ones use each input vector for only 16 output
// channels per tap, where the GEMM tiles reuse it more. ResNet-18's 147-tap stem is within it:
// on the run kernels, which broadcast each weight once for 2 or 3 vectors, its product reaches
// 87–91% of the FMA peak (BenchmarkDirectConvRows, Zen 5), and no pixel-major product is
// transposed into planes.
const directMaxTaps = 160

// directBandValues bounds the output values of one band of rows (all channels): 32 KiB, so the
// band is still in L1/L2 when its residual and activation are applied.
const directBandValues = 8 << 10

// directLayout is the direct lowering's geometry of one convolution shape.
type directLayout struct {
	offs            []int // tap (c, ky, kx)'s offset in a band's padded input, in kernel order
	pw              int   // padded row length
	bandRows, bands int   // output rows per work item, items per image
	bandIn          int   // input rows one band reads: the rows of each channel's band plane
	step            int   // the kernels' horizontal step: the stride, 1 where phases is set
	// phases: each padded row of a stride-2 convolution is stored as its even columns, then its
	// odd ones, so that every tap reads 16 consecutive values of one phase per vector of output
	// pixels. The stride-2 kernels gather the even or odd lanes of two loads with a permute per
	// vector and tap, which held ResNet-18's stem to 152–158 cpu-GFLOP/s against 190–193 for
	// the same taps read contiguously (DirectConvRows alone, Zen 5, chrt, 3 rounds).
	phases bool
}

// directFits reports whether the direct lowering can compute the convolution at all (its Go
// loop runs any stride): 2-D, ungrouped, a shallow window.
func (s *convShape) directFits() bool {
	return len(s.in) == 2 && s.group == 1 && s.c*s.kSize <= directMaxTaps
}

// directCandidate reports whether the direct lowering runs in assembly for this convolution
// and has a spatial window, so that it is worth timing against the others. 1×1 convolutions
// are left to the GEMM and gather products, which reuse each input value for more than 16
// output channels and read the planes in place.
func (s *convShape) directCandidate() bool {
	return s.directFits() && s.kSize > 1 && gemm.DirectFast(s.strides[1])
}

func newDirectLayout(s *convShape) *directLayout {
	d := &directLayout{pw: s.in[1] + s.padBegin[1] + s.padEnd[1], step: s.strides[1]}
	if d.step == 2 && s.dilations[1] == 1 && gemm.DirectFast(1) {
		d.phases, d.step = true, 1
	}
	oh, ow := s.out[0], s.out[1]
	// At least kh/stride rows a band: each band pads the (rows−1)·stride + kh input rows it
	// reads, so one row a band would pad ResNet-18's stem input 3.5 times over (7 rows for
	// every 2 it moves): 1.35 against 1.26 cpu-ms for bands of 4 rows (min of 5, loaded Zen 5).
	d.bandRows = min(oh, max(1, directBandValues/(s.m*ow), ceilDivInt(s.kernel[0], s.strides[0])))
	if vectors := ow / gemm.DirectLanes; s.m%gemm.DirectBlock == 0 && vectors > 0 && vectors%3 != 0 {
		// Rows whose vectors are not runs of 3 go through gemm's column runs, 3 rows at a
		// time: bands of a multiple of 3 rows leave no row to the slower 2-vector runs.
		d.bandRows = min(oh, 3*ceilDivInt(d.bandRows, 3))
	}
	d.bands = ceilDivInt(oh, d.bandRows)
	d.bandIn = d.inputRows(s, d.bandRows)
	for c := 0; c < s.c; c++ {
		for ky := 0; ky < s.kernel[0]; ky++ {
			for kx := 0; kx < s.kernel[1]; kx++ {
				col := kx * s.dilations[1]
				if d.phases { // column 2x + col is value x + col/2 of its phase
					col = col%2*d.evenColumns() + col/2
				}
				d.offs = append(d.offs, c*d.bandIn*d.pw+ky*s.dilations[0]*d.pw+col)
			}
		}
	}
	return d
}

// evenColumns is how many values of a phase-split padded row are its even columns: the odd
// ones follow them.
func (d *directLayout) evenColumns() int { return (d.pw + 1) / 2 }

// inputRows is how many (padded) input rows rows output rows read.
func (d *directLayout) inputRows(s *convShape, rows int) int {
	return (rows-1)*s.strides[0] + (s.kernel[0]-1)*s.dilations[0] + 1
}

// directWeights returns W in DirectConvRows's order, 16 output channels at a time: block b,
// tap t, channel j at ((b·taps)+t)·16 + j, zeros past the last channel (see packedOnce).
func (k *convKernel) directWeights(s *convShape, wv []float32) ([]float32, error) {
	const cb = gemm.DirectBlock
	taps := s.c * s.kSize
	blocks := ceilDivInt(s.m, cb)
	p, err := packedOnce(&k.directW, k.constW, wv, func(p *[]float32) bool {
		return len(*p) == blocks*taps*cb
	}, func(wv []float32) (*[]float32, error) {
		packed := make([]float32, blocks*taps*cb)
		for m := 0; m < s.m; m++ {
			for t := 0; t < taps; t++ {
				packed[(m/cb*taps+t)*cb+m%cb] = wv[m*taps+t]
			}
		}
		return &packed, nil
	})
	if err != nil {
		return nil, err
	}
	return *p, nil
}

// convDirect runs the direct lowering: every (image, band of output rows) item, in parallel,
// each padding the input rows it reads, computing all output channels of its band and
// finishing them. Memory: one band's padded input per thread.
func (k *convKernel) convDirect(ctx *Context, s *convShape, xv, wv, bias, residual, out []float32) error {
	w, err := k.directWeights(s, wv)
	if err != nil {
		return err
	}
	d := s.direct
	t := directConv{s: s, x: xv, w: w, bias: bias, residual: residual, out: out, act: k.act}
	itemWork := s.m * d.bandRows * s.out[1] * (len(d.offs) + 4)
	directConvTasks.Run(ctx, s.batch*d.bands, max(1, minImageSplitWork/itemWork), &t)
	return nil
}

// directConv is one run of the direct lowering; Chunk computes work items [lo, hi), item
// b·bands + band being band of image b.
type directConv struct {
	s                         *convShape
	x, w, bias, residual, out []float32
	act                       func([]float32)
}

var directConvTasks TaskPool[directConv, *directConv]

// Chunk implements workers.Task.
func (t *directConv) Chunk(lo, hi int) {
	const cb = gemm.DirectBlock
	s, d := t.s, t.s.direct
	oh, ow := s.out[0], s.out[1]
	taps := len(d.offs)
	srcRow := s.strides[0] * d.pw
	buf := getScratch(s.c*d.bandIn*d.pw + gemm.DirectSlack(d.step))
	defer convScratch.Put(buf)
	src := *buf
	var rows []float32 // one channel's padded rows before they are split into phases
	if d.phases {
		rowsBuf := getScratch(d.bandIn * d.pw)
		defer convScratch.Put(rowsBuf)
		rows = *rowsBuf
	}
	clear(src[s.c*d.bandIn*d.pw:]) // the slack, read by the last vectors' unused lanes
	for item := lo; item < hi; item++ {
		b, band := item/d.bands, item%d.bands
		r0 := band * d.bandRows
		r1 := min(oh, r0+d.bandRows)
		image := t.out[b*s.m*s.outSize : (b+1)*s.m*s.outSize]
		t.padBand(src, rows, b, r0, r1)
		for m0 := 0; m0 < s.m; m0 += cb {
			channels := min(cb, s.m-m0)
			var bias []float32
			var tail [cb]float32
			switch {
			case t.bias != nil && channels == cb:
				bias = t.bias[m0 : m0+cb]
			case t.bias != nil:
				copy(tail[:], t.bias[m0:])
				bias = tail[:]
			}
			w := t.w[m0/cb*taps*cb : (m0/cb+1)*taps*cb]
			if err := gemm.DirectConvRows(image[m0*s.outSize+r0*ow:], s.outSize, ow, src, srcRow, d.offs, w, bias, channels, ow, r1-r0, d.step); err != nil {
				panic(err) // the sizes come from the shape checked by newShape
			}
		}
		if t.residual == nil && t.act == nil {
			continue
		}
		if r0 == 0 && r1 == oh { // whole planes: the image's channels are one run
			t.finish(image, b*s.m*s.outSize)
			continue
		}
		for m := 0; m < s.m; m++ {
			t.finish(image[m*s.outSize+r0*ow:m*s.outSize+r1*ow], (b*s.m+m)*s.outSize+r0*ow)
		}
	}
}

// padBand writes the input rows that output rows [r0, r1) of image b read, zero-padded, into
// src: one plane of d.bandIn rows per input channel (the last band may use fewer). Where the
// layout splits rows into phases, each channel's rows are padded into scratch (d.bandIn rows)
// first.
func (t *directConv) padBand(src, scratch []float32, b, r0, r1 int) {
	s, d := t.s, t.s.direct
	ih, iw := s.in[0], s.in[1]
	rows := d.inputRows(s, r1-r0)
	y0 := r0*s.strides[0] - s.padBegin[0] // the band's first input row, maybe in the padding
	lo := min(max(y0, 0), ih)
	hi := max(min(y0+rows, ih), lo)
	top := min(max(lo-y0, 0), rows)
	bottom := rows - top - (hi - lo)
	for c := 0; c < s.c; c++ {
		img := t.x[(b*s.c+c)*s.inSize:]
		plane := src[c*d.bandIn*d.pw : c*d.bandIn*d.pw+rows*d.pw]
		padded := plane
		if d.phases {
			padded = scratch[:rows*d.pw]
		}
		if err := gemm.PadPlanes(padded, img[lo*iw:hi*iw], 1, hi-lo, iw, top, bottom, s.padBegin[1], d.pw); err != nil {
			panic(err) // the sizes come from the shape checked by newShape
		}
		if d.phases {
			even := d.evenColumns()
			for y := range rows {
				row := plane[y*d.pw : (y+1)*d.pw]
				gemm.Deinterleave(row[:even], row[even:], padded[y*d.pw:(y+1)*d.pw])
			}
		}
	}
}

// finish adds the residual (from offset at) and applies the activation to seg, a run of the
// output while it is in cache.
func (t *directConv) finish(seg []float32, at int) {
	if t.residual != nil {
		vecmath.Arith(vecmath.OpAdd, seg, seg, t.residual[at:at+len(seg)])
	}
	if t.act != nil {
		t.act(seg)
	}
}
