package gemm

import (
	"fmt"
	"slices"
	"sync"
	"unsafe"

	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/workers"
)

// The gather product C = A·B reads A in place through two offset tables instead of packing it:
// A[i][p] = Data[Rows[i] + Cols[p]]. For a convolution, row i is an output pixel (Rows[i] its
// window's corner in the zero-padded image), column p a tap (Cols[p] = channel plane + kernel
// offset) and B the transposed weights, so C comes out pixel-major, one output channel per
// column. The rows of a tile are any pixels — consecutive ones across output rows, with any
// stride or dilation — so no column of the tile is wasted on padding, unlike SgemmPackedAIndirect
// whose tiles span padded-width image rows (a 7×7 output on a 9-wide padded grid wastes 31%).

const (
	gatherMR = 7 // A rows (output pixels) of the long tiles (tilePlan): the 7×64 and 7×32 AVX-512 tiles
	// gatherMaxRows is the most A rows of any tile: AVX-512's 10×16 (more rows would need more
	// row pointers than the core has general registers).
	gatherMaxRows = 10
	gatherNR      = 64 // most B columns (output channels) per tile: four zmm registers; AVX2's has 16
	// gatherKC bounds a k block so that one panel block of B (at most gatherKC·64 floats,
	// 128 KiB) stays in L2 while every row tile passes over it.
	gatherKC = 512
)

// gatherTile is the main tile of the kernel level x runs for n columns: with AVX-512 6×64 when
// n fills 64-column panels, 7×32 when it fills 32-column ones and 10×16 otherwise; 6×16 with
// AVX2.
func gatherTile(x simd.Level, n int) (rows, cols int) {
	cols = 16
	switch {
	case x.Wide() && n%64 == 0:
		cols = 64
	case x.Wide() && n%32 == 0:
		cols = 32
	}
	return gatherRowsFor(x, cols), cols
}

// gatherRowsFor is the row count of level x's main tile with panels nr wide: 6 for the 64-wide
// AVX-512 tile and AVX2's 16-wide one, 7 for the 32-wide AVX-512 tile, 10 for the 16-wide
// AVX-512 one (one zmm per row: 6 rows would leave the FMA units waiting on 6 chains). The 6×64
// tile (24 accumulators) keeps two registers free to broadcast each A value once per row; the
// 7×64 one (28 accumulators) holds three of B's four vectors and reads the fourth from memory.
// 7×64 tiles (or 5×64 ones where too few rows are left for 7s) cover the rows that 6s leave
// over (tilePlan).
func gatherRowsFor(x simd.Level, nr int) int {
	switch {
	case nr == 32:
		return gatherMR
	case nr == 16 && x.Wide():
		return gatherMaxRows
	}
	return 6
}

// tilePlan splits m rows into tiles for panels nr wide: mr-row tiles after long leading tiles
// of lead rows, so that m = lead·long + mr·(tiles − long) exactly where it can. With the 64-wide
// AVX-512 tiles the leading ones have 7 rows where 6s leave rows over and m ≥ 7·(m mod 6) (49
// pixels of a 7×7 output are 7 + 7·6), else 5 where five-row tiles fit (16 = 5·2 + 6): the 7×64
// tile runs at the 6×64's rate per row, and fewer tiles pass fewer times over each block of B
// (9 tiles of a 7×7 output's 49 pixels as 5·5 + 4·6, 8 now).
func tilePlan(x simd.Level, m, nr int) (mr, lead, long, tiles int) {
	mr, lead = gatherRowsFor(x, nr), gatherMR
	if nr == gatherNR && m%mr != 0 { // only AVX-512 packs 64-wide panels
		if l := m % mr; m >= gatherMR*l {
			long = l
		} else if fives := mr - m%mr; m >= gatherLeadRows*fives {
			lead, long = gatherLeadRows, fives
		}
	}
	return mr, lead, long, long + ceilDiv(m-lead*long, mr)
}

