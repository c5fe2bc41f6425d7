package ops

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/internal/workers"
	"github.com/actswap/actswap/tensor"
)

// The gather lowering of a 2-D convolution: output pixels are the rows of a gemm.SgemmGather
// product whose A is read in place from the zero-padded image (row = a pixel's window corner,
// column = a tap's offset) and whose B is the transposed weights, packed once. Its 6- and 7-pixel
// tiles run across output rows, so unlike the padded-width grid of convIndirect2D nothing is
// computed for padding columns, and strides need no phase split. The product comes out
// pixel-major and is transposed into NCHW with the bias, residual and activation.

// gatherPays reports whether the gather lowering is the faster one for this convolution. It
// needs output channels in whole tiles of a gather kernel (64 with AVX-512, else 16 — the AVX2
// tile, also used on AVX-512 machines for channel counts that are not multiples of 64: a
// partial tile would compute padding channels instead of padding pixels), and enough
// depth to pay for transposing its pixel-major product into planes. Measured on ResNet-18/50
// shapes (BenchmarkConvResNet, one thread, EPYC): with AVX-512 it wins from depth 64 — by
// 10–45% on 3×3 kernels at 14×14 and 7×7 outputs, on strided kernels and on ResNet's 7×7 stem —
// except on 1×1 stride-1 kernels, which the plain GEMM reads in place without waste, below depth
// 512. The AVX2 tile wins on spatial kernels (by 10–35% on ResNet's 3×3 layers) and ties or
// loses on 1×1 kernels.
func (s *convShape) gatherPays(lowering convLowering) bool {
	width := gemm.GatherWidth(s.mg())
	if lowering.noGather || len(s.in) != 2 || !gemm.GatherFast() || s.mg()%width != 0 {
		return false
	}
	if lowering.forceGather {
		return true
	}
	depth := s.cg() * s.kSize
	if s.cg() == 1 && s.kSize > 1 {
		// One input channel per group, several filters (digits_cnn's first layer, digits_vit's
		// 2×2 patch embedding: depths 9 and 4). The other lowerings run one shallow GEMM per
		// image, dominated by packing and call overheads; the gather product runs one over the
		// batch. Measured at batch 16 (BenchmarkConvDigits, one thread, EPYC): 1.7× faster on
		// the 3×3 layer, 2.9× on the patches; at batch 1, 1.6× and 3.7×.
		return true
	}
	strided := s.strides[0] > 1 || s.strides[1] > 1
	// Small outputs fit the 6- and 7-pixel tiles exactly (49 = 7 + 7·6, 196 = 4·7 + 28·6) where the plain GEMM's
	// 32-column tiles waste 12–30%: MobileNet's 7×7 1×1 layers run 15–27% faster and 14×14 ones
	// with 64 or 96 channels 24–35%; with many channels at 14×14 the two tie. At 7×7 the plain
	// GEMM's second 32-column tile is half padding whatever the depth: MobileNetV3-Small's
	// 96 → 576 expansion ran 25% faster gathered (45 → 34 cpu-µs), and depths 32–112 into 96–640
	// channels 13–33% (BenchmarkConvMobileNetV3, one thread, Zen 5).
	smallOutput := (s.outSize <= 7*7 && depth >= 32) || (s.outSize <= 14*14 && depth >= 160 && s.mg() <= 128)
	switch {
	case width == 64 && s.isPointwise():
		return depth >= 512 || smallOutput
	case width == 64:
		return depth >= 64
	case width == 32 && s.isPointwise():
		return smallOutput
	case width == 32:
		// The 7×32 AVX-512 tile (channels a multiple of 32, not of 64): 25–60% faster than the
		// other lowerings on spatial kernels, the 3-channel stride-2 stem of MobileNet and
		// EfficientNet (depth 27) included.
		return s.kSize > 1 && depth >= 16
	case gemm.GatherWidth(64) == 64:
		// The 16-wide tile on an AVX-512 machine, against 12×32 indirect tiles: it wins on
		// strided kernels (MobileNet's stem by 35%) and small outputs (by 35% at 14×14), ties
		// from 56×56.
		return s.kSize > 1 && depth >= 16 && (strided || s.outSize <= 32*32)
	}
	return s.kSize > 1 && depth >= 16
}

// gatherFoldBytes bounds the pixel-major product of the images one gather product covers: a
// batch of small images runs as one product over all their pixels (digits_cnn's 16 images of
// 4×4 pixels are 256 rows, not 16 products of 16 rows, each with its own edge tiles and call
// overhead), in chunks whose product (and padded input) stays within a few MiB.
const gatherFoldBytes = 4 << 20

