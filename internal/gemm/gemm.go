package gemm

import (
	"fmt"
	"sync"

	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/workers"
)

// Blocking parameters. A packed mc×kc block of A (144 KiB) stays in L2, a kc×nr micro-panel of
// B (16 KiB) in L1 while the kernel sweeps the A block. The kc×nc block of B (256 KiB) is kept
// L2-sized rather than L3-sized: measured on the 2-core EPYC, nc = 256 beats 2048 by ~15% at
// 512³ and ~20% on ResNet convolution shapes, where M is small and B streams.
const (
	mr = 6  // rows of the register tile
	nr = 16 // columns of the register tile (two ymm registers)
	mc = 144
	kc = 320 // upper bound with the AVX-512 kernels; see kBlock
	nc = 256
	// ncPacked replaces nc when B was packed ahead (PackB): no packing buffer to keep in L2, and
	// fewer column blocks mean A is packed fewer times (+15–20% on ViT's Linear shapes).
	ncPacked = 768

	// maxPrepackA bounds the A (in elements) that run packs whole up front.
	maxPrepackA = 1 << 20

	// minFlopsPerThread is the least work (multiply-adds) a thread's share of a product has:
	// 2–4 µs on Zen 5, several times what handing a chunk to a polling worker costs (under a
	// microsecond). At 1 M (8–15 µs), MobileNetV3's 1×1 convolutions on 14×14 and 28×28 images
	// (1–2 M, 30–50 µs a run for bandwidth and epilogue) stayed on one thread; split, each
	// takes about 0.7 of its time (estimated critical path, -tags workerpath).
	minFlopsPerThread = 1 << 18
	// minFlopsPerChunk is the least work of one chunk where a product is cut into several
	// chunks per thread (SgemmGatherThen): each chunk streams its part of B again.
	minFlopsPerChunk = 1 << 18
)

// Epilogue is work fused into the write of C: after a C block receives its last k-block it gets
// Bias and then Act while it is still in cache. It runs once per element of C, after alpha and
// beta are applied.
type Epilogue struct {
	// Bias is added to C: Bias[i] to row i when BiasPerRow (len m), else Bias[j] to column j
	// (len n). Nil adds nothing.
	Bias       []float32
	BiasPerRow bool
	// Residual, when set, is added to C after the bias: C[i][j] += Residual[i·ResidualLd + j]
	// (a convolution's fused skip connection).
	Residual   []float32
	ResidualLd int
	// Elementwise transforms values in place regardless of their position (a fused ReLU), after
	// the bias and residual: where a block's rows are contiguous in C it is called once over
	// several rows rather than once per row piece. It may be called concurrently for disjoint
	// pieces.
	Elementwise func(dst []float32)
	// BiasedElementwise, when set beside a per-row Bias and Elementwise and without a Residual,
	// adds row i's bias and applies Elementwise in one pass over the row, which is still in cache
	// from the product, instead of two: BiasedElementwise(row, Bias[i]) must give exactly the
	// values of adding Bias[i] and then calling Elementwise (the same bits). It may be called
	// concurrently for disjoint pieces.
	BiasedElementwise func(dst []float32, bias float32)
	// Columns transforms a piece of one row of C in place, after Elementwise, knowing the
	// column of its first value: C[i][col0 : col0+len(dst)]. It is an activation whose
	// parameters change with the column (per-channel, where the columns are the channels). It
	// may be called concurrently for disjoint pieces.
	Columns func(dst []float32, col0 int)
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices, where op(A) is m×k
// (A is stored k×m when transA) and op(B) is k×n (stored n×k when transB), with leading
// dimensions lda, ldb, ldc. It uses up to threads goroutines. When beta is 0, C is not read.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) error {
	return SgemmFused(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads, nil)
}