// GatherRowCost estimates what a gather product of m rows and n columns costs on this machine,
// in rows of the main tile's work: its tiles' rows (an edge tile costs a whole tile). Callers
// weigh ways of splitting a product into classes of rows with it.
func GatherRowCost(m, n int) float64 {
	x := simd.Host()
	_, nr := gatherTile(x, n)
	mr, lead, long, tiles := tilePlan(x, m, nr)
	return float64(long*lead) + float64(tiles-long)*float64(mr)
}

// gatherLeadRows is the row count of the 64-wide AVX-512 tiles that lead a product whose rows
// 6-row tiles do not divide (tilePlan).
const gatherLeadRows = 5

// GatherA is a left operand read in place: A[i][p] = Data[Rows[i]+Cols[p]].
//
// Class, when set (one entry per row), lets rows skip the columns where they read only zeros —
// a convolution's taps on zero padding: row i is A[i][p] = Data[Rows[i]+Cols[p]] for p in the
// ranges Taps[Class[i]] and zero elsewhere, and its product runs over those ranges only (the
// data need hold only the values those read). The rows are computed class by class (each class
// tiled on its own), so a class should hold rows enough to fill tiles.
type GatherA struct {
	Data  []float32
	Rows  []int
	Cols  []int
	Class []uint8
	Taps  [][]TapRange
}

// TapRange is the columns [From, To) of a gather product that a class of rows uses.
type TapRange struct{ From, To int }

// PackedBWide is a k×n right operand stored as panels of the gather tile's width (64 columns
// with AVX-512, 16 otherwise), each k rows of that many values (zero-padded past n), for
// SgemmGather.
type PackedBWide struct {
	k, n  int
	nr    int        // panel width
	level simd.Level // the level it was packed for, which SgemmGather runs
	data  []float32
}

// K and N are the operand's dimensions.
func (p *PackedBWide) K() int { return p.k }
func (p *PackedBWide) N() int { return p.n }

// PackBTransposed packs B = Wᵀ for a row-major n×k matrix W (ldw apart): a convolution's
// weights, one output channel per row.
func PackBTransposed(n, k int, w []float32, ldw int) (*PackedBWide, error) {
	return packBTransposedOn(simd.Host(), n, k, w, ldw)
}

// packBTransposedOn is PackBTransposed with the kernels of level x.
func packBTransposedOn(x simd.Level, n, k int, w []float32, ldw int) (*PackedBWide, error) {
	if n < 0 || k < 0 || ldw < k {
		return nil, fmt.Errorf("gemm: PackBTransposed: n %d, k %d, ldw %d", n, k, ldw)
	}
	if n > 0 && k > 0 && len(w) < (n-1)*ldw+k {
		return nil, fmt.Errorf("gemm: PackBTransposed: W has %d values, want %d", len(w), (n-1)*ldw+k)
	}
	_, nr := gatherTile(x, n)
	panels := ceilDiv(n, nr)
	p := &PackedBWide{k: k, n: n, nr: nr, level: x, data: make([]float32, panels*k*nr)}
	for j := 0; j < n; j++ {
		panel := p.data[(j/nr)*k*nr:]
		col := j % nr
		for q, v := range w[j*ldw : j*ldw+k] {
			panel[q*nr+col] = v
		}
	}
	return p, nil
}

// GatherFast reports whether SgemmGather runs a vector kernel on this machine; where it does
// not, callers should prefer the packed entry points.
func GatherFast() bool { return simd.Host().Asm() }

// GatherWidth is the panel width of the gather tile this machine runs for n columns (64 with
// AVX-512 when n is a multiple of 64, else 16): a product wastes no columns when n is a
// multiple of it.
func GatherWidth(n int) int {
	_, nr := gatherTile(simd.Host(), n)
	return nr
}

// SgemmGather computes C = A·B for a gathered A (len(a.Rows) × b.K()) and C of len(a.Rows) rows
// of b.N() values, ldc apart, overwriting C. The work is split over up to threads goroutines.
func SgemmGather(a GatherA, b *PackedBWide, c []float32, ldc int, threads int) error {
	return SgemmGatherThen(a, b, c, ldc, threads, nil)
}

