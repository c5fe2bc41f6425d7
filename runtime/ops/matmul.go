package ops

import (
	"fmt"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/tensor"
)

func init() {
	RegisterRange(DefaultDomain, "MatMul", newMatMul, 1, 9, 13)
}

// matMulKernel is numpy.matmul: batched over broadcast leading dims, with 1-D operands promoted
// to a row (A) or column (B) vector and the promoted dim dropped from the result. A constant
// 2-D float32 B is packed once.
type matMulKernel struct {
	// last is the plan of the most recent shapes, immutable once stored (concurrent Runs share
	// it); shapes rarely change between runs, and a plan costs five allocations.
	last    shapeMemo[*matMulPlan]
	packedB *gemm.PackedB
	act     func(dst []float32) // fused activation, nil for none
	transB  bool                // B arrives transposed in its last two axes (NewMatMulTransposedB)
	scaledB bool                // a third input scales B (NewMatMulTransposedBScaled)
}

// NewMatMulTransposedB returns a MatMul whose second input is given transposed in its last two
// axes ([…, N, K] for a K×N operand): the runtime's fusion of a Transpose that swaps the last two
// axes into the MatMul reading it (attention's Q·Kᵀ), so the transpose is never written.
func NewMatMulTransposedB() Kernel { return &matMulKernel{transB: true} }

// NewMatMulTransposedBScaled is NewMatMulTransposedB for MatMul(A, Transpose(B)·s), with s as a
// third input: PyTorch's scaled-dot-product attention export scales Kᵀ by √(1/√d) between the
// transpose and the product. A one-element float32 s becomes the GEMM's alpha; any other s is
// applied as the graph states it (transpose, broadcast multiply, plain product).
func NewMatMulTransposedBScaled() Kernel { return &matMulKernel{transB: true, scaledB: true} }

// FuseActivation makes the kernel apply act to its (float) output.
func (k *matMulKernel) FuseActivation(act func(dst []float32)) bool {
	k.act = act
	return true
}

func newMatMul(n *Node) (Kernel, error) {
	if n.NumInputs() != 2 {
		return nil, fmt.Errorf("MatMul needs 2 inputs, has %d", n.NumInputs())
	}
	k := &matMulKernel{}
	if b := n.Const[1]; b != nil && b.DType == tensor.Float32 && b.Rank() == 2 {
		pb, err := gemm.PackB(false, b.Shape[0], b.Shape[1], b.F32(), b.Shape[1])
		if err != nil {
			return nil, fmt.Errorf("packing B: %w", err)
		}
		k.packedB = pb
	}
	return k, nil
}

// matMulPlan is the shape arithmetic of one MatMul call.
type matMulPlan struct {
	m, n, k   int
	batch     []int // broadcast batch shape
	aBatchStr []int // per batch dim, stride in whole matrices of A (0 where broadcast)
	bBatchStr []int
	outShape  []int
}

// plan returns planMatMul's result for these shapes, reusing the last one when they match.
func (k *matMulKernel) plan(aShape, bShape []int) (*matMulPlan, error) {
	return k.last.get(aShape, bShape, func() (*matMulPlan, error) { return planMatMul(aShape, bShape) })
}