// SgemmFused is Sgemm followed by ep (nil for none) applied to each finished block of C.
func SgemmFused(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int, ep *Epilogue) error {
	return sgemmFusedOn(simd.Host(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads, ep)
}

// sgemmFusedOn is SgemmFused with the kernels of level x.
func sgemmFusedOn(x simd.Level, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int, ep *Epilogue) error {
	j := &job{level: x, m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc}
	j.setEpilogue(ep)
	if err := j.checkA(); err != nil {
		return err
	}
	if err := j.checkB(); err != nil {
		return err
	}
	if err := j.checkC(); err != nil {
		return err
	}
	j.run(threads)
	return nil
}

// SgemmPackedB is SgemmFused with op(B) given as weights packed once by PackB (k×n).
func SgemmPackedB(transA bool, m int, alpha float32, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int, threads int, ep *Epilogue) error {
	if pb == nil {
		return fmt.Errorf("gemm: nil PackedB")
	}
	j := &job{level: pb.level, m: m, n: pb.n, k: pb.k, transA: transA, alpha: alpha, beta: beta,
		a: a, lda: lda, pb: pb, c: c, ldc: ldc}
	j.setEpilogue(ep)
	if err := j.checkA(); err != nil {
		return err
	}
	if err := j.checkC(); err != nil {
		return err
	}
	j.run(threads)
	return nil
}

// SgemmPackedA is SgemmFused with op(A) given as weights packed once by PackA (m×k), the
// layout of convolution weights against an im2col matrix.
func SgemmPackedA(pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int, threads int, ep *Epilogue) error {
	if pa == nil {
		return fmt.Errorf("gemm: nil PackedA")
	}
	j := &job{level: pa.level, m: pa.m, n: n, k: pa.k, transB: transB, alpha: alpha, beta: beta,
		pa: pa, b: b, ldb: ldb, c: c, ldc: ldc}
	j.setEpilogue(ep)
	if err := j.checkB(); err != nil {
		return err
	}
	if err := j.checkC(); err != nil {
		return err
	}
	j.run(threads)
	return nil
}

// PanelWidth is the number of columns in a packed panel of B, for BPacker implementations.
const PanelWidth = nr

// BPacker writes rows [p0, p0+kcb) × columns [j0, j0+ncb) of op(B) in the packed layout: the
// columns j0+q·PanelWidth … j0+(q+1)·PanelWidth−1 form panel q at dst[q·kcb·PanelWidth:], row p
// of the panel at offset p·PanelWidth, zero past column j0+ncb. It lets a caller such as a
// convolution pack its virtual B (the im2col matrix) straight from the image. It may be called
// concurrently for disjoint column ranges.
type BPacker func(dst []float32, p0, kcb, j0, ncb int)

// SgemmPackedAWith is C = op(A)·B + beta·C with A packed by PackA and B (k×n) produced block by
// block by packB.
func SgemmPackedAWith(pa *PackedA, n int, packB BPacker, beta float32, c []float32, ldc int, threads int, ep *Epilogue) error {
	if pa == nil || packB == nil {
		return fmt.Errorf("gemm: nil PackedA or BPacker")
	}
	j := &job{level: pa.level, m: pa.m, n: n, k: pa.k, alpha: 1, beta: beta, pa: pa, bPacker: packB, c: c, ldc: ldc}
	j.setEpilogue(ep)
	if n < 0 {
		return fmt.Errorf("gemm: negative n %d", n)
	}
	if err := j.checkC(); err != nil {
		return err
	}
	j.run(threads)
	return nil
}

// IndirectB is a k×n right operand read in place: row p, columns j … j+PanelWidth−1, is
// Data[Offsets[p]+j : Offsets[p]+j+PanelWidth]. A convolution's patch matrix is such a view
// of its zero-padded image (output positions on the padded grid), so no im2col or packing of
// B is needed. Columns past n are read (and discarded), so Data must hold
// Offsets[p] + ⌈n/PanelWidth⌉·PanelWidth values for every p.
type IndirectB struct {
	Data    []float32
	Offsets []int
}

// SgemmPackedAIndirect is C = op(A)·B + beta·C with A packed by PackA and B an IndirectB.
func SgemmPackedAIndirect(pa *PackedA, n int, b IndirectB, beta float32, c []float32, ldc int, threads int, ep *Epilogue) error {
	if pa == nil {
		return fmt.Errorf("gemm: nil PackedA")
	}
	if err := checkIndirect(pa, n, b); err != nil {
		return err
	}
	j := &job{level: pa.level, m: pa.m, n: n, k: pa.k, alpha: 1, beta: beta, pa: pa, ind: b, indirect: true, c: c, ldc: ldc}
	j.setEpilogue(ep)
	if err := j.checkC(); err != nil {
		return err
	}
	j.run(threads)
	return nil
}

// checkIndirect checks an indirect B against A's depth and n columns: every row readable to the
// end of its last panel.
func checkIndirect(pa *PackedA, n int, b IndirectB) error {
	if len(b.Offsets) != pa.k {
		return fmt.Errorf("gemm: indirect B has %d row offsets, want k = %d", len(b.Offsets), pa.k)
	}
	if n < 0 {
		return fmt.Errorf("gemm: negative n %d", n)
	}
	span := ceilDiv(n, nr) * nr
	for p, off := range b.Offsets {
		if off < 0 || off+span > len(b.Data) {
			return fmt.Errorf("gemm: indirect B row %d at offset %d needs %d values, has %d", p, off, off+span, len(b.Data))
		}
	}
	return nil
}

// SgemmPackedAIndirectRows is SgemmPackedAIndirect with beta 0 and no epilogue for rows [i0, i1)
// of A and C only, on the calling goroutine: C's other rows are neither read nor written. i0 is
// a multiple of 12, the rows of the AVX-512 tiles, so that each row is computed by the kernels
// that compute it in the whole product. Two threads that each take a range of rows of a product
// with few columns stream only their own part of A.
func SgemmPackedAIndirectRows(pa *PackedA, i0, i1, n int, b IndirectB, c []float32, ldc int) error {
	if pa == nil {
		return fmt.Errorf("gemm: nil PackedA")
	}
	if i0 < 0 || i0 > i1 || i1 > pa.m || i0%(2*mr) != 0 {
		return fmt.Errorf("gemm: rows [%d, %d) of a %d-row A, the first not a multiple of %d", i0, i1, pa.m, 2*mr)
	}
	if err := checkIndirect(pa, n, b); err != nil {
		return err
	}
	j := job{level: pa.level, m: pa.m, n: n, k: pa.k, alpha: 1, pa: pa, ind: b, indirect: true, c: c, ldc: ldc}
	if err := j.checkC(); err != nil {
		return err
	}
	if i0 < i1 && n > 0 {
		j.block(i0, i1, 0, n)
	}
	return nil
}

// job is one product, split into disjoint blocks of C that goroutines compute independently.
type job struct {
	level          simd.Level // the kernels' level
	m, n, k        int
	transA, transB bool
	alpha, beta    float32
	a              []float32
	lda            int
	pa             *PackedA
	b              []float32
	ldb            int
	pb             *PackedB
	bPacker        BPacker
	ind            IndirectB
	indirect       bool // B is read in place through ind
	c              []float32
	ldc            int
	// ep is the caller's epilogue, copied so that the caller's value does not escape to the heap
	// through the workers' copy of the job; the zero Epilogue does nothing.
	ep     Epilogue
	splitN bool // workers split C's columns, not its rows (Chunk)
	// alphaOnB applies alpha where B is packed rather than to A, so that the wide kernels read a
	// row-major A in place (attention's scaled Q·Kᵀ, whose Kᵀ is packed anyway).
	alphaOnB bool
}

// checkMatrix verifies that a rows×cols row-major matrix with leading dimension ld fits in buf.
func checkMatrix(name string, buf []float32, rows, cols, ld int) error {
	if rows < 0 || cols < 0 {
		return fmt.Errorf("gemm: %s has negative size %d×%d", name, rows, cols)
	}
	if ld < max(cols, 1) {
		return fmt.Errorf("gemm: %s leading dimension %d < %d columns", name, ld, cols)
	}
	if rows > 0 && cols > 0 && len(buf) < (rows-1)*ld+cols {
		return fmt.Errorf("gemm: %s needs %d elements for %d×%d with ld %d, has %d", name, (rows-1)*ld+cols, rows, cols, ld, len(buf))
	}
	return nil
}

func (j *job) checkA() error {
	if j.transA {
		return checkMatrix("A", j.a, j.k, j.m, j.lda)
	}
	return checkMatrix("A", j.a, j.m, j.k, j.lda)
}

func (j *job) checkB() error {
	if j.transB {
		return checkMatrix("B", j.b, j.n, j.k, j.ldb)
	}
	return checkMatrix("B", j.b, j.k, j.n, j.ldb)
}

// setEpilogue copies ep (nil for none) into the job.
func (j *job) setEpilogue(ep *Epilogue) {
	if ep != nil {
		j.ep = *ep
	}
}

func (j *job) checkC() error {
	if err := checkMatrix("C", j.c, j.m, j.n, j.ldc); err != nil {
		return err
	}
	if ep := &j.ep; ep.Bias != nil {
		want := j.n
		if ep.BiasPerRow {
			want = j.m
		}
		if len(ep.Bias) != want {
			return fmt.Errorf("gemm: epilogue bias has %d values, want %d", len(ep.Bias), want)
		}
	}
	if ep := &j.ep; ep.Residual != nil {
		if err := checkMatrix("epilogue residual", ep.Residual, j.m, j.n, ep.ResidualLd); err != nil {
			return err
		}
	}
	return nil
}

// run splits C into at most threads blocks along n (or m when n is too narrow) and computes them.
func (j *job) run(threads int) {
	if j.m == 0 || j.n == 0 {
		return
	}
	threads = j.threadsFor(threads)
	mPanels, nPanels := ceilDiv(j.m, mr), ceilDiv(j.n, nr)
	j.alphaOnB = j.alpha != 1 && j.pa == nil && j.pb == nil && j.bPacker == nil && !j.indirect && !j.transA
	// A read in place needs no packing on any number of threads: packing it up front for the
	// workers would be a serial pass over A before the parallel part (10–15% of a ViT's run on
	// two threads).
	direct := j.readsADirectly()
	if j.pa == nil && (j.n > nc || threads > 1) && j.m*j.k <= maxPrepackA && !direct {
		// A would be packed once per column block (and per goroutine): pack it once up front.
		buf := getBuf(j.k * mPanels * mr)
		defer bufPool.Put(buf)
		kb := kBlock(j.level, j.k)
		pa := packedAPool.Get().(*PackedA) // the workers' jobs point to it: not on the stack
		defer packedAPool.Put(pa)
		*pa = PackedA{m: j.m, k: j.k, panels: mPanels, kb: kb, data: *buf}
		j.pa = pa
		for pc := 0; pc < j.k; pc += kb {
			packA(j.pa.data[pc*mPanels*mr:], j.a, j.lda, j.transA, 0, j.m, pc, min(kb, j.k-pc), j.alpha)
		}
		j.alpha, j.alphaOnB = 1, false // folded into the packed A
	}
	if threads == 1 {
		j.block(0, j.m, 0, j.n)
		return
	}
	// The workers' copy comes from a pool (the one-thread path keeps j on the stack). A
	// worker's panic (a bug, or a slice out of range from bad sizes) is re-raised in the caller,
	// where the runtime turns it into an error naming the node, instead of killing the process.
	shared := jobPool.Get().(*job)
	*shared = *j
	shared.splitN = j.splitsColumns(threads, mPanels, nPanels)
	if shared.splitN {
		workers.RunTask(nPanels, min(threads, nPanels), shared)
	} else {
		workers.RunTask(mPanels, min(threads, mPanels), shared)
	}
	*shared = job{} // drop the operands before pooling
	jobPool.Put(shared)
}

// splitsColumns reports whether threads goroutines take ranges of C's columns (true) or of its
// rows. Columns, unless there are few of them: with a narrow C (late conv layers, 7×7 outputs)
// a column split would make every goroutine stream all of A, the weights.
//
// A product of weights packed ahead whose epilogue passes over C again after the kernels'
// stores (an activation) splits rows where each goroutine gets at least minRowSplitPanels row
// panels: split by columns, the goroutines' pieces of every row of C lie side by side, and a
// core going over its own pieces once more takes many times as long as over whole rows of its
// own (the cores trade the lines at the pieces' edges). A Relu pass on two threads over a
// 197×768 C, each thread over the part it has just written: 48 µs of wall time over halves of
// every row, 3 µs over halves of the rows (Zen 5). Each goroutine then streams all of the
// weights.
//
// Where A is read in place, rows are never split where the whole product or a goroutine's part
// ends in a block of one or two rows that the other does not have (rowTiles', summed in another
// order): every thread count gives the same bits.
func (j *job) splitsColumns(threads, mPanels, nPanels int) bool {
	chunks := min(threads, mPanels)
	lastRows := j.m - mPanels*(chunks-1)/chunks*mr // RunTask's last chunk of row panels
	if j.aInPlace() && (thinBlock(j.m) || thinBlock(lastRows)) {
		return true
	}
	if j.pb != nil && j.ep.passesOverC() && mPanels >= minRowSplitPanels*threads {
		return false
	}
	return nPanels >= 4*threads || nPanels >= mPanels
}

// minRowSplitPanels is the fewest row panels per goroutine for which a product with an
// activation in its epilogue splits rows (splitsColumns): with fewer, one panel more or less
// is a large share of a goroutine's work.
const minRowSplitPanels = 4

// thinBlock reports whether a range of rows rows, cut into blocks of mc, ends in a block of one
// or two rows: those are computed row by row (rowTiles), whose sums round differently from the
// tiles' (see RowsSummedAlike).
func thinBlock(rows int) bool {
	return rows%mc > 0 && rows%mc < minDirectRows
}

// threadsFor is how many of up to threads goroutines the product is worth: one per
// minFlopsPerThread of work. A product of few rows (a classifier on one image, 1×1024 ·
// 1024×1000; a squeeze-and-excitation 1×1 convolution, 1×576 · 576×144) is bound by streaming
// B, weights that come from L3 or memory at every run: its work is counted as bStreamRows rows.
// Counted by its m alone, such a product stayed on one thread (10–120 µs serial in a 2-thread
// run, where each half of its columns takes less than half of that).
func (j *job) threadsFor(threads int) int {
	return threadsForWork(max(ceilDiv(j.m, mr)*mr, bStreamRows)*j.n*max(j.k, 1), threads)
}

// bStreamRows is the rows a product's work is counted as at least: reading a value of B that
// is not in cache takes about as long as 16 multiply-adds (a cold 331 KB matrix streams at
// ~27 GB/s, 12 µs, where the kernels multiply-add 60 values a nanosecond; Zen 5).
const bStreamRows = 16

// threadsForWork is how many of up to threads goroutines a product of work multiply-adds is
// worth: one per minFlopsPerThread.
func threadsForWork(work, threads int) int {
	return min(max(threads, 1), max(work/minFlopsPerThread, 1))
}

// packedAPool holds the headers of the A blocks that a product packs once for all its workers.
var packedAPool = sync.Pool{New: func() any { return new(PackedA) }}

// jobPool holds the jobs handed to worker goroutines.
var jobPool = sync.Pool{New: func() any { return new(job) }}

// Chunk implements workers.Task: panels [lo, hi) of C's columns or rows (splitN).
func (j *job) Chunk(lo, hi int) {
	if j.splitN {
		j.block(0, j.m, min(lo*nr, j.n), min(hi*nr, j.n))
	} else {
		j.block(min(lo*mr, j.m), min(hi*mr, j.m), 0, j.n)
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// kBlock is the k-block length for a depth of k: the fewest blocks of at most kc, made equal
// (rounded up to the kernel's unroll of 4) so that no short tail block pays a full C-tile
// load and store for a few iterations — 576 splits as 288+288, not 320+256 or 256+256+64.
// Every block but the last has this length, so the block starting at depth p begins at p.
//
// The AVX2 kernel takes blocks up to kcAVX2: its C tile is half the AVX-512 one, so reloading
// it between k blocks weighs twice as much (a 512³ product runs at 64–72% of the FMA peak with
// two k blocks and 75–80% with one); its B micro-panel then fills L1 but streams well from L2.
func kBlock(x simd.Level, k int) int {
	limit := kc
	if x == simd.AVX2 {
		limit = kcAVX2
	}
	if k <= limit {
		return max(k, 1)
	}
	return (ceilDiv(k, ceilDiv(k, limit)) + 3) &^ 3
}

// kcAVX2 is kc for the AVX2 kernels (see kBlock).
const kcAVX2 = 512

// kBlock is the k-block length of this product: the packed operand's own when one was packed
// ahead (its layout fixes it), else kBlock(k).
func (j *job) kBlock() int {
	switch {
	case j.pa != nil:
		return j.pa.kb
	case j.pb != nil:
		return j.pb.kb
	}
	return kBlock(j.level, j.k)
}

var bufPool = sync.Pool{New: func() any { return new([]float32) }}

func getBuf(n int) *[]float32 {
	p := bufPool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

// block computes C[i0:i1, j0:j1]; i0 is a multiple of mr and j0 of nr, so pre-packed panels
// line up with the block.
func (j *job) block(i0, i1, j0, j1 int) {
	if j.k == 0 {
		j.scaleC(i0, i1, j0, j1, j.beta)
		j.epilogue(i0, i1, j0, j1)
		return
	}
	if j.beta != 0 && j.beta != 1 {
		j.scaleC(i0, i1, j0, j1, j.beta)
	}
	scaleA, scaleB := j.alpha, float32(1)
	if j.pa != nil || j.alphaOnB {
		scaleA, scaleB = 1, j.alpha
	}
	var bufA, bufB *[]float32
	// With AVX-512, a row-major A is read in place by the direct tiles and never packed.
	direct := j.pa == nil && j.readsADirectly()
	if j.pa == nil && !direct {
		bufA = getBuf(mc * j.kBlock())
		defer bufPool.Put(bufA)
	}
	if j.pb == nil && !j.indirect {
		bufB = getBuf(j.kBlock() * min(nc, ceilDiv(j1-j0, nr)*nr))
		defer bufPool.Put(bufB)
	}
	var edge [mr * nr]float32
	var edgeWide [4 * mr * nr]float32
	ncStep := nc
	if j.pb != nil {
		ncStep = ncPacked
	}
	for jc := j0; jc < j1; jc += ncStep {
		ncb := min(ncStep, j1-jc)
		kb := j.kBlock()
		for pc := 0; pc < j.k; pc += kb {
			kcb := min(kb, j.k-pc)
			var bBlock []float32
			switch {
			case j.indirect:
				// Read in place; bBlock stays nil.
			case j.pb != nil:
				bBlock = j.pb.data[pc*j.pb.panels*nr+(jc/nr)*kcb*nr:]
			case j.bPacker != nil:
				bBlock = *bufB
				j.bPacker(bBlock, pc, kcb, jc, ncb)
			default:
				bBlock = *bufB
				packB(j.level, bBlock, j.b, j.ldb, j.transB, pc, kcb, jc, ncb, scaleB)
			}
			accumulate := pc > 0 || j.beta != 0
			for ic := i0; ic < i1; ic += mc {
				mcb := min(mc, i1-ic)
				if direct {
					for jr := 0; jr < ncb; {
						jr += j.directColumns(&edge, &edgeWide, bBlock, ic, mcb, jc, jr, ncb, pc, kcb, accumulate)
					}
					if pc+kcb == j.k {
						j.epilogue(ic, ic+mcb, jc, jc+ncb)
					}
					continue
				}
				var aBlock []float32
				if j.pa != nil {
					aBlock = j.pa.data[pc*j.pa.panels*mr+(ic/mr)*kcb*mr:]
				} else {
					aBlock = *bufA
					packA(aBlock, j.a, j.lda, j.transA, ic, mcb, pc, kcb, scaleA)
				}
				for jr := 0; jr < ncb; {
					if cols := ncb - jr; j.level.Wide() && cols > nr {
						// 12×32 tiles, through edgeWide where the pair of panels runs past C
						// (the second partly padding), and one tile of the rows left below them.
						cols = min(cols, 2*nr)
						for ir := 0; ir < mcb; ir += 2 * mr {
							rows := min(2*mr, mcb-ir)
							ap := aBlock[(ir/mr)*kcb*mr:]
							cOff := (ic+ir)*j.ldc + jc + jr
							c, ldc, acc := j.c[cOff:], j.ldc, accumulate
							if cols < 2*nr {
								c, ldc, acc = edgeWide[:], 2*nr, false
							}
							switch {
							case j.indirect:
								wideIndirectKernel(j.level, rows, kcb, ap, j.ind.Data[jc+jr:], j.ind.Offsets[pc:pc+kcb], c, ldc, acc)
							default:
								wideKernel(j.level, rows, kcb, ap, bBlock[(jr/nr)*kcb*nr:], c, ldc, acc)
							}
							if cols < 2*nr {
								j.addEdge(edgeWide[:], 2*nr, rows, cols, cOff, accumulate)
							}
						}
						jr += 2 * nr
						continue
					}
					for ir := 0; ir < mcb; ir += mr {
						j.tile(&edge, aBlock, bBlock, ic, ir, mcb, jc, jr, ncb, pc, kcb, accumulate)
					}
					jr += nr
				}
				if pc+kcb == j.k {
					j.epilogue(ic, ic+mcb, jc, jc+ncb)
				}
			}
		}
	}
}

// directColumns computes columns [jr, jr+w) of the block's rows ic … ic+mcb−1 with A read in
// place, w = 2nr where more than one panel is left and nr otherwise, and returns w. Tiles that
// stick out past column ncb are computed into edgeWide and copied. On the last k-block it also
// adds the epilogue's column bias (see directBias), whole tiles in their kernel's store.
func (j *job) directColumns(edge *[mr * nr]float32, edgeWide *[4 * mr * nr]float32, bBlock []float32, ic, mcb, jc, jr, ncb, pc, kcb int, accumulate bool) int {
	panels := 1
	if ncb-jr > nr {
		panels = 2
	}
	width := panels * nr
	cols := min(width, ncb-jr)
	bp := bBlock[(jr/nr)*kcb*nr:]
	var bias []float32 // this pair of panels' bias, when it is added here
	if pc+kcb == j.k && j.directBias() {
		bias = j.ep.Bias[jc+jr : jc+jr+cols]
	}
	for ir := 0; ir < mcb; {
		rows := directTileRows(mcb - ir)
		cOff := (ic+ir)*j.ldc + jc + jr
		if ir == 0 && rows < minDirectRows && jr%(4*nr) == 0 && ncb-jr >= 4*nr && j.rowPanels4(bp, ic+ir, rows, cOff, kcb, pc, accumulate) {
			// Four whole panels of a one- or two-row product at once (see rowKernel4); the
			// caller's next call starts at the second pair.
			j.addBias(j.biasOf(pc, kcb, jc+jr, 4*nr), rows, cOff)
			return 4 * nr
		}
		if rows < minDirectRows {
			for q := 0; q < panels; q++ {
				j.rowTiles(edge, bp[q*kcb*nr:], ic+ir, rows, cOff+q*nr, min(nr, cols-q*nr), pc, kcb, accumulate)
			}
			j.addBias(bias, rows, cOff)
			return width
		}
		aRows := j.a[(ic+ir)*j.lda+pc:]
		switch {
		case cols < width:
			directKernel(j.level, rows, panels, kcb, aRows, j.lda, bp, edgeWide[:], width, false, nil)
			j.addEdge(edgeWide[:], width, rows, cols, cOff, accumulate)
			j.addBias(bias, rows, cOff)
		case rows == 2*mr && panels == 2:
			// Weights packed ahead are read from memory once per run: the first row tile over
			// each pair of panels fetches the next pair.
			wideKernelDirectA(j.level, kcb, aRows, j.lda, bp, j.c[cOff:], j.ldc, accumulate, j.pb != nil, bias)
		default:
			directKernel(j.level, rows, panels, kcb, aRows, j.lda, bp, j.c[cOff:], j.ldc, accumulate, bias)
		}
		ir += rows
	}
	return width
}

// rowPanels4 computes rows (< minDirectRows) rows of C from row i of A against the four
// packed panels at bp, 4·nr columns at C offset cOff, four streams of weights at once; false
// (nothing done) where rowKernel4 has no kernel.
func (j *job) rowPanels4(bp []float32, i, rows, cOff, kcb, pc int, accumulate bool) bool {
	for r := range rows {
		row := j.a[(i+r)*j.lda+pc : (i+r)*j.lda+pc+kcb]
		if !rowKernel4(j.level, kcb, row, bp, j.c[cOff+r*j.ldc:cOff+r*j.ldc+4*nr], accumulate) {
			return false
		}
	}
	return true
}

// biasOf is the epilogue's column bias for columns [col, col+width) when the direct tiles add
// it (on the last k-block; see directBias), else nil.
func (j *job) biasOf(pc, kcb, col, width int) []float32 {
	if pc+kcb == j.k && j.directBias() {
		return j.ep.Bias[col : col+width]
	}
	return nil
}

// directBias reports whether the direct tiles add the epilogue's bias (a per-column one) on the
// last k-block, so that the epilogue skips it: in the kernels' store it saves a pass over C
// (2% of vit_tiny's run), with the same sums in the same order.
func (j *job) directBias() bool {
	return j.ep.Bias != nil && !j.ep.BiasPerRow && j.pa == nil && j.readsADirectly()
}

// addBias adds bias (nil for none) to rows rows of C from offset cOff: the pieces of a direct
// block that no tile kernel stored the bias with.
func (j *job) addBias(bias []float32, rows, cOff int) {
	if bias == nil {
		return
	}
	for r := range rows {
		addRowF32(j.level, j.c[cOff+r*j.ldc:cOff+r*j.ldc+len(bias)], bias)
	}
}

// minDirectRows is the fewest rows of a direct tile (asm/gen.go generates them from 3 to 12):
// one or two rows go through rowKernel.
const minDirectRows = 3

// RowsSummedAlike is the fewest rows a product may have for each of its rows to be summed as in
// a product of more rows: a product of one or two rows (with A read in place) goes row by row
// through other kernels, whose sums round differently. A caller that cuts a batch into parts
// and promises the bits of the whole keeps every part at least this tall.
const RowsSummedAlike = minDirectRows

// directTileRows is the height of the next direct tile when left rows of a block remain: 12
// (2mr) while that leaves 0 or at least 8 rows, and two near-equal tiles for 13–19 rows
// (16 = 8+8, 17 = 9+8), so that no thin tile with too few accumulators to keep both FMA
// pipes busy is left at the end. BenchmarkDigitsMLP2 (16 rows) measured 8+8 against 12+4.
func directTileRows(left int) int {
	if left > 2*mr && left < 2*mr+8 {
		return (left + 1) / 2
	}
	return min(left, 2*mr)
}

// rowTiles computes rows of C starting at row i, one row at a time by rowKernel with A read in
// place, against one packed panel bp: cols (≤ nr) columns at C offset cOff.
func (j *job) rowTiles(edge *[mr * nr]float32, bp []float32, i, rows, cOff, cols, pc, kcb int, accumulate bool) {
	for r := range rows {
		row := j.a[(i+r)*j.lda+pc : (i+r)*j.lda+pc+kcb]
		if cols == nr {
			rowKernel(j.level, kcb, row, bp, j.c[cOff+r*j.ldc:cOff+r*j.ldc+nr], accumulate)
			continue
		}
		rowKernel(j.level, kcb, row, bp, edge[r*nr:(r+1)*nr], false)
	}
	if cols < nr {
		j.addEdge(edge[:], nr, rows, cols, cOff, accumulate)
	}
}

// readsADirectly reports whether the wide kernel can take A unpacked: a row-major A that
// packing would not scale.
func (j *job) readsADirectly() bool {
	return j.level.Wide() && j.aInPlace()
}

// aInPlace reports whether A's rows can be read as they are: row-major, unpacked, unscaled.
func (j *job) aInPlace() bool {
	return j.pa == nil && !j.indirect && !j.transA && (j.alpha == 1 || j.alphaOnB)
}

// tile computes the mr×nr tile at rows ic+ir, columns jc+jr of C from the packed blocks (or
// the indirect B), through edge when it sticks out of the block.
func (j *job) tile(edge *[mr * nr]float32, aBlock, bBlock []float32, ic, ir, mcb, jc, jr, ncb, pc, kcb int, accumulate bool) {
	mrb, nrb := min(mr, mcb-ir), min(nr, ncb-jr)
	ap := aBlock[(ir/mr)*kcb*mr:]
	cOff := (ic+ir)*j.ldc + jc + jr
	full := mrb == mr && nrb == nr
	var bp, bRows []float32
	var bOffs []int
	if j.indirect {
		bRows, bOffs = j.ind.Data[jc+jr:], j.ind.Offsets[pc:pc+kcb]
	} else {
		bp = bBlock[(jr/nr)*kcb*nr:]
	}
	if mrb <= rowTileRows && j.aInPlace() {
		// A row or two (a classifier on one image): each row of A, read in place, against the
		// panel, instead of a 6-row tile that is mostly padding.
		j.rowTiles(edge, bp, ic+ir, mrb, cOff, nrb, pc, kcb, accumulate)
		return
	}
	switch {
	case j.indirect && full:
		indirectKernel(j.level, kcb, ap, bRows, bOffs, j.c[cOff:], j.ldc, accumulate)
		return
	case full:
		microKernel(j.level, kcb, ap, bp, j.c[cOff:], j.ldc, accumulate)
		return
	case j.indirect:
		indirectKernel(j.level, kcb, ap, bRows, bOffs, edge[:], nr, false)
	case nrb <= nr/2:
		narrowKernel(j.level, kcb, ap, bp, edge[:], nr)
	default:
		microKernel(j.level, kcb, ap, bp, edge[:], nr, false)
	}
	j.addEdge(edge[:], nr, mrb, nrb, cOff, accumulate)
}

// rowTileRows is the most rows of a tile that go one by one through rowKernel: measured with
// BenchmarkClassifier1280, one row runs 3-4× faster than the padded 6-row tile.
const rowTileRows = 2

// addEdge stores (or adds, when accumulate) the top-left rows×cols of a tile computed into
// edge (row stride ld) to C at offset cOff.
func (j *job) addEdge(edge []float32, ld, rows, cols, cOff int, accumulate bool) {
	for r := 0; r < rows; r++ {
		dst := j.c[cOff+r*j.ldc : cOff+r*j.ldc+cols]
		src := edge[r*ld : r*ld+cols]
		if accumulate {
			for q := range dst {
				dst[q] += src[q]
			}
		} else {
			copy(dst, src)
		}
	}
}

// scaleC sets C[i0:i1, j0:j1] to s·C, writing zeros without reading C when s is 0.
func (j *job) scaleC(i0, i1, j0, j1 int, s float32) {
	for i := i0; i < i1; i++ {
		row := j.c[i*j.ldc+j0 : i*j.ldc+j1]
		if s == 0 {
			clear(row)
			continue
		}
		for q := range row {
			row[q] *= s
		}
	}
}

// passesOverC reports whether the epilogue reads and writes C once more after the kernels'
// stores: an activation, over whole rows or over columns.
func (ep *Epilogue) passesOverC() bool {
	return ep.Elementwise != nil || ep.Columns != nil
}

// any reports whether the epilogue does anything.
func (ep *Epilogue) any() bool {
	return ep.Bias != nil || ep.Residual != nil || ep.Elementwise != nil || ep.Columns != nil
}

func (j *job) epilogue(i0, i1, j0, j1 int) {
	ep := j.ep
	if j.directBias() && j.k > 0 {
		ep.Bias = nil // added by the direct tiles
	}
	if !ep.any() {
		return
	}
	elementwise := ep.Elementwise != nil
	biased := elementwise && ep.BiasedElementwise != nil && ep.Bias != nil && ep.BiasPerRow && ep.Residual == nil
	// Rows per Elementwise call: whole rows of C are contiguous when the block spans them.
	group := 1
	if elementwise && !biased && j0 == 0 && j1 == j.n && j.ldc == j.n {
		group = max(1, epilogueSpan/max(1, j.n))
	}
	for g0 := i0; g0 < i1; g0 += group {
		g1 := min(i1, g0+group)
		for i := g0; i < g1; i++ {
			row := j.c[i*j.ldc+j0 : i*j.ldc+j1]
			if biased {
				ep.BiasedElementwise(row, ep.Bias[i])
				continue
			}
			if ep.Bias != nil {
				if ep.BiasPerRow {
					addScalarF32(j.level, row, ep.Bias[i])
				} else {
					addRowF32(j.level, row, ep.Bias[j0:j1])
				}
			}
			if ep.Residual != nil {
				addRowF32(j.level, row, ep.Residual[i*ep.ResidualLd+j0:i*ep.ResidualLd+j1])
			}
			if elementwise && group == 1 {
				ep.Elementwise(row)
			}
		}
		if elementwise && group > 1 {
			ep.Elementwise(j.c[g0*j.ldc : (g1-1)*j.ldc+j1])
		}
		if ep.Columns != nil {
			for i := g0; i < g1; i++ {
				ep.Columns(j.c[i*j.ldc+j0:i*j.ldc+j1], j0)
			}
		}
	}
}

// epilogueSpan is about how many values one Elementwise call covers when rows are contiguous:
// long enough to amortize the call, short enough to stay in L1 after the bias pass.
const epilogueSpan = 4096