// planGather plans the gather product: its row offsets (each output pixel's window corner in
// the padded image, for gatherFold images laid one padded image apart, or in the unpadded
// images where every class skips every tap on padding: gatherInPlace), column offsets (each
// tap (c, ky, kx) relative to that corner) and row classes, checked and sorted once into
// s.gatherPlan for every run of this shape.
func (s *convShape) planGather(lowering convLowering) error {
	ph, pw := s.in[0]+s.padBegin[0]+s.padEnd[0], s.in[1]+s.padBegin[1]+s.padEnd[1]
	oh, ow := s.out[0], s.out[1]
	s.gatherFold = max(1, min(s.batch, gatherFoldBytes/(4*s.outSize*s.mg())))
	if lowering.foldImages > 0 {
		s.gatherFold = min(s.gatherFold, lowering.foldImages)
	}
	chunkValues := gatherChunkValues
	if lowering.chunkValues > 0 {
		chunkValues = lowering.chunkValues
	}
	// Chunks of a multiple of 6 pixels fill the 6-row tiles exactly; only the last chunk has
	// the 5- or 7-row tiles of an uneven count (gemm's tile plan).
	s.gatherChunk = min(s.outSize, 6*ceilDivInt(ceilDivInt(s.outSize, ceilDivInt(s.outSize*s.mg(), chunkValues)), 6))
	s.tapBlock = gatherTapBlock
	if lowering.tapBlock > 0 {
		s.tapBlock = lowering.tapBlock
	}
	var class []uint8
	var taps [][]gemm.TapRange
	if s.padded() && !lowering.allTaps {
		class, taps, s.gatherInPlace = s.gatherClasses(lowering.tapGrouping)
	}
	// Offsets in the padded image, or in the image itself where it is read in place: there a
	// window's corner may lie before the image, but no tap read does (gemm checks each class's).
	imageStride, top, left := s.cg()*ph*pw, 0, 0
	if !s.padded() || s.gatherInPlace {
		imageStride = s.c * s.inSize // the images are read in place, one whole image apart
		ph, pw, top, left = s.in[0], s.in[1], s.padBegin[0], s.padBegin[1]
	}
	rows := make([]int, 0, s.gatherFold*oh*ow)
	for b := 0; b < s.gatherFold; b++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				rows = append(rows, b*imageStride+(oy*s.strides[0]-top)*pw+ox*s.strides[1]-left)
			}
		}
	}
	kh, kw := s.kernel[0], s.kernel[1]
	cols := make([]int, s.cg()*kh*kw)
	for c := 0; c < s.cg(); c++ {
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				cols[s.gatherTap(c, ky*kw+kx)] = c*ph*pw + ky*s.dilations[0]*pw + kx*s.dilations[1]
			}
		}
	}
	plan, err := gemm.NewGatherPlan(rows, cols, class, taps)
	if err != nil {
		return fmt.Errorf("gather convolution: %w", err)
	}
	s.gatherPlan = plan
	return nil
}

// gatherTapBlock is how many input channels the gather product's taps take kernel offset by
// kernel offset: the taps of a block run offset by offset, all its channels of (ky, kx)
// together, so that the taps of a pixel's window that do not fall on padding are a few runs
// of columns per block — one per valid ky, or one where every kx is valid (gatherClasses) —
// while the image rows that a tile reads for a block stay in L1 until its last kx has read
// them. One block over ResNet-18's 512 channels cycled 96 KiB through L1 once per kx; blocks
// of 16 ran its 3×3 layers (BenchmarkConvResNet, variants blockN) 3–8% faster than blocks of
// 64 at 28×28 and 14×14 and as fast at 7×7 and on digits_cnn's layers (Zen 5, min of 3 rounds,
// load 7).
const gatherTapBlock = 16

// gatherTap is the gather product's column of tap t = ky·kw + kx of input channel c (of its
// group): channels in blocks of gatherTapBlock, each block's taps kernel offset by kernel
// offset.
func (s *convShape) gatherTap(c, t int) int {
	b0 := c / s.tapBlock * s.tapBlock
	return b0*s.kSize + t*min(s.tapBlock, s.cg()-b0) + c - b0
}

// validTaps returns, for each output coordinate along dimension d, the kernel offsets
// [lo, hi) whose taps read the image rather than its zero padding.
func (s *convShape) validTaps(d int) [][2]int {
	ranges := make([][2]int, s.out[d])
	for o := range ranges {
		lo, hi := s.kernel[d], 0
		for k := 0; k < s.kernel[d]; k++ {
			if at := o*s.strides[d] + k*s.dilations[d] - s.padBegin[d]; at >= 0 && at < s.in[d] {
				lo, hi = min(lo, k), k+1
			}
		}
		ranges[o] = [2]int{min(lo, hi), hi}
	}
	return ranges
}

