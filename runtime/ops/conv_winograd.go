package ops

import "github.com/actswap/actswap/internal/gemm"

// The Winograd F(2×2, 3×3) lowering of 3×3 stride-1 convolutions (ResNet-18's 56×56 and 28×28
// layers): each 2×2 block of output pixels (a tile) is computed from the 4×4 input patch under
// it with 16 multiplies per pair of channels instead of 36 (gemm.WinogradFilter has the
// algebra). The filters are transformed and packed once (U_ξ, Co×Ci for each of the 16
// positions ξ). Each image is cut into chunks of tiles small enough that a chunk's transformed
// inputs V_ξ (Ci×tiles) and products M_ξ = U_ξ·V_ξ (Co×tiles) stay in L2 between the input
// transform, the 16 products and the output transform, which adds the bias and residual and
// applies Relu as it writes the output planes. Each thread takes one range of chunks and pads
// the input rows under them itself. The chunks follow from the shape alone, each computed in the
// same order by whichever thread has it: a tile's bits do not depend on the thread count.

// winogradChunkBytes bounds one chunk's V and M (16·(Ci+Co)·tiles floats), so that they stay in
// a Zen 5 core's 1 MiB L2 beside the packed filters' blocks.
const winogradChunkBytes = 640 << 10

// winogradLayout is the Winograd lowering's geometry of one convolution shape.
type winogradLayout struct {
	tilesH, tilesW int // tiles down and across the output
	ph, pw         int // the padded planes: 2·tilesH + 2 rows of 2·tilesW + 2 values
	chunkTiles     int // tiles per chunk (the products' columns); an image's last chunk may have fewer
	chunks         int // chunks per image
	ldn            int // the row stride of V and M: chunkTiles and a vector of slack
	// ldv and ldm are the strides of V's and M's positions: their Ci or Co rows and a vector
	// more, so that the transforms' 16 loads or stores of a vector, one per position, do not
	// all fall in one set of the L1 cache (Ci·ldn floats are a multiple of 4 KiB).
	ldv, ldm int
	offsets  []int // the products' row offsets in V_ξ: ci·ldn
	// rows is Co rounded up to whole 12-row tiles of the AVX-512 product: U_ξ's rows past Co
	// are zeros, M_ξ's are not read. ResNet-18's 64 channels left 4 rows to the 6×16 kernel
	// through an edge buffer, 15% of the 56×56 layer's time for 6% of its rows.
	rows int
	// An image's last chunk, where its tiles do not fill a whole chunk, is two work items
	// (items = chunks + 1), each its products and outputs for one part of U's rows (output
	// channels, from splitRow on for the second), both transforming the chunk's inputs. A chunk's columns past
	// the last whole 16-column panel run on the 6×16 kernels, so a tail of a few tiles cost a
	// third of three whole chunks on ResNet-18's 28×28 layers (196 tiles: 6 chunks of 32 and
	// one of 4): the thread that had it spent 25% more thread CPU than the other.
	splitRow int
	items    int // work items per image: the chunks, one more where the tail is split
}

// winogradFits reports whether the Winograd lowering computes the convolution: 2-D, one group,
// a 3×3 window at stride and dilation 1, and no more than one pixel of padding on any side (the
// padded planes are the tiles' patches plus at most one row and column).
func (s *convShape) winogradFits() bool {
	return len(s.in) == 2 && s.group == 1 && s.kernel[0] == 3 && s.kernel[1] == 3 &&
		s.strides[0] == 1 && s.strides[1] == 1 && s.dilations[0] == 1 && s.dilations[1] == 1 &&
		max(s.padBegin[0], s.padBegin[1], s.padEnd[0], s.padEnd[1]) <= 1 && s.out[0] > 0 && s.out[1] > 0
}