// GatherEpilogue finishes a region of SgemmGather's product — rows [r0, r1), columns [c0, c1)
// of C — on the goroutine that has just computed it, while it is in that core's cache: a
// convolution's transposition into channel planes, with its bias, residual and activation,
// becomes part of the product's parallel loop instead of a second loop that reads, on the
// other core, what this one wrote. The regions of one call are disjoint and cover C.
type GatherEpilogue interface {
	Finish(r0, r1, c0, c1 int)
}

// gatherChunksPerThread is how many chunks a thread's share of a parallel gather product is
// cut into at most, claimed one at a time (workers.RunTaskOn): a helper that starts late still
// takes a share. A chunk re-reads its block of B from L2, a fraction of a percent of its work.
const gatherChunksPerThread = 4

// SgemmGatherThen is SgemmGather followed by then.Finish over each region as soon as it is
// computed (then may be nil). A product repeated with the same offsets and classes (a
// convolution's, run after run) should build a GatherPlan once and call SgemmGatherPlanned.
func SgemmGatherThen(a GatherA, b *PackedBWide, c []float32, ldc int, threads int, then GatherEpilogue) error {
	p, err := newGatherPlan(a.Rows, a.Cols, a.Class, a.Taps, false)
	if err != nil {
		return err
	}
	return p.product(0, len(a.Rows), a.Data, b, c, ldc, threads, then)
}

// SgemmGatherPlanned is SgemmGatherThen over rows [r0, r1) of plan, read from data: row i of C
// is the plan's row r0+i. The plan's offsets and classes were checked when it was built; only
// what this call brings — the data's length, B's depth, C — is checked here.
func SgemmGatherPlanned(plan *GatherPlan, r0, r1 int, data []float32, b *PackedBWide, c []float32, ldc int, threads int, then GatherEpilogue) error {
	if r0 < 0 || r1 < r0 || r1 > len(plan.rows) {
		return fmt.Errorf("gemm: SgemmGatherPlanned: rows [%d, %d) of a plan of %d", r0, r1, len(plan.rows))
	}
	return plan.product(r0, r1, data, b, c, ldc, threads, then)
}

// product computes rows [r0, r1) of the plan's product over data.
func (p *GatherPlan) product(r0, r1 int, data []float32, b *PackedBWide, c []float32, ldc int, threads int, then GatherEpilogue) error {
	m, n, k := r1-r0, b.n, b.k
	if len(p.cols) != k {
		return fmt.Errorf("gemm: SgemmGather: %d column offsets for k = %d", len(p.cols), k)
	}
	if m == 0 || n == 0 {
		return nil
	}
	if ldc < n || len(c) < (m-1)*ldc+n {
		return fmt.Errorf("gemm: SgemmGather: C has %d values with ldc %d, want %d×%d", len(c), ldc, m, n)
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
		if then != nil {
			then.Finish(0, m, 0, n)
		}
		return nil
	}
	if err := p.checkData(r0, r1, data); err != nil {
		return err
	}
	j := gatherJob{plan: *p, base: r0, m: m, data: data, b: *b, c: c, ldc: ldc, nr: b.nr}
	j.mr, j.lead, j.long, j.tiles = tilePlan(b.level, m, b.nr)
	j.panels = ceilDiv(n, j.nr)
	tiles, panels := j.tiles, j.panels
	work := m * n * k
	threads = threadsForWork(work, threads)
	if threads == 1 {
		j.run(r0, r1, 0, panels)
		if then != nil {
			then.Finish(0, m, 0, n)
		}
		return nil
	}
	// Split the 64-column panels when there are enough, so each goroutine streams only its own
	// part of B (the weights); otherwise split the row tiles.
	splitPanels := panels >= 2*threads
	units := tiles
	if splitPanels {
		units = panels
	}
	chunks := gatherChunks(units, threads, work, m, splitPanels, 4*n*k)
	shared := gatherPool.Get().(*gatherJob) // the one-thread path keeps j on the stack
	*shared = j
	shared.splitPanels = splitPanels
	shared.then = then
	workers.RunTaskOn(units, chunks, threads, shared)
	*shared = gatherJob{}
	gatherPool.Put(shared)
	return nil
}

