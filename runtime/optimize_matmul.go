package runtime

import (
	"fmt"
	"sync"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// fuseMatMulBias turns MatMul(A, W) followed by Add(·, b), with W a constant float32 matrix and b
// a constant float32 row of W's width, into one GEMM whose epilogue adds b while the output is in
// cache (a transformer's Linear layers). The fused kernel also takes a following activation (see
// fuseActivations).
func fuseMatMulBias(o *optimizer) int {
	count := 0
	for i := range o.g.nodes {
		if o.dead[i] || !o.isOp(i, "MatMul") {
			continue
		}
		mm := o.g.nodes[i]
		w := o.constInput(i, 1)
		if w == nil || w.DType != tensor.Float32 || w.Rank() != 2 || o.constInput(i, 0) != nil {
			continue
		}
		out, ok := o.singleOutput(i)
		if !ok {
			continue
		}
		add := o.soleReader(out)
		if add < 0 || !o.isOp(add, "Add") {
			continue
		}
		a, b, ok := o.operands(add)
		if !ok {
			continue
		}
		biasSlot, biasPos := b, 1
		if a != out {
			biasSlot, biasPos = a, 0
		}
		bias := o.g.consts[biasSlot]
		if bias == nil || bias.DType != tensor.Float32 || bias.Len() != w.Shape[1] || bias.Rank() == 0 ||
			bias.Shape[bias.Rank()-1] != w.Shape[1] {
			continue
		}
		addOut, ok := o.singleOutput(add)
		if !ok {
			continue
		}
		k, err := newFusedMatMul(mm, w)
		if err != nil {
			continue
		}
		k.bias, k.biasRank = bias.F32(), bias.Rank()
		addInputs := []*tensor.Tensor{nil, nil}
		addInputs[biasPos] = bias
		k.steps = append(k.steps, chainStep{kernel: o.g.nodes[add].kernel, inputs: addInputs, from: 1 - biasPos})
		o.g.nodes[add] = &node{label: o.g.nodes[add].label, opType: "MatMul+Add", kernel: k,
			inputs: []int{mm.inputs[0]}, outputs: []int{addOut}}
		o.dead[i] = true
		count++
	}
	return count
}

// chainStep is one original node of a fused chain, kept to run the chain unfused when the
// inputs are not what the fused kernel handles (another dtype, an unexpected rank).
type chainStep struct {
	kernel ops.Kernel
	inputs []*tensor.Tensor // the node's inputs, with the chained value's position left nil
	from   int              // position of the chained value
}

// fusedMatMul is A·W (+ bias) (then act) for a constant float32 W packed at session creation.
type fusedMatMul struct {
	label    string
	pb       *gemm.PackedB
	k, n     int
	bias     []float32
	biasRank int
	act      func(dst []float32)
	// cols is a per-channel activation of the output's last axis (the GEMM's columns), run in
	// the epilogue after the bias; colsRank, when not 0, is the rank A must have for that axis
	// to be the activation's channel axis (else the steps run unfused).
	cols     func(dst []float32, ch0 int)
	colsRank int
	steps    []chainStep
	// ep is the GEMM epilogue for bias and act, built on the first run (fusion sets both after
	// construction) and shared read-only by every run after.
	epOnce sync.Once
	ep     *gemm.Epilogue
}

// epilogue returns the shared epilogue, nil when there is neither bias nor activation.
func (f *fusedMatMul) epilogue() *gemm.Epilogue {
	f.epOnce.Do(func() {
		if f.bias != nil || f.act != nil || f.cols != nil {
			f.ep = &gemm.Epilogue{Bias: f.bias, Elementwise: f.act, Columns: f.cols}
		}
	})
	return f.ep
}

func newFusedMatMul(mm *node, w *tensor.Tensor) (*fusedMatMul, error) {
	pb, err := gemm.PackB(false, w.Shape[0], w.Shape[1], w.F32(), w.Shape[1])
	if err != nil {
		return nil, err
	}
	return &fusedMatMul{label: mm.label, pb: pb, k: w.Shape[0], n: w.Shape[1],
		steps: []chainStep{{kernel: mm.kernel, inputs: []*tensor.Tensor{nil, w}, from: 0}}}, nil
}

// FuseActivation implements ops.ActivationFuser: act runs in the GEMM epilogue after the bias.
func (f *fusedMatMul) FuseActivation(act func(dst []float32)) bool {
	f.act = act
	return true
}

// fuse takes act into the epilogue or, when act is nil, the per-channel activation cols; false
// when cols' channels are not the product's columns.
func (f *fusedMatMul) fuse(act func(dst []float32), cols channelsLast) bool {
	if act != nil {
		return f.FuseActivation(act)
	}
	if cols.f == nil || cols.channels != f.n {
		return false
	}
	f.cols, f.colsRank = cols.f, cols.rank
	return true
}

func (f *fusedMatMul) Run(ctx *ops.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) != 1 || inputs[0] == nil {
		return nil, fmt.Errorf("fused MatMul %q: needs input A", f.label)
	}
	a := inputs[0]
	if a.DType != tensor.Float32 || a.Rank() < 2 || a.Rank() < f.biasRank || a.Shape[a.Rank()-1] != f.k ||
		(f.colsRank != 0 && a.Rank() != f.colsRank) {
		return f.runSteps(ctx, a)
	}
	shape := append(append(make([]int, 0, a.Rank()), a.Shape[:a.Rank()-1]...), f.n)
	out := ctx.AllocOverwrite(tensor.Float32, shape) // the GEMM writes it all (beta = 0)
	m := a.Len() / f.k
	if m == 0 {
		return ctx.Result(out), nil
	}
	if err := gemm.SgemmPackedB(false, m, 1, a.F32(), f.k, f.pb, 0, out.F32(), f.n, ctx.Threads, f.epilogue()); err != nil {
		return nil, fmt.Errorf("fused MatMul %q: %w", f.label, err)
	}
	return ctx.Result(out), nil
}

// runSteps runs the original nodes one after the other.
func (f *fusedMatMul) runSteps(ctx *ops.Context, v *tensor.Tensor) ([]*tensor.Tensor, error) {
	for _, s := range f.steps {
		in := append([]*tensor.Tensor(nil), s.inputs...)
		in[s.from] = v
		outs, err := s.kernel.Run(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("fused MatMul %q: %w", f.label, err)
		}
		if len(outs) == 0 || outs[0] == nil {
			return nil, fmt.Errorf("fused MatMul %q: a step produced no output", f.label)
		}
		v = outs[0]
	}
	return ctx.Result(v), nil
}