// gatherClasses groups the gather product's rows (gatherFold images of output pixels) by the
// taps they need, so that the product skips the taps on zero padding: 31% of the multiply-adds
// of digits_cnn's 3×3 convolution on 4×4 outputs, 18% of ResNet-18's on 7×7. Each class is
// tiled on its own, so a class of few rows wastes tile rows; of three ways to group — by the
// exact window (a class per valid ky range × kx range), by output row (windows cut at the top
// or bottom, every kx) with the rows whose ky are all valid split by their kx range, and by
// output row alone — the one of least estimated cost (gemm.GatherRowCost × taps) is kept,
// or none when no grouping beats computing every tap. A grouping whose classes skip every tap
// on padding (exact: the first always is) lets the product read the image in place, so the
// others, and computing every tap, are charged the padded copy too (padCopyCost).
func (s *convShape) gatherClasses(forced int) (class []uint8, taps [][]gemm.TapRange, exact bool) {
	ys, xs := s.validTaps(0), s.validTaps(1)
	kh, kw, cg := s.kernel[0], s.kernel[1], s.cg()
	full := func(r [2]int, k int) bool { return r[0] == 0 && r[1] == k }
	type window struct{ y, x [2]int }
	groupings := []func(y, x [2]int) window{
		func(y, x [2]int) window { return window{y, x} },
		func(y, x [2]int) window {
			if full(y, kh) {
				return window{y, x}
			}
			return window{y, [2]int{0, kw}}
		},
		func(y, _ [2]int) window { return window{y, [2]int{0, kw}} },
	}
	tapCount := func(w window) int { return (w.y[1] - w.y[0]) * (w.x[1] - w.x[0]) * cg }
	pixels := s.gatherFold * s.outSize
	padCost := s.padCopyCost()
	best := gemm.GatherRowCost(pixels, s.mg())*float64(kh*kw*cg) + padCost
	if forced > 0 {
		groupings, best = groupings[forced-1:forced], math.Inf(1)
	}
	for _, group := range groupings {
		index := map[window]int{}
		var windows []window
		var counts []int
		groupClass := make([]uint8, 0, pixels)
		groupExact := true
		for range s.gatherFold {
			for _, y := range ys {
				for _, x := range xs {
					w := group(y, x)
					groupExact = groupExact && w == window{y, x}
					c, ok := index[w]
					if !ok {
						c = len(windows)
						index[w] = c
						windows = append(windows, w)
						counts = append(counts, 0)
					}
					counts[c]++
					groupClass = append(groupClass, uint8(c))
				}
			}
		}
		if len(windows) > 256 {
			continue
		}
		ranges := make([][]gemm.TapRange, len(windows))
		cost := 0.0
		if !groupExact {
			cost = padCost
		}
		for c, w := range windows {
			ranges[c] = s.windowTaps(w.y, w.x)
			// A kernel call per tap range costs about 8 steps of k besides its taps.
			cost += gemm.GatherRowCost(counts[c], s.mg()) * float64(tapCount(w)+8*len(ranges[c]))
		}
		if cost < best {
			best, class, taps, exact = cost, groupClass, ranges, groupExact
		}
	}
	return class, taps, exact
}

// padCopyCost is what writing out the padded images of one gather product costs, in
// gatherClasses' units (a row of the main tile times a tap: mg/32 cycles of two 512-bit FMA
// pipes): about a quarter of a cycle per value written (digits_cnn's 16 padded 16×10×10
// images took 1.5–2 µs, Zen 5).
func (s *convShape) padCopyCost() float64 {
	ph, pw := s.in[0]+s.padBegin[0]+s.padEnd[0], s.in[1]+s.padBegin[1]+s.padEnd[1]
	values := s.gatherFold * s.cg() * ph * pw
	return float64(values) * 8 / float64(s.mg())
}

// windowTaps returns the gather product's columns of the taps ky ∈ [y[0], y[1]), kx ∈ [x[0],
// x[1]) of every channel, as ascending ranges (gatherTap's order), adjacent ones merged.
func (s *convShape) windowTaps(y, x [2]int) []gemm.TapRange {
	var ranges []gemm.TapRange
	add := func(from, to int) {
		if from >= to {
			return
		}
		if n := len(ranges); n > 0 && ranges[n-1].To == from {
			ranges[n-1].To = to
			return
		}
		ranges = append(ranges, gemm.TapRange{From: from, To: to})
	}
	kw, cg := s.kernel[1], s.cg()
	for b0 := 0; b0 < cg; b0 += s.tapBlock {
		base, n := b0*s.kSize, min(s.tapBlock, cg-b0)
		for ky := y[0]; ky < y[1]; ky++ {
			add(base+(ky*kw+x[0])*n, base+(ky*kw+x[1])*n)
		}
	}
	return ranges
}

// padded reports whether a 2-D convolution pads its image (so the gather lowering copies it).
func (s *convShape) padded() bool {
	return s.padBegin[0]+s.padEnd[0]+s.padBegin[1]+s.padEnd[1] > 0
}