// gatherChunks is how many chunks a parallel gather product of m rows and work multiply-adds,
// split into units (row tiles, or panels where splitPanels), is cut into: chunks of at least
// minFlopsPerChunk, up to gatherChunksPerThread per thread, and where the row tiles are split,
// of at least minGatherChunkRows rows each (but one chunk per thread). Split by the panels of
// weights of at least streamedPanelsBytes, it is one chunk per thread.
func gatherChunks(units, threads, work, m int, splitPanels bool, weightBytes int) int {
	if splitPanels && weightBytes >= streamedPanelsBytes {
		return min(units, threads)
	}
	chunks := min(units, threads*gatherChunksPerThread, max(threads, work/minFlopsPerChunk))
	if !splitPanels {
		chunks = min(chunks, max(threads, m/minGatherChunkRows))
	}
	return chunks
}

// streamedPanelsBytes is the size of packed weights from which a gather product split by panels
// gives each thread one run of consecutive panels instead of several chunks claimed one at a
// time. Such weights come from memory at every run of a model (ResNet-18's 3×3 layers at 14×14
// and 7×7, 1.2–9.4 MB each, 46 MB in all), and a chunk prefetches the next block of its panels
// while it computes one, so each chunk's first block arrives unprefetched: a run of panels has
// one such block per thread, eight one-panel chunks eight. resnet18 on 2 threads: the layers'
// chunks 0.41 ms less thread CPU a run (layer4's 3×3 convolutions 1.25 → 1.18 ms each), p50
// 10.20 → 9.71 ms (7 of 7 alternating rounds lower; Zen 5, chrt, 2026-12-07).
const streamedPanelsBytes = 256 << 10

// minGatherChunkRows is the fewest rows a chunk of a gather product split by row tiles has
// (unless that leaves fewer chunks than threads). Such a chunk streams all of B, the weights,
// and hands its rows to the epilogue on its own, writing a few pixels of every channel plane
// — cache lines the other core's chunks write too: on 7×7 images (49 rows, 7 one-tile chunks
// for MobileNetV3's squeeze-and-excitation projections, 288 or 576 → 96 channels) one chunk per
// thread made mobilenetv3_like's 2-thread run 4% faster (p50 1.186 → 1.132 ms, median of 16
// alternating rounds, 15 faster; Zen 5, chrt, load 6–7, 2026-12-07).
const minGatherChunkRows = 24

// gatherPool holds the gather jobs handed to worker goroutines.
var gatherPool = sync.Pool{New: func() any { return new(gatherJob) }}

// Chunk implements workers.Task: 64-column panels [lo, hi), or row tiles (splitPanels unset),
// then the epilogue over what they computed.
func (j *gatherJob) Chunk(lo, hi int) {
	m, n := j.m, j.b.n
	if j.splitPanels {
		j.run(j.base, j.base+m, lo, hi)
		if j.then != nil {
			j.then.Finish(0, m, lo*j.nr, min(hi*j.nr, n))
		}
		return
	}
	r0, r1 := min(j.tileStart(lo), m), min(j.tileStart(hi), m)
	j.run(j.base+r0, j.base+r1, 0, j.panels)
	if j.then != nil {
		j.then.Finish(r0, r1, 0, n)
	}
}