// planMatMul formats shapes in its errors with ShapeString: a slice handed to fmt escapes, and the
// callers build bShape on the stack.
func planMatMul(aShape, bShape []int) (*matMulPlan, error) {
	if len(aShape) == 0 || len(bShape) == 0 {
		return nil, fmt.Errorf("MatMul: operands must have rank ≥ 1, got %s and %s", tensor.ShapeString(aShape), tensor.ShapeString(bShape))
	}
	a, b := aShape, bShape
	if len(a) == 1 {
		a = []int{1, a[0]}
	}
	if len(b) == 1 {
		b = []int{b[0], 1}
	}
	p := &matMulPlan{m: a[len(a)-2], k: a[len(a)-1], n: b[len(b)-1]}
	if b[len(b)-2] != p.k {
		return nil, fmt.Errorf("MatMul: inner dimensions differ: %s × %s", tensor.ShapeString(aShape), tensor.ShapeString(bShape))
	}
	ab, bb := a[:len(a)-2], b[:len(b)-2]
	rank := max(len(ab), len(bb))
	p.batch = make([]int, rank)
	p.aBatchStr = make([]int, rank)
	p.bBatchStr = make([]int, rank)
	as, bs := 1, 1
	for i := rank - 1; i >= 0; i-- {
		da, db := 1, 1
		if j := i - (rank - len(ab)); j >= 0 {
			da = ab[j]
		}
		if j := i - (rank - len(bb)); j >= 0 {
			db = bb[j]
		}
		switch {
		case da == db:
			p.batch[i] = da
		case da == 1:
			p.batch[i] = db
		case db == 1:
			p.batch[i] = da
		default:
			return nil, fmt.Errorf("MatMul: batch dimensions of %s and %s do not broadcast", tensor.ShapeString(aShape), tensor.ShapeString(bShape))
		}
		if da != 1 {
			p.aBatchStr[i] = as
		}
		if db != 1 {
			p.bBatchStr[i] = bs
		}
		as *= da
		bs *= db
	}
	p.outShape = append([]int(nil), p.batch...)
	if len(aShape) > 1 {
		p.outShape = append(p.outShape, p.m)
	}
	if len(bShape) > 1 {
		p.outShape = append(p.outShape, p.n)
	}
	return p, nil
}

func (k *matMulKernel) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	want := 2
	if k.scaledB {
		want = 3
	}
	if len(inputs) != want || inputs[0] == nil || inputs[1] == nil || inputs[want-1] == nil {
		return nil, fmt.Errorf("MatMul: needs inputs A and B (and B's scale when fused with it)")
	}
	a, b := inputs[0], inputs[1]
	alpha := float32(1)
	if k.scaledB {
		sv, ok := inputs[2].Data.([]float32)
		if !ok || len(sv) != 1 || inputs[2].Rank() > b.Rank() || a.DType != tensor.Float32 {
			return k.runScaledAsWritten(ctx, a, b, inputs[2])
		}
		alpha = sv[0]
	}
	bShape := b.Shape
	var swapped [8]int
	if k.transB {
		if b.Rank() < 2 || b.Rank() > len(swapped) {
			return nil, fmt.Errorf("MatMul: transposed B must have rank 2 to %d, got %v", len(swapped), b.Shape)
		}
		bShape = append(swapped[:0], b.Shape...)
		r := len(bShape)
		bShape[r-2], bShape[r-1] = bShape[r-1], bShape[r-2]
	}
	if !isFloatDType(a.DType) {
		if k.act != nil {
			return nil, fmt.Errorf("MatMul: a fused activation needs float inputs, got %v", a.DType)
		}
		if k.transB {
			var err error
			if b, err = transposeRun(ctx, b, lastTwoSwapped(b.Rank())); err != nil {
				return nil, err
			}
		}
		return matMulIntegers(ctx, a, b)
	}
	var ep *gemm.Epilogue
	if k.act != nil {
		ep = &gemm.Epilogue{Elementwise: k.act}
	}
	p, err := k.plan(a.Shape, bShape)
	if err != nil {
		return nil, err
	}
	ldb := p.n // B's row stride: n, or k when it arrives transposed
	if k.transB {
		ldb = p.k
	}
	av, err := floatInput(a, "MatMul: A")
	if err != nil {
		return nil, err
	}
	out := newFloatOutputOverwrite(ctx, a.DType, p.outShape) // every product has beta = 0
	batches := tensor.NumElements(p.batch)
	bShared := true // every batch uses the same B matrix
	for _, s := range p.bBatchStr {
		bShared = bShared && s == 0
	}
	aFull := true // A holds one matrix per batch, in batch order
	for i, s := range p.aBatchStr {
		aFull = aFull && (s != 0 || p.batch[i] == 1)
	}
	if bShared && aFull {
		// One product: A's batches stacked as rows against the shared B.
		m := batches * p.m
		if k.packedB != nil && k.packedB.K() == p.k && k.packedB.N() == p.n {
			err = gemm.SgemmPackedB(false, m, alpha, av, p.k, k.packedB, 0, out.v, p.n, ctx.Threads, ep)
		} else {
			var bv []float32
			if bv, err = floatInput(b, "MatMul: B"); err != nil {
				return nil, err
			}
			err = gemm.SgemmFused(false, k.transB, m, p.n, p.k, alpha, av, p.k, bv, ldb, 0, out.v, p.n, ctx.Threads, ep)
		}
		if err != nil {
			return nil, fmt.Errorf("MatMul: %w", err)
		}
		return ctx.Result(out.tensor(ctx)), nil
	}
	bv, err := floatInput(b, "MatMul: B")
	if err != nil {
		return nil, err
	}
	// Many small products (attention heads) parallelise better across batches than inside one.
	// Heads that do not divide evenly among the threads (vit_tiny's 3 on 2) are cut into 12-row
	// GEMM tiles, and the threads take equal runs of (head, tile) items: each gets the same share
	// to within one tile (1.5 heads each, where whole heads or halves of heads left 305 rows to
	// one thread and 286 to the other).
	inner := 1
	rowsPerItem := ceilDivInt(p.m, 12) * 12 // a whole product
	switch {
	case batches < ctx.Threads:
		inner = ctx.Threads
	case ctx.Threads > 1 && batches%ctx.Threads != 0:
		rowsPerItem = 12
	}
	job := batchedMatMul{p: p, av: av, bv: bv, c: out.v, ldb: ldb, transB: k.transB, act: k.act, inner: inner, alpha: alpha, rowsPerItem: rowsPerItem}
	items := batches * ceilDivInt(p.m, rowsPerItem)
	if ctx.Inline(items, 1) {
		if err := job.items(0, items); err != nil { // inline, with nothing to allocate
			return nil, fmt.Errorf("MatMul: %w", err)
		}
	} else {
		batchedTasks.Run(ctx, items, 1, &job)
	}
	return ctx.Result(out.tensor(ctx)), nil
}