// winogradCandidate reports whether the tuner times the Winograd lowering for the convolution:
// where it fits, its transforms run in assembly, the weights are constant (their transform is
// paid once), the shape is timed anyway and an image has winogradMinTiles tiles.
func (s *convShape) winogradCandidate() bool {
	tiles := ((s.out[0] + 1) / 2) * ((s.out[1] + 1) / 2)
	return s.constW && s.winogradFits() && s.gatherTunable() && gemm.WinogradFast() && tiles >= winogradMinTiles
}

// winogradMinTiles is the fewest tiles an image has where the Winograd lowering is timed. Its
// transformed filters are 16/9 of the weights and each of their values serves one product
// column per tile: on ResNet-18's 14×14 layers (49 tiles, 4.3 MB of U against 2.4 MB of
// weights) the tuner, whose candidates run back to back with their weights in cache, timed it
// level with the gather product (1.14–1.25 against 1.21–1.23 ms) and took it half the time, and
// in the model, where each layer's weights come from memory, it then ran 1.42–1.50 ms against
// the gather product's 1.22–1.27 (bench --profile, 1 thread, chrt, Zen 5). The 28×28 layers
// (196 tiles) gain there: 0.92–0.94 against 1.27–1.32 ms.
const winogradMinTiles = 64

func newWinogradLayout(s *convShape, lowering convLowering) *winogradLayout {
	l := &winogradLayout{tilesH: (s.out[0] + 1) / 2, tilesW: (s.out[1] + 1) / 2}
	l.ph, l.pw = 2*l.tilesH+2, 2*l.tilesW+2
	tiles := l.tilesH * l.tilesW
	chunkTiles := lowering.winogradTiles
	if chunkTiles <= 0 {
		// Whole 32-column tiles of the products: a chunk of 79 tiles ran 15 columns on the
		// narrow kernel, 17% of ResNet-18's 56×56 layer.
		chunkTiles = max(32, winogradChunkBytes/(64*(s.c+s.m))/32*32)
	}
	l.chunkTiles = min(chunkTiles, tiles)
	l.chunks = ceilDivInt(tiles, l.chunkTiles)
	l.ldn = gemm.WinogradLanes * (ceilDivInt(l.chunkTiles, gemm.WinogradLanes) + 1)
	l.rows = winogradRows(s.m)
	l.items = l.chunks
	if l.chunks > 1 && tiles%l.chunkTiles != 0 && l.rows >= 24 {
		l.splitRow, l.items = 12*ceilDivInt(l.rows/12, 2), l.chunks+1
	}
	l.ldv, l.ldm = s.c*l.ldn+gemm.WinogradLanes, l.rows*l.ldn+gemm.WinogradLanes
	l.offsets = make([]int, s.c)
	for ci := range l.offsets {
		l.offsets[ci] = ci * l.ldn
	}
	return l
}

// item returns the chunk that work item i of an image computes and the rows [u0, u1) of U it
// computes it for. The two halves of a split tail are the items in the middle, so that two
// threads, which take one contiguous half of the items each, take one half each.
func (l *winogradLayout) item(i int) (chunk, u0, u1 int) {
	if l.items == l.chunks { // no split tail
		return i, 0, l.rows
	}
	before := (l.chunks - 1) / 2 // whole chunks before the tail's items
	switch {
	case i < before:
		return i, 0, l.rows
	case i == before:
		return l.chunks - 1, 0, l.splitRow
	case i == before+1:
		return l.chunks - 1, l.splitRow, l.rows
	}
	return i - 2, 0, l.rows
}

// winogradRows is the rows of U_ξ and M_ξ for co output channels (winogradLayout.rows).
func winogradRows(co int) int { return 12 * ceilDivInt(co, 12) }

// winogradPacked is a convolution's transformed filters, one packed Co×Ci matrix per position.
type winogradPacked struct {
	u [16]*gemm.PackedA
}