// run computes rows [r0, r1) of the plan × panels [q0, q1): panel by panel, k block by k
// block, so that the block of B stays in cache while the row tiles pass over it; within a
// block, class by class (all rows are one class, every tap, without classes), each class's rows
// (in ascending order) tiled with the tile plan, each tile multiplied over the class's tap
// ranges within the block, one kernel call per range, each call continuing the sums of the one
// before (the kernels' accumulate). An output is one chain of multiply-adds over its row's taps
// in order: the same bits as the product over every tap when the skipped ones read zeros,
// whatever the tiles, threads or classes. The kernels read and write C's rows through a table,
// so the rows of a tile need not be consecutive; their offsets in the data are read straight
// from the plan's class order, which was sorted when the plan was built.
func (j *gatherJob) run(r0, r1, q0, q1 int) {
	n, k, nr := j.b.n, j.b.k, j.nr
	p := &j.plan
	whole := [1][]TapRange{{{0, k}}}
	classTaps := p.taps
	if p.class == nil {
		classTaps = whole[:]
	}
	classes := len(classTaps)
	var edge [gatherMaxRows * gatherNR]float32
	var rowBuf, cRowBuf [gatherMaxRows]int
	kb := ceilDiv(k, ceilDiv(k, gatherKC))
	for q := q0; q < q1; q++ {
		panel := j.b.data[q*k*nr : (q+1)*k*nr]
		j0 := q * nr
		cols := min(nr, n-j0)
		inPlace := cols == nr
		for p0 := 0; p0 < k; p0 += kb {
			p1 := min(p0+kb, k)
			// The next B block is prefetched as run does, kernel call after kernel call.
			next := j.b.data[(q*k+p1)*nr : q1*k*nr]
			next = next[:min(len(next), kb*nr)]
			at := 0
			for c := 0; c < classes; c++ {
				// The class's rows within [r0, r1): their plan rows (index) and data offsets
				// (offs), ascending.
				var index []int
				offs := p.rows[r0:r1]
				if p.class != nil {
					index, offs = p.classRows(c, r0, r1)
				}
				taps := classTaps[c]
				if len(offs) == 0 {
					continue
				}
				rowOf := func(x int) int { // C's row of the class's x-th row
					if index == nil {
						return r0 + x - j.base
					}
					return index[x] - j.base
				}
				if len(taps) == 0 { // every tap of these rows reads zeros
					if p0 == 0 {
						for x := range offs {
							i := rowOf(x)
							clear(j.c[i*j.ldc+j0 : i*j.ldc+j0+cols])
						}
					}
					continue
				}
				started := taps[0].From < p0 // an earlier k block has summed into C
				mr, lead, long, tiles := tilePlan(j.b.level, len(offs), nr)
				for t := 0; t < tiles; t++ {
					tr, i0 := tileAt(t, mr, lead, long)
					nrows := min(tr, len(offs)-i0)
					// Missing rows of a short tile repeat its last one, computed and stored
					// twice. A panel cut short by n goes through the scratch tile (holding C's
					// sums so far), so that only C's real columns are touched.
					ptrs, crows := offs[i0:i0+nrows], cRowBuf[:tr]
					if nrows < tr {
						ptrs = rowBuf[:tr]
						for r := range ptrs {
							ptrs[r] = offs[i0+min(r, nrows-1)]
						}
					}
					for r := range crows {
						if inPlace {
							crows[r] = rowOf(i0+min(r, nrows-1))*j.ldc + j0
						} else {
							crows[r] = min(r, nrows-1) * nr
						}
					}
					dst := j.c
					if !inPlace {
						dst = edge[:]
						if started {
							for r := range nrows {
								i := rowOf(i0 + r)
								copy(edge[r*nr:r*nr+cols], j.c[i*j.ldc+j0:])
							}
						}
					}
					accumulate := started
					for _, tap := range taps {
						lo, hi := max(tap.From, p0), min(tap.To, p1)
						if lo >= hi {
							continue
						}
						ahead := uintptr(unsafe.Pointer(&panel[p0*nr]))
						if at < len(next) {
							ahead = uintptr(unsafe.Pointer(&next[at]))
						}
						at += (hi - lo) * 16
						gatherKernel(j.b.level, hi-lo, j.data, ptrs, p.cols[lo:hi], panel[lo*nr:hi*nr], nr, dst, crows, accumulate, ahead)
						accumulate = true
					}
					if !inPlace && accumulate {
						for r := range nrows {
							i := rowOf(i0 + r)
							copy(j.c[i*j.ldc+j0:i*j.ldc+j0+cols], edge[r*nr:])
						}
					}
				}
			}
		}
	}
}