// runScaledAsWritten computes MatMul(A, Transpose(B)·s) step by step, for an s that is not one
// float32 element: its broadcast may change the product's shape or type.
func (k *matMulKernel) runScaledAsWritten(ctx *Context, a, b, s *tensor.Tensor) ([]*tensor.Tensor, error) {
	if b.Rank() < 2 {
		return nil, fmt.Errorf("MatMul: transposed B must have rank ≥ 2, got %v", b.Shape)
	}
	bt, err := transposeRun(ctx, b, lastTwoSwapped(b.Rank()))
	if err != nil {
		return nil, err
	}
	scaled, err := arith(ctx, opMul, bt, s)
	if err != nil {
		return nil, fmt.Errorf("MatMul: scaling B: %w", err)
	}
	plain := &matMulKernel{act: k.act}
	return plain.Run(ctx, []*tensor.Tensor{a, scaled})
}

// lastTwoSwapped is the permutation of rank axes that exchanges the last two (rank ≥ 2).
func lastTwoSwapped(rank int) []int {
	perm := make([]int, rank)
	for i := range perm {
		perm[i] = i
	}
	perm[rank-2], perm[rank-1] = rank-1, rank-2
	return perm
}

// batchedMatMul is one product per broadcast batch index (attention heads), each cut into
// items of rowsPerItem rows: the work items are (batch, row block), and a run of items of one
// batch is computed by one product.
type batchedMatMul struct {
	p           *matMulPlan
	av, bv, c   []float32
	ldb, inner  int
	rowsPerItem int
	transB      bool
	alpha       float32
	act         func(dst []float32) // fused activation (an epilogue per product), nil for none
}

var batchedTasks TaskPool[batchedMatMul, *batchedMatMul]

// Chunk implements workers.Task. The products' sizes come from the checked plan, so a GEMM error
// here is a bug: it panics, and the runtime reports it as the node's error.
func (j *batchedMatMul) Chunk(lo, hi int) {
	if err := j.items(lo, hi); err != nil {
		panic(err)
	}
}