// gatherWeights returns the per-group transposed weights (see packedOnce).
func (k *convKernel) gatherWeights(s *convShape, wv []float32) ([]*gemm.PackedBWide, error) {
	mg, kg := s.mg(), s.cg()*s.kSize
	p, err := packedOnce(&k.gatherW, k.constW, wv, func(p *gatherPacked) bool {
		return len(p.groups) == s.group && p.groups[0].N() == mg && p.groups[0].K() == kg && p.tapBlock == s.tapBlock
	}, func(wv []float32) (*gatherPacked, error) {
		// W's taps run channel by channel, the product's in gatherTap's order: each output
		// channel's row is reordered before packing.
		packed := make([]*gemm.PackedBWide, s.group)
		reordered := make([]float32, mg*kg)
		for g := range packed {
			for j := 0; j < mg; j++ {
				src, dst := wv[(g*mg+j)*kg:(g*mg+j+1)*kg], reordered[j*kg:(j+1)*kg]
				for c := 0; c < s.cg(); c++ {
					for t := 0; t < s.kSize; t++ {
						dst[s.gatherTap(c, t)] = src[c*s.kSize+t]
					}
				}
			}
			var err error
			if packed[g], err = gemm.PackBTransposed(mg, kg, reordered, kg); err != nil {
				return nil, err
			}
		}
		return &gatherPacked{groups: packed, tapBlock: s.tapBlock}, nil
	})
	if err != nil {
		return nil, err
	}
	return p.groups, nil
}

// gatherPacked is a gather convolution's weights, per group, packed with their taps in the
// order of blocks of tapBlock channels (gatherTap).
type gatherPacked struct {
	groups   []*gemm.PackedBWide
	tapBlock int
}

// packedOnce returns a packed form of the convolution's weights: the one kept in kept when W is
// constant (wv nil) and fits accepts it, else pack's, from wv (W given at run time) or from the
// constant W, keeping what it packed from the constant for the runs after this one.
func packedOnce[T any](kept *atomic.Pointer[T], constW *tensor.Tensor, wv []float32, fits func(*T) bool, pack func([]float32) (*T, error)) (*T, error) {
	if wv == nil {
		if p := kept.Load(); p != nil && fits(p) {
			return p, nil
		}
		if constW == nil {
			return nil, fmt.Errorf("no weights to pack")
		}
		wv = constW.F32()
	}
	p, err := pack(wv)
	if err != nil {
		return nil, err
	}
	if constW != nil {
		kept.Store(p)
	}
	return p, nil
}

// convGather runs a convolution through convGather2D, group by group, s.gatherFold images per
// product. A batch whose images divide evenly among the threads (imageParts) is split by
// images instead: each thread pads, multiplies and transposes its own images, one parallel
// loop for the whole layer.
func (k *convKernel) convGather(ctx *Context, s *convShape, xv, wv, bias, residual, out []float32) error {
	packed, err := k.gatherWeights(s, wv)
	if err != nil {
		return err
	}
	if parts := s.imageParts(ctx); parts > 1 {
		t := convImagesPool.Get().(*convImages)
		t.k, t.s, t.packed, t.xv, t.bias, t.residual, t.out = k, s, packed, xv, bias, residual, out
		workers.RunTask(s.batch, parts, t)
		err := t.err
		*t = convImages{}
		convImagesPool.Put(t)
		return err
	}
	return k.convGatherImages(ctx, s, packed, xv, bias, residual, out, 0, s.batch)
}

// convGatherImages computes images [b0, b1) of every group, s.gatherFold images per product.
func (k *convKernel) convGatherImages(ctx *Context, s *convShape, packed []*gemm.PackedBWide, xv, bias, residual, out []float32, b0, b1 int) error {
	for g := 0; g < s.group; g++ {
		var groupBias []float32
		if bias != nil {
			groupBias = bias[g*s.mg() : (g+1)*s.mg()]
		}
		for b := b0; b < b1; b += s.gatherFold {
			images := min(s.gatherFold, b1-b)
			if err := convGather2D(ctx, s, packed[g], xv, out, b, images, g, groupBias, residual, k.act, k.relu); err != nil {
				return err
			}
		}
	}
	return nil
}

// minImageSplitWork is the least work (imageParts' estimate, about a multiply-add each) a
// thread's share of an image-split convolution, or of the direct lowering, must have: several
// times what a 2-thread loop costs besides its chunks — the hand-off, and each core reading
// what the other wrote — which wall time on a quiet 2-core Zen 5 puts near 8 µs: digits_cnn's
// first layer (16 images of 8×8 pixels, about 400 K) took 11–12 µs split in two against 4 µs
// on one thread (bench --profile, 2 threads, 2026-12-07; at 64 K it was split). The deeper
// layers of small models (5 M) still split.
const minImageSplitWork = 1 << 19