// winogradWeights returns the transformed, packed filters (see packedOnce).
func (k *convKernel) winogradWeights(s *convShape, wv []float32) (*winogradPacked, error) {
	return packedOnce(&k.winogradW, k.constW, wv, func(p *winogradPacked) bool {
		return p.u[0].M() == winogradRows(s.m) && p.u[0].K() == s.c
	}, func(wv []float32) (*winogradPacked, error) {
		mc := s.m * s.c
		u := make([]float32, 16*mc)
		if err := gemm.WinogradFilter(u, wv, s.m, s.c); err != nil {
			return nil, err
		}
		rows := winogradRows(s.m)
		padded := make([]float32, rows*s.c)
		p := &winogradPacked{}
		for xi := range p.u {
			copy(padded, u[xi*mc:(xi+1)*mc])
			var err error
			if p.u[xi], err = gemm.PackA(false, rows, s.c, padded, s.c); err != nil {
				return nil, err
			}
		}
		return p, nil
	})
}

// convWinograd runs the Winograd lowering: every image's chunks of tiles as one parallel loop,
// cut into one contiguous range of chunks per thread, each thread padding the input rows under
// its own chunks.
func (k *convKernel) convWinograd(ctx *Context, s *convShape, xv, wv, bias, residual, out []float32) error {
	u, err := k.winogradWeights(s, wv)
	if err != nil {
		return err
	}
	items := s.batch * s.wino.items
	t := winogradChunks{k: k, s: s, u: u, x: xv, bias: bias, residual: residual, out: out, gemmThreads: max(1, ctx.Threads/items)}
	// One range per thread, not chunks claimed one at a time: on two threads a core reads what
	// the other wrote at 1.5 times the cost of its own (README), and with ranges that follow
	// the rows, a layer's thread reads mostly the rows it wrote in the layer before, and pads
	// the rows it reads itself. Two of ResNet-18's 56×56 layers in a chain ran in 1.03 ms on
	// two threads against 1.11 with the image padded plane by plane over the threads and its
	// chunks claimed one at a time (BenchmarkConvWinogradChain, medians of 42 runs in 5 sets,
	// alternating, Zen 5, load 1–2, the sets' medians −14% to +8%); the 28×28 ones, 7 chunks
	// of 32 tiles, 1.02 against 1.00; one thread level.
	winogradTasks.Run(ctx, items, 1, &t)
	return nil
}

// winogradChunks is the parallel loop of convWinograd over (image, chunk) items.
type winogradChunks struct {
	k                      *convKernel
	s                      *convShape
	u                      *winogradPacked
	x, bias, residual, out []float32
	gemmThreads            int // threads per product: more than one only where there are fewer items than threads
}

var winogradTasks TaskPool[winogradChunks, *winogradChunks]

// Chunk implements workers.Task: items [lo, hi), each run of whole consecutive chunks of one
// image under one band of padded rows.
func (t *winogradChunks) Chunk(lo, hi int) {
	l := t.s.wino
	for lo < hi {
		b := lo / l.items
		chunk, u0, u1 := l.item(lo % l.items)
		end := lo + 1
		if u0 == 0 && u1 == l.rows { // a whole chunk: take the whole chunks after it in this image along
			for end < hi && end/l.items == b {
				if next, q0, q1 := l.item(end % l.items); next != chunk+end-lo || q0 != 0 || q1 != l.rows {
					break
				}
				end++
			}
		}
		if err := t.image(b, chunk, chunk+end-lo, u0, u1); err != nil {
			panic(err) // the sizes come from the shape newShape checked; Parallel re-raises it as the node's error
		}
		lo = end
	}
}

// winogradBand is the zero-padded input rows under a range of chunks of one image: padded rows
// from 2·r0 on, plane values per channel.
type winogradBand struct {
	rows  []float32
	r0    int // the first tile row
	plane int
}