// tileStart is row tile t's first row.
func (j *gatherJob) tileStart(t int) int {
	_, first := tileAt(t, j.mr, j.lead, j.long)
	return first
}

// tileAt is row tile t's row count and first row in a tile plan of long leading tiles of lead
// rows followed by tiles of mr (tilePlan).
func tileAt(t, mr, lead, long int) (rows, first int) {
	if t < long {
		return lead, t * lead
	}
	return mr, long*lead + (t-long)*mr
}

type gatherJob struct {
	plan          GatherPlan // a copy, so that a plan built for one call does not escape
	base          int        // the plan's row that is C's row 0
	m             int        // rows of C
	data          []float32
	b             PackedBWide // a copy, so that the caller's operand does not escape
	c             []float32
	ldc           int
	mr, nr        int // the tile
	lead, long    int // long leading row tiles of lead rows (tilePlan), before those of mr
	tiles, panels int // row tiles and column panels (of nr columns)
	// splitPanels: the workers split B's panels rather than the row tiles (Chunk).
	splitPanels bool
	then        GatherEpilogue // nil: none
}

// gatherKernelGeneric is the pure-Go gather tile, the reference for the assembly ones: len(rows)
// rows of C, nr columns, whose sums start from C's when accumulate is set.
func gatherKernelGeneric(k int, data []float32, rows, cols []int, b []float32, nr int, c []float32, crows []int, accumulate bool) {
	var acc [gatherMaxRows * gatherNR]float32
	if accumulate {
		for i := range rows {
			copy(acc[i*nr:(i+1)*nr], c[crows[i]:crows[i]+nr])
		}
	}
	for p := 0; p < k; p++ {
		bRow := b[p*nr : (p+1)*nr]
		for i, r := range rows {
			v := data[r+cols[p]]
			row := acc[i*nr : (i+1)*nr]
			for jj, w := range bRow {
				row[jj] += v * w
			}
		}
	}
	for i := range rows {
		copy(c[crows[i]:crows[i]+nr], acc[i*nr:(i+1)*nr])
	}
}

// PanelOf returns B (k×n, row-major, ldb = n) as the one panel SgemmGather's tile for n columns
// reads, without copying — it already is one: an attention head's values, 64 wide with AVX-512
// (vit_tiny's), 32 wide with AVX-512 or 16 wide on any vector level (digits_vit's). ok is false
// for other shapes and on machines without the gather kernels.
func PanelOf(k, n int, b []float32, ldb int) (p PackedBWide, ok bool) {
	x := simd.Host()
	if _, nr := gatherTile(x, n); !x.Asm() || n != nr || ldb != nr || k < 1 || len(b) < k*nr {
		return p, false
	}
	return PackedBWide{k: k, n: n, nr: n, level: x, data: b[:k*n]}, true
}

// denseOffsets recycles SgemmDenseA's offset tables.
var denseOffsets = sync.Pool{New: func() any { return new([]int) }}

// SgemmDenseA is SgemmGather for a row-major A (m×k, lda apart), read in place.
func SgemmDenseA(m int, a []float32, lda int, b *PackedBWide, c []float32, ldc int, threads int) error {
	if m < 0 || lda < b.k {
		return fmt.Errorf("gemm: SgemmDenseA: m %d, lda %d for k = %d", m, lda, b.k)
	}
	buf := denseOffsets.Get().(*[]int)
	defer denseOffsets.Put(buf)
	*buf = slices.Grow((*buf)[:0], m+b.k)[:m+b.k]
	rows, cols := (*buf)[:m], (*buf)[m:]
	for i := range rows {
		rows[i] = i * lda
	}
	for p := range cols {
		cols[p] = p
	}
	return SgemmGather(GatherA{Data: a, Rows: rows, Cols: cols}, b, c, ldc, threads)
}