// imageParts is how many threads share the convolution's images (1: the batch is not split
// by images; the gather product splits its own rows or panels instead). Images split evenly —
// a multiple of the threads, or at least four per thread, so that the busiest thread has at
// most a quarter more than the others — are the coarsest split there is: one loop per layer
// instead of one for the product and one for the transposition, the padded-image copy in
// parallel too, and each thread transposes the product it has in its own cache. The estimate
// counts the multiply-adds plus 16 per output value, for the padding, transposition and
// epilogue that small layers spend most of their time in.
func (s *convShape) imageParts(ctx *Context) int {
	if ctx == nil || ctx.Threads <= 1 || s.batch < 2 {
		return 1
	}
	parts := min(ctx.Threads, s.batch)
	if s.batch%parts != 0 && s.batch < 4*parts {
		return 1
	}
	work := s.batch * s.m * s.outSize * (s.cg()*s.kSize + 16)
	return min(parts, work/minImageSplitWork)
}

// convImages is an image-split convolution's work: Chunk computes a range of images on one
// thread. Kept in a pool, filled field by field (it holds a mutex), so a run allocates nothing
// for it.
type convImages struct {
	k                       *convKernel
	s                       *convShape
	packed                  []*gemm.PackedBWide
	xv, bias, residual, out []float32
	mu                      sync.Mutex
	err                     error // the first chunk's error
}

var convImagesPool = sync.Pool{New: func() any { return new(convImages) }}

// oneThread is the context of a chunk of an image split: the thread count is all it reads.
var oneThread = &Context{Threads: 1}

// Chunk implements workers.Task: images [lo, hi).
func (t *convImages) Chunk(lo, hi int) {
	if err := t.k.convGatherImages(oneThread, t.s, t.packed, t.xv, t.bias, t.residual, t.out, lo, hi); err != nil {
		t.mu.Lock()
		if t.err == nil {
			t.err = err
		}
		t.mu.Unlock()
	}
}

// paddedImage2D returns one group's image with its zero padding written out, followed by slack
// zeros, in buf; an unpadded image without slack is used in place. gemm.PadPlanes writes every
// value once (no clear first) and pads rows of up to 16 values, digits_cnn's 8×8 and 4×4
// planes, at one vector load and store each instead of a copy call.
func paddedImage2D(s *convShape, img []float32, slack int, buf *[]float32) []float32 {
	ih, iw := s.in[0], s.in[1]
	top, left := s.padBegin[0], s.padBegin[1]
	ph, pw := ih+top+s.padEnd[0], iw+left+s.padEnd[1]
	cg := s.cg()
	if ph == ih && pw == iw && slack == 0 {
		return img[:cg*ih*iw]
	}
	n := cg*ph*pw + slack
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	padded := (*buf)[:n]
	if err := gemm.PadPlanes(padded, img, cg, ih, iw, top, s.padEnd[0], left, pw); err != nil {
		panic(err) // the sizes come from the shape checked by newShape
	}
	clear(padded[cg*ph*pw:])
	return padded
}