// items computes the (batch, row block) items [lo, hi), stopping at the first error.
func (j *batchedMatMul) items(lo, hi int) error {
	p := j.p
	aSize, bSize, cSize := p.m*p.k, p.k*p.n, p.m*p.n
	blocks := ceilDivInt(p.m, j.rowsPerItem)
	for item := lo; item < hi; {
		bi := item / blocks
		last := min(hi, (bi+1)*blocks) // this batch's items in the range
		r0, r1 := item%blocks*j.rowsPerItem, min((last-bi*blocks)*j.rowsPerItem, p.m)
		item = last
		rows := r1 - r0
		ao, bo := 0, 0
		rem := bi
		for d := len(p.batch) - 1; d >= 0; d-- {
			idx := rem % p.batch[d]
			rem /= p.batch[d]
			ao += idx * p.aBatchStr[d]
			bo += idx * p.bBatchStr[d]
		}
		a := j.av[ao*aSize+r0*p.k : ao*aSize+(r0+rows)*p.k]
		b := j.bv[bo*bSize : (bo+1)*bSize]
		c := j.c[bi*cSize+r0*p.n : bi*cSize+(r0+rows)*p.n]
		var err error
		if panel, ok := gemm.PanelOf(p.k, p.n, b, j.ldb); ok && j.act == nil && !j.transB && j.alpha == 1 {
			// A 64-wide B (an attention head's values) is already the gather tile's panel:
			// no packing, and 6- and 7-row tiles waste less of a 197-token A than 12-row ones.
			// So is a 16-wide one (digits_vit's heads).
			err = gemm.SgemmDenseA(rows, a, p.k, &panel, c, p.n, j.inner)
		} else {
			var ep *gemm.Epilogue
			if j.act != nil {
				ep = &gemm.Epilogue{Elementwise: j.act} // copied by the GEMM: stays on the stack
			}
			err = gemm.SgemmFused(false, j.transB, rows, p.n, p.k, j.alpha, a, p.k, b, j.ldb, 0, c, p.n, j.inner, ep)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// matMulIntegers is the integer MatMul of opset 9+ (int32, int64, uint32, uint64), a plain
// triple loop: integer MatMul is rare in the models we run and exactness matters more than speed.
func matMulIntegers(ctx *Context, a, b *tensor.Tensor) ([]*tensor.Tensor, error) {
	if a.DType != b.DType {
		return nil, fmt.Errorf("MatMul: A is %v but B is %v", a.DType, b.DType)
	}
	p, err := planMatMul(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	out := ctx.Alloc(a.DType, p.outShape)
	switch av := a.Data.(type) {
	case []int32:
		matMulIntLoop(p, av, b.Data.([]int32), out.Data.([]int32))
	case []int64:
		matMulIntLoop(p, av, b.Data.([]int64), out.Data.([]int64))
	case []uint32:
		matMulIntLoop(p, av, b.Data.([]uint32), out.Data.([]uint32))
	case []uint64:
		matMulIntLoop(p, av, b.Data.([]uint64), out.Data.([]uint64))
	default:
		return nil, fmt.Errorf("MatMul: unsupported dtype %v", a.DType)
	}
	return ctx.Result(out), nil
}

func matMulIntLoop[T int32 | int64 | uint32 | uint64](p *matMulPlan, a, b, c []T) {
	batches := tensor.NumElements(p.batch)
	for bi := 0; bi < batches; bi++ {
		ao, bo, rem := 0, 0, bi
		for d := len(p.batch) - 1; d >= 0; d-- {
			idx := rem % p.batch[d]
			rem /= p.batch[d]
			ao += idx * p.aBatchStr[d]
			bo += idx * p.bBatchStr[d]
		}
		am, bm, cm := a[ao*p.m*p.k:], b[bo*p.k*p.n:], c[bi*p.m*p.n:]
		for i := 0; i < p.m; i++ {
			for q := 0; q < p.k; q++ {
				x := am[i*p.k+q]
				for j := 0; j < p.n; j++ {
					cm[i*p.n+j] += x * bm[q*p.n+j]
				}
			}
		}
	}
}