// image pads the input rows under chunks [c0, c1) of image b and computes the chunks for U's
// rows [u0, u1).
func (t *winogradChunks) image(b, c0, c1, u0, u1 int) error {
	s, l := t.s, t.s.wino
	r0, r1 := c0*l.chunkTiles/l.tilesW, (min(c1*l.chunkTiles, l.tilesH*l.tilesW)-1)/l.tilesW
	rows := 2*(r1-r0) + 4
	band := winogradBand{r0: r0, plane: rows * l.pw}
	buf := getScratch(s.c*band.plane + 2*gemm.WinogradLanes + 2) // the last tiles' vectors read past the last plane
	defer convScratch.Put(buf)
	band.rows = *buf
	err := gemm.PadPlaneRows(band.rows, t.x[b*s.c*s.inSize:], s.c, s.inSize, s.in[0], s.in[1], s.padBegin[0], s.padBegin[1], l.pw, 2*r0, rows)
	if err != nil {
		return err
	}
	clear(band.rows[s.c*band.plane:])
	for chunk := c0; chunk < c1; chunk++ {
		if err := t.chunk(b, chunk, band, u0, u1); err != nil {
			return err
		}
	}
	return nil
}

// chunk transforms, multiplies and writes chunk chunk of image b from its padded rows, for U's
// rows [u0, u1): the output channels from u0 to u1 or Co.
func (t *winogradChunks) chunk(b, chunk int, band winogradBand, u0, u1 int) error {
	s, l := t.s, t.s.wino
	t0 := chunk * l.chunkTiles
	t1 := min(t0+l.chunkTiles, l.tilesH*l.tilesW)
	vBuf, mBuf := getScratch(16*l.ldv), getScratch(16*l.ldm)
	defer convScratch.Put(vBuf)
	defer convScratch.Put(mBuf)
	v, m := *vBuf, *mBuf
	// segments calls fn on each run of the chunk's tiles within one tile row, in order: a
	// run's input vectors write past its tiles into the next run's, which then overwrites them.
	segments := func(fn func(at, r, c0, c1 int) error) error {
		for tile := t0; tile < t1; {
			r, c0 := tile/l.tilesW, tile%l.tilesW
			c1 := min(l.tilesW, c0+t1-tile)
			if err := fn(tile-t0, r, c0, c1); err != nil {
				return err
			}
			tile += c1 - c0
		}
		return nil
	}
	err := segments(func(at, r, c0, c1 int) error {
		return gemm.WinogradInput(v[at:], l.ldv, l.ldn, band.rows[2*(r-band.r0)*l.pw+2*c0:], l.pw, band.plane, s.c, c1-c0)
	})
	if err != nil {
		return err
	}
	n := t1 - t0
	for xi, u := range t.u.u {
		// V_ξ read in place: its rows are already the products' panels.
		b := gemm.IndirectB{Data: v[xi*l.ldv:], Offsets: l.offsets}
		var err error
		if u0 == 0 && u1 == l.rows {
			err = gemm.SgemmPackedAIndirect(u, n, b, 0, m[xi*l.ldm:], l.ldn, t.gemmThreads, nil)
		} else {
			err = gemm.SgemmPackedAIndirectRows(u, u0, u1, n, b, m[xi*l.ldm:], l.ldn)
		}
		if err != nil {
			return err
		}
	}
	ow := s.out[1]
	co0, co1 := u0, min(u1, s.m)
	var bias []float32
	if t.bias != nil {
		bias = t.bias[co0:co1]
	}
	return segments(func(at, r, c0, c1 int) error {
		rows, cols := min(2, s.out[0]-2*r), min(2*(c1-c0), ow-2*c0)
		o := b*s.m*s.outSize + 2*r*ow + 2*c0
		var res []float32
		if t.residual != nil {
			res = t.residual[o+co0*s.outSize:]
		}
		k := t.k
		err := gemm.WinogradOutput(t.out[o+co0*s.outSize:], ow, s.outSize, rows, cols, m[co0*l.ldn+at:], l.ldm, l.ldn, co1-co0, res, bias, k.relu)
		if err != nil || k.act == nil || k.relu {
			return err
		}
		for co := co0; co < co1; co++ {
			for y := 0; y < rows; y++ {
				p := o + co*s.outSize + y*ow
				k.act(t.out[p : p+cols])
			}
		}
		return nil
	})
}