// convGather2D computes group g of images [b0, b0+images) through one gather product over all
// their pixels, and writes each image's pixel-major product into its channel planes; relu says
// that act is ReLU, which the transposition applies itself.
func convGather2D(ctx *Context, s *convShape, pb *gemm.PackedBWide, xv, out []float32, b0, images, g int, bias, residual []float32, act func([]float32), relu bool) error {
	cg, mg, pixels := s.cg(), s.mg(), s.outSize
	imageOffset := func(b int) int { return (b*s.c + g*cg) * s.inSize }
	data := xv[imageOffset(b0):] // unpadded: read in place, images s.c·inSize apart
	if s.padded() && !s.gatherInPlace {
		imgBuf := getScratch(0)
		defer convScratch.Put(imgBuf)
		ph, pw := s.in[0]+s.padBegin[0]+s.padEnd[0], s.in[1]+s.padBegin[1]+s.padEnd[1]
		size := cg * ph * pw
		*imgBuf = slices.Grow((*imgBuf)[:0], images*size)[:images*size]
		if images == 1 && ctx != nil && !ctx.Inline(cg, max(1, padSplitValues/(ph*pw))) {
			// A large image's copy is split over its planes: serial, it was most of the time
			// a 2-thread resnet18 run spent outside parallel loops.
			p := padPlanes{dst: *imgBuf, src: xv[imageOffset(b0) : imageOffset(b0)+cg*s.inSize], ih: s.in[0], iw: s.in[1],
				top: s.padBegin[0], bottom: s.padEnd[0], left: s.padBegin[1], pw: pw}
			p.run(ctx, cg)
		} else {
			for i := 0; i < images; i++ {
				img := xv[imageOffset(b0+i) : imageOffset(b0+i)+cg*s.inSize]
				scratch := (*imgBuf)[i*size : (i+1)*size : (i+1)*size] // cap = size: filled in place
				paddedImage2D(s, img, 0, &scratch)
			}
		}
		data = *imgBuf
	}
	// One large image runs in chunks of pixels, each product transposed into the planes
	// right after it is computed: the chunk's product stays in L2 between the two, instead of
	// the whole product (3.2 MB for ResNet-18's stem) going out to memory and back.
	threads := 1
	if ctx != nil {
		threads = max(ctx.Threads, 1)
	}
	planes := pixelMajorToPlanes{channels: mg, pixels: pixels, count: pixels, bias: bias, act: act, relu: relu,
		dst: out[(b0*s.m+g*mg)*pixels:], imageStride: s.m * pixels}
	if residual != nil {
		planes.residual = residual[(b0*s.m+g*mg)*pixels:]
	}
	if unit := s.gatherUnit(threads); images == 1 && unit > 0 {
		return runGatherUnits(threads, s, pb, data, planes, unit)
	}
	// Otherwise each chunk's product is split over the threads (by B's panels where there
	// are enough, so that each streams its own part of the weights), a chunk one thread's
	// share each.
	chunk := images * pixels
	if images == 1 {
		chunk = min(pixels, threads*s.gatherChunk)
	}
	outBuf := getScratch(chunk * mg)
	defer convScratch.Put(outBuf)
	t := toPlanesPool.Get().(*pixelMajorToPlanes)
	defer toPlanesPool.Put(t)
	*t = planes
	t.src = *outBuf
	defer func() { *t = pixelMajorToPlanes{} }() // drop the references to this call's buffers
	for p0 := 0; p0 < images*pixels; p0 += chunk {
		p1 := min(p0+chunk, images*pixels)
		if images == 1 {
			t.first, t.count = p0, p1-p0
		}
		if err := gemm.SgemmGatherPlanned(s.gatherPlan, p0, p1, data, pb, *outBuf, mg, threads, t); err != nil {
			return err
		}
	}
	return nil
}

// gatherUnitsPerThread is how many units of pixels each thread's share of one image's gather
// product is cut into (gatherUnit): the threads claim units one at a time, so one that starts
// late or runs slower still finishes with the others, and the last unit each takes leaves the
// other waiting at most a fraction of its share.
const gatherUnitsPerThread = 4

// gatherUnit is how many pixels (a multiple of 6, the tile's rows) one unit of a single image's
// gather product split over threads covers — at most the chunk whose product stays in L2, and
// small enough that every thread gets gatherUnitsPerThread of them, or as many as units of a
// transposition span leave (one each for a 28×28 image on 2 threads) —, or 0 where the image is
// not split into units: one thread, weights too large (unitsPay), or units of fewer pixels than
// a transposition span. A fused activation other than Relu is applied to each channel's run of
// a unit's pixels in a call of its own, and on small images those calls cost more than the
// product (MobileNetV3's 96→576 1×1 on 7×7 with HardSwish: units of 12 pixels, 576 calls each,
// took 70 µs on 2 threads against 28 µs split by panels).
func (s *convShape) gatherUnit(threads int) int {
	if threads <= 1 || !s.unitsPay() {
		return 0
	}
	for per := gatherUnitsPerThread; per >= 1; per-- {
		perThread := 6 * ceilDivInt(ceilDivInt(s.outSize, threads*per), 6)
		if unit := min(s.gatherChunk, perThread); unit >= transposeSpan && unit < s.outSize {
			return unit
		}
	}
	return 0
}

// unitsBytes bounds the packed weights of a convolution whose single image is split into units
// of pixels (gatherUnits): every unit multiplies by all of them, each core streaming them through
// its L2 (1 MiB on Zen 5); larger weights are split by panels instead, each thread streaming its
// own. Up to 1 MiB the units still win: ResNet-18's 28×28 3×3 layers (576 KiB of weights), in
// two units of 396 pixels, took 0.76–0.85 ms on 2 threads against 0.86–0.93 split product by
// product (bench --profile, quiet Zen 5, 2026-12-07; resnet18 at 2 threads 1.21–1.25 → 1.10–1.19
// × onnxruntime, alternating).
const unitsBytes = 1 << 20

// unitsPay reports whether one image's product is split into units of pixels rather than
// chunk by chunk over B's panels.
func (s *convShape) unitsPay() bool {
	return 4*s.cg()*s.kSize*s.mg() <= unitsBytes
}

// gatherUnits is one image's gather product split into units of pixels that threads claim one at
// a time, each unit a product and its transposition on one thread: a single parallel loop for
// the layer. Splitting each chunk's product over the threads instead cost a loop, and the wait
// for its slower half, per chunk: ResNet-18's stem, seven chunks on two threads, took 1.14–1.18
// ms where its units take 0.93 ms, and its 56×56 layers 0.85–0.95 ms against 0.75 (Zen 5).
type gatherUnits struct {
	s      *convShape
	pb     *gemm.PackedBWide
	data   []float32
	planes pixelMajorToPlanes // the transposition's destination; src, first and count per unit
	unit   int
	mu     sync.Mutex
	err    error // the first unit's error
}

var gatherUnitsPool = sync.Pool{New: func() any { return new(gatherUnits) }}

// runGatherUnits computes an image's product in units of unit pixels on up to threads threads.
// planes is taken by value: its address, held by the pooled task, would move the caller's copy
// to the heap, an allocation per call of every gather convolution.
func runGatherUnits(threads int, s *convShape, pb *gemm.PackedBWide, data []float32, planes pixelMajorToPlanes, unit int) error {
	u := gatherUnitsPool.Get().(*gatherUnits)
	u.s, u.pb, u.data, u.planes, u.unit = s, pb, data, planes, unit
	n := ceilDivInt(s.outSize, unit)
	workers.RunTaskOn(n, n, threads, u)
	err := u.err
	*u = gatherUnits{}
	gatherUnitsPool.Put(u)
	return err
}

// Chunk implements workers.Task: units [lo, hi), each multiplied and transposed in turn through
// one scratch product.
func (u *gatherUnits) Chunk(lo, hi int) {
	mg := u.planes.channels
	buf := getScratch(u.unit * mg)
	defer convScratch.Put(buf)
	t := toPlanesPool.Get().(*pixelMajorToPlanes)
	defer toPlanesPool.Put(t)
	defer func() { *t = pixelMajorToPlanes{} }()
	for i := lo; i < hi; i++ {
		p0, p1 := i*u.unit, min((i+1)*u.unit, u.s.outSize)
		*t = u.planes
		t.src, t.first, t.count = *buf, p0, p1-p0
		if err := gemm.SgemmGatherPlanned(u.s.gatherPlan, p0, p1, u.data, u.pb, *buf, mg, 1, t); err != nil {
			u.mu.Lock()
			if u.err == nil {
				u.err = err
			}
			u.mu.Unlock()
			return
		}
	}
}

// padSplitValues is the least a thread's share of a padded-image copy split over threads
// holds (values written): 64 KiB, several microseconds, against a hand-off of about one.
const padSplitValues = 16 << 10

// padPlanes pads planes of images (Chunk): gemm.PadPlanes on a range of planes or, where the
// planes do not divide evenly among the threads (a 3-channel stem on 2 threads: one would pad
// two planes while the other pads one, 26 µs against 11 for ResNet-18's), on bands of rows.
type padPlanes struct {
	dst, src                      []float32
	ih, iw, top, bottom, left, pw int
	// bands is the row bands of each plane (run sets it): Chunk's units are plane·bands + band.
	bands int
}

var padPlanesTasks TaskPool[padPlanes, *padPlanes]

// run pads planes planes with ctx's threads, each thread's share at least padSplitValues.
func (p *padPlanes) run(ctx *Context, planes int) {
	p.bands = 1
	if ctx != nil && ctx.Threads > 1 && planes%ctx.Threads != 0 {
		p.bands = max(1, min(ctx.Threads, p.ih))
	}
	unit := max(1, (p.top+p.ih+p.bottom)*p.pw/p.bands) // values a unit writes, about
	padPlanesTasks.Run(ctx, planes*p.bands, max(1, padSplitValues/unit), p)
}

// Chunk implements workers.Task: units [lo, hi), whole planes or bands of rows (bands).
func (p *padPlanes) Chunk(lo, hi int) {
	in, out := p.ih*p.iw, (p.top+p.ih+p.bottom)*p.pw
	if p.bands <= 1 {
		p.pad(p.dst[lo*out:hi*out], p.src[lo*in:hi*in], hi-lo, p.ih, p.top, p.bottom)
		return
	}
	for u := lo; u < hi; u++ {
		plane, band := u/p.bands, u%p.bands
		r0, r1 := p.ih*band/p.bands, p.ih*(band+1)/p.bands
		// The band's rows of the padded plane, with the zero rows above the first band and
		// below the last.
		top, bottom, d0 := 0, 0, (p.top+r0)*p.pw
		if band == 0 {
			top, d0 = p.top, 0
		}
		if band == p.bands-1 {
			bottom = p.bottom
		}
		d1 := (p.top + r1 + bottom) * p.pw
		p.pad(p.dst[plane*out+d0:plane*out+d1], p.src[plane*in+r0*p.iw:plane*in+r1*p.iw], 1, r1-r0, top, bottom)
	}
}

// pad is gemm.PadPlanes with p's widths.
func (p *padPlanes) pad(dst, src []float32, planes, ih, top, bottom int) {
	if err := gemm.PadPlanes(dst, src, planes, ih, p.iw, top, bottom, p.left, p.pw); err != nil {
		panic(err) // the sizes come from the shape checked by newShape
	}
}

// gatherChunkValues bounds the pixel-major product of one chunk of a large image (256 KiB):
// it stays in L2 (with the B block and the rows of the image the chunk reads) until it is
// transposed.
const gatherChunkValues = 64 << 10

// toPlanesPool recycles the transpositions handed to SgemmGatherThen as its epilogue (an
// interface holding a pointer: from the stack it would escape, an allocation per call).
var toPlanesPool = sync.Pool{New: func() any { return new(pixelMajorToPlanes) }}

// Finish implements gemm.GatherEpilogue: product rows [r0, r1) (count pixels of each image in
// turn) and columns [c0, c1) (output channels, whole transposeChannels blocks but for the last).
func (t *pixelMajorToPlanes) Finish(r0, r1, c0, c1 int) {
	blk0, blk1 := c0/transposeChannels, ceilDivInt(c1, transposeChannels)
	for img := r0 / t.count; img*t.count < r1; img++ {
		p0, p1 := max(r0-img*t.count, 0), min(r1-img*t.count, t.count)
		for blk := blk0; blk < blk1; blk++ {
			t.block(img, blk, t.first+p0, t.first+p1)
		}
	}
}

// transposeChannels is how many output channels one pass of the transposition writes: each
// pixel's values for them are one cache line of the pixel-major product.
const transposeChannels = 16

// pixelMajorToPlanes writes a pixel-major product (images × pixels × channels) into channel
// planes, images imageStride apart in dst (and residual), adding the bias and residual and
// applying the activation to each plane while it is in cache.
type pixelMajorToPlanes struct {
	src              []float32
	channels, pixels int // pixels: of each output plane
	// src holds pixels [first, first+count) of each image (all of them unless an image is
	// computed in chunks).
	first, count        int
	imageStride         int
	dst, bias, residual []float32
	act                 func([]float32)
	relu                bool // act is ReLU: gemm.TransposeEpilogue adds the residual and applies it
}

// transposeSpan is how many pixels of a channel block are transposed before their residual
// and activation are applied: 16 rows of 1 KiB stay in L1.
const transposeSpan = 256

// block handles pixels [p0, p1) (of the plane; within [first, first+count)) of channel block
// blk (transposeChannels channels) of image img: 256 pixels at a time transposed
// (gemm.TransposeEpilogue, 8×8 squares in registers) with the bias — and the residual and ReLU
// when the activation is ReLU or there is none —, else the residual and activation over each
// channel's 256 values while they are in L1.
func (t *pixelMajorToPlanes) block(img, blk, p0, p1 int) {
	dst := t.dst[img*t.imageStride:]
	var residual []float32
	if t.residual != nil {
		residual = t.residual[img*t.imageStride:]
	}
	m0 := blk * transposeChannels
	m1 := min(m0+transposeChannels, t.channels)
	var bias []float32
	if t.bias != nil {
		bias = t.bias[m0:m1]
	}
	whole := t.act == nil || t.relu // the transposition does the whole epilogue
	for s0 := p0; s0 < p1; s0 += transposeSpan {
		s1 := min(s0+transposeSpan, p1)
		src := t.src[(img*t.count+s0-t.first)*t.channels+m0:]
		e := gemm.PlaneEpilogue{Bias: bias, Relu: t.relu}
		if whole && residual != nil {
			e.Residual = residual[m0*t.pixels+s0:]
		}
		if err := gemm.TransposeEpilogue(dst[m0*t.pixels+s0:], t.pixels, src, t.channels, s1-s0, m1-m0, e); err != nil {
			panic(err) // the slices are cut from shapes checked by the caller
		}
		if whole {
			continue
		}
		if s0 == 0 && s1 == t.pixels {
			// Whole planes: the block's channels are one contiguous run, finished in one
			// call each rather than one per channel (16 calls on 16-value planes cost more
			// than the values).
			t.finish(dst[m0*t.pixels:m1*t.pixels], residual, m0*t.pixels)
			continue
		}
		for m := m0; m < m1; m++ {
			t.finish(dst[m*t.pixels+s0:m*t.pixels+s1], residual, m*t.pixels+s0)
		}
	}
}

// finish adds the residual (from offset at of this image's residual) and applies the
// activation to seg, a run of the output while it is in cache.
func (t *pixelMajorToPlanes) finish(seg, residual []float32, at int) {
	if residual != nil {
		vecmath.Arith(vecmath.OpAdd, seg, seg, residual[at:at+len(seg)])
	}
	if t.act != nil {
		t.act(seg)
	}
}
