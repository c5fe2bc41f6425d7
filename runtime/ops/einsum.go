package ops

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/tensor"
)

// Einsum evaluates in float64 by taking diagonals of repeated labels, summing out labels only one
// operand has, and folding the operands left to right as batched matrix products
// ([batch, kept-from-A, contracted] × [batch, contracted, kept-from-B]); a final transpose puts
// the labels in output order.

func init() {
	Register(DefaultDomain, "Einsum", 12, newEinsum)
}

// einsumEllipsisBase numbers the labels an ellipsis stands for, far from any letter.
const einsumEllipsisBase = 1 << 16

type einsumSpec struct {
	terms    []string // per input, the term as written
	output   string
	explicit bool
}

func newEinsum(n *Node) (Kernel, error) {
	eq := strings.ReplaceAll(n.AttrString("equation", ""), " ", "")
	if eq == "" {
		return nil, fmt.Errorf("missing equation")
	}
	spec := einsumSpec{}
	lhs := eq
	if i := strings.Index(eq, "->"); i >= 0 {
		lhs, spec.output, spec.explicit = eq[:i], eq[i+2:], true
	}
	spec.terms = strings.Split(lhs, ",")
	if len(spec.terms) != n.NumInputs() {
		return nil, fmt.Errorf("equation %q has %d terms for %d inputs", eq, len(spec.terms), n.NumInputs())
	}
	for _, t := range append(append([]string(nil), spec.terms...), spec.output) {
		rest := strings.Replace(t, "...", "", 1)
		for _, c := range rest {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return nil, fmt.Errorf("equation %q: unexpected %q", eq, c)
			}
		}
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return spec.run(ctx, inputs)
	}), nil
}

// einsumOperand is an operand in float64 with one label per axis.
type einsumOperand struct {
	labels []int
	shape  []int
	data   []float64
}

// einsumLabels expands a term for an operand of the given rank; ellipsis axes get labels
// counted from the right so that ellipses of different ranks broadcast like NumPy.
func einsumLabels(term string, rank, ellipsisRank int) ([]int, error) {
	var labels []int
	before, after, hasEllipsis := strings.Cut(term, "...")
	letters := len(before) + len(after)
	if !hasEllipsis {
		if letters != rank {
			return nil, fmt.Errorf("term %q has %d labels for rank %d", term, letters, rank)
		}
		for _, c := range term {
			labels = append(labels, int(c))
		}
		return labels, nil
	}
	e := rank - letters
	if e < 0 {
		return nil, fmt.Errorf("term %q has more labels than rank %d", term, rank)
	}
	for _, c := range before {
		labels = append(labels, int(c))
	}
	for k := ellipsisRank - e; k < ellipsisRank; k++ {
		labels = append(labels, einsumEllipsisBase+k)
	}
	for _, c := range after {
		labels = append(labels, int(c))
	}
	return labels, nil
}

func (s *einsumSpec) run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	dt := tensor.Undefined
	ellipsisRank := 0
	for i, term := range s.terms {
		x, err := moveNeed(inputs, i, "Inputs")
		if err != nil {
			return nil, err
		}
		if dt == tensor.Undefined {
			dt = x.DType
		} else if x.DType != dt {
			return nil, fmt.Errorf("input %d is %v, input 0 is %v", i, x.DType, dt)
		}
		if strings.Contains(term, "...") {
			ellipsisRank = max(ellipsisRank, len(x.Shape)-(len(term)-3))
		}
	}
	ops := make([]*einsumOperand, len(s.terms))
	size := map[int]int{}
	count := map[int]int{}
	for i, term := range s.terms {
		x := inputs[i]
		labels, err := einsumLabels(term, len(x.Shape), ellipsisRank)
		if err != nil {
			return nil, err
		}
		data := onehotFloat64s(x)
		if data == nil {
			return nil, fmt.Errorf("input %d: unsupported type %v", i, x.DType)
		}
		for j, l := range labels {
			d := x.Shape[j]
			if prev, ok := size[l]; ok && prev != d && prev != 1 && d != 1 {
				return nil, fmt.Errorf("label %s is %d in one place and %d in another", einsumName(l), prev, d)
			}
			if d != 1 || size[l] == 0 {
				size[l] = max(size[l], d)
			}
			if d == 0 {
				size[l] = 0
			}
		}
		seen := map[int]bool{}
		for _, l := range labels {
			if !seen[l] {
				count[l]++
				seen[l] = true
			}
		}
		ops[i] = &einsumOperand{labels: labels, shape: append([]int(nil), x.Shape...), data: data}
	}
	// Output labels.
	var out []int
	if s.explicit {
		var err error
		if out, err = einsumLabels(s.output, len(s.output)-3*strings.Count(s.output, "...")+ellipsisRank*strings.Count(s.output, "..."), ellipsisRank); err != nil {
			return nil, err
		}
		for _, l := range out {
			if count[l] == 0 {
				return nil, fmt.Errorf("output label %s appears in no input", einsumName(l))
			}
		}
	} else {
		for k := range ellipsisRank {
			out = append(out, einsumEllipsisBase+k)
		}
		var letters []int
		for l, c := range count {
			if l < einsumEllipsisBase && c == 1 && einsumOnce(s.terms, l) {
				letters = append(letters, l)
			}
		}
		sort.Ints(letters)
		out = append(out, letters...)
	}
	inOut := map[int]bool{}
	for _, l := range out {
		inOut[l] = true
	}
	for i, op := range ops {
		op.diagonal()
		op.broadcast(size)
		// Labels nothing else needs are summed out right away.
		var drop []int
		for _, l := range op.labels {
			if !inOut[l] && count[l] == 1 {
				drop = append(drop, l)
			}
		}
		ops[i] = op.sumOut(drop)
	}
	acc := ops[0]
	for i := 1; i < len(ops); i++ {
		keep := map[int]bool{}
		for l := range inOut {
			keep[l] = true
		}
		for _, later := range ops[i+1:] {
			for _, l := range later.labels {
				keep[l] = true
			}
		}
		var err error
		if acc, err = einsumContract(ctx, acc, ops[i], keep, dt == tensor.Float32); err != nil {
			return nil, err
		}
	}
	// Anything left that the output lacks is summed (only possible with one operand).
	var drop []int
	for _, l := range acc.labels {
		if !inOut[l] {
			drop = append(drop, l)
		}
	}
	acc = acc.sumOut(drop)
	res := acc.permute(out)
	t := ctx.Alloc(dt, res.shape)
	if err := einsumStore(t, res.data); err != nil {
		return nil, err
	}
	return ctx.Result(t), nil
}

// einsumOnce reports whether letter l occurs exactly once in the whole left-hand side.
func einsumOnce(terms []string, l int) bool {
	n := 0
	for _, t := range terms {
		n += strings.Count(t, string(rune(l)))
	}
	return n == 1
}

func einsumName(l int) string {
	if l >= einsumEllipsisBase {
		return fmt.Sprintf("...[%d]", l-einsumEllipsisBase)
	}
	return string(rune(l))
}

// diagonal replaces repeated labels by one axis walking their diagonal.
func (op *einsumOperand) diagonal() {
	strides := tensor.Strides(op.shape)
	var labels, shape, src []int
	for j, l := range op.labels {
		k := 0
		for ; k < len(labels) && labels[k] != l; k++ {
		}
		if k < len(labels) {
			src[k] += strides[j]
			shape[k] = min(shape[k], op.shape[j])
			continue
		}
		labels, shape, src = append(labels, l), append(shape, op.shape[j]), append(src, strides[j])
	}
	if len(labels) == len(op.labels) {
		return
	}
	data := make([]float64, tensor.NumElements(shape))
	if len(data) > 0 {
		moveStrided(data, 0, tensor.Strides(shape), op.data, 0, src, shape)
	}
	op.labels, op.shape, op.data = labels, shape, data
}

// broadcast stretches size-1 axes to the label's full size.
func (op *einsumOperand) broadcast(size map[int]int) {
	stretch := false
	shape := make([]int, len(op.shape))
	src := tensor.Strides(op.shape)
	for j, l := range op.labels {
		shape[j] = op.shape[j]
		if op.shape[j] == 1 && size[l] != 1 {
			shape[j], src[j], stretch = size[l], 0, true
		}
	}
	if !stretch {
		return
	}
	data := make([]float64, tensor.NumElements(shape))
	if len(data) > 0 {
		moveStrided(data, 0, tensor.Strides(shape), op.data, 0, src, shape)
	}
	op.shape, op.data = shape, data
}

// permute returns the operand with its axes in the order of labels (a permutation of its own).
func (op *einsumOperand) permute(labels []int) *einsumOperand {
	strides := tensor.Strides(op.shape)
	shape := make([]int, len(labels))
	src := make([]int, len(labels))
	identity := true
	for i, l := range labels {
		j := einsumIndex(op.labels, l)
		shape[i], src[i] = op.shape[j], strides[j]
		identity = identity && i == j
	}
	if identity {
		return op
	}
	data := make([]float64, len(op.data))
	if len(data) > 0 {
		moveStrided(data, 0, tensor.Strides(shape), op.data, 0, src, shape)
	}
	return &einsumOperand{labels: append([]int(nil), labels...), shape: shape, data: data}
}

func einsumIndex(labels []int, l int) int {
	for j, m := range labels {
		if m == l {
			return j
		}
	}
	return -1
}

// sumOut sums over the given labels.
func (op *einsumOperand) sumOut(drop []int) *einsumOperand {
	if len(drop) == 0 {
		return op
	}
	var keep []int
	for _, l := range op.labels {
		if einsumIndex(drop, l) < 0 {
			keep = append(keep, l)
		}
	}
	p := op.permute(append(append([]int(nil), keep...), drop...))
	shape := p.shape[:len(keep)]
	inner := tensor.NumElements(p.shape[len(keep):])
	data := make([]float64, tensor.NumElements(shape))
	for i := range data {
		s := 0.0
		for _, v := range p.data[i*inner : (i+1)*inner] {
			s += v
		}
		data[i] = s
	}
	return &einsumOperand{labels: keep, shape: append([]int(nil), shape...), data: data}
}

// einsumGemmMin is the product size (m·n·k per batch) from which float32 contractions go to the
// packed SGEMM rather than the float64 loop.
const einsumGemmMin = 1 << 12

// einsumContract multiplies a and b, summing the labels they share that keep does not list.
// With f32 (float32 operands) large products use SGEMM; the result is float32-accurate, which
// is what the output holds anyway.
func einsumContract(ctx *Context, a, b *einsumOperand, keep map[int]bool, f32 bool) (*einsumOperand, error) {
	inB := func(l int) bool { return einsumIndex(b.labels, l) >= 0 }
	inA := func(l int) bool { return einsumIndex(a.labels, l) >= 0 }
	var dropA, dropB []int
	for _, l := range a.labels {
		if !inB(l) && !keep[l] {
			dropA = append(dropA, l)
		}
	}
	for _, l := range b.labels {
		if !inA(l) && !keep[l] {
			dropB = append(dropB, l)
		}
	}
	a, b = a.sumOut(dropA), b.sumOut(dropB)
	var batch, aOnly, bOnly, sum []int
	for _, l := range a.labels {
		switch {
		case inB(l) && keep[l]:
			batch = append(batch, l)
		case inB(l):
			sum = append(sum, l)
		default:
			aOnly = append(aOnly, l)
		}
	}
	for _, l := range b.labels {
		if !inA(l) {
			bOnly = append(bOnly, l)
		}
	}
	pa := a.permute(append(append(append([]int(nil), batch...), aOnly...), sum...))
	pb := b.permute(append(append(append([]int(nil), batch...), sum...), bOnly...))
	sizeOf := func(op *einsumOperand, ls []int) int {
		n := 1
		for _, l := range ls {
			n *= op.shape[einsumIndex(op.labels, l)]
		}
		return n
	}
	nb, m, k, nn := sizeOf(pa, batch), sizeOf(pa, aOnly), sizeOf(pa, sum), sizeOf(pb, bOnly)
	data := make([]float64, nb*m*nn)
	if f32 && m > 0 && nn > 0 && k > 0 && m*nn*k >= einsumGemmMin {
		if err := einsumSgemm(ctx, data, pa.data, pb.data, nb, m, k, nn); err != nil {
			return nil, err
		}
	} else {
		for bi := range nb {
			A := pa.data[bi*m*k : (bi+1)*m*k]
			B := pb.data[bi*k*nn : (bi+1)*k*nn]
			C := data[bi*m*nn : (bi+1)*m*nn]
			for i := range m {
				row := C[i*nn : (i+1)*nn]
				for p := range k {
					av := A[i*k+p]
					for j, bv := range B[p*nn : (p+1)*nn] {
						row[j] += av * bv
					}
				}
			}
		}
	}
	labels := append(append(append([]int(nil), batch...), aOnly...), bOnly...)
	shape := make([]int, 0, len(labels))
	for _, l := range batch {
		shape = append(shape, pa.shape[einsumIndex(pa.labels, l)])
	}
	for _, l := range aOnly {
		shape = append(shape, pa.shape[einsumIndex(pa.labels, l)])
	}
	for _, l := range bOnly {
		shape = append(shape, pb.shape[einsumIndex(pb.labels, l)])
	}
	return &einsumOperand{labels: labels, shape: shape, data: data}, nil
}

// einsumSgemm computes the nb products [m×k]·[k×n] in float32 with the packed GEMM.
func einsumSgemm(ctx *Context, dst, a, b []float64, nb, m, k, n int) error {
	a32, b32, c32 := einsumNarrow(a), einsumNarrow(b), make([]float32, len(dst))
	threads := 1
	if ctx != nil {
		threads = ctx.Threads
	}
	for bi := range nb {
		err := gemm.Sgemm(false, false, m, n, k, 1, a32[bi*m*k:(bi+1)*m*k], k, b32[bi*k*n:(bi+1)*k*n], n, 0, c32[bi*m*n:(bi+1)*m*n], n, threads)
		if err != nil {
			return err
		}
	}
	for i, v := range c32 {
		dst[i] = float64(v)
	}
	return nil
}

func einsumNarrow(s []float64) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

// einsumStore converts float64 results to the output's element type.
func einsumStore(t *tensor.Tensor, res []float64) error {
	switch d := t.Data.(type) {
	case []float32:
		for i, v := range res {
			d[i] = float32(v)
		}
	case []float64:
		copy(d, res)
	case []int32:
		for i, v := range res {
			d[i] = int32(v)
		}
	case []int64:
		for i, v := range res {
			d[i] = int64(v)
		}
	case []uint32:
		for i, v := range res {
			d[i] = uint32(v)
		}
	case []uint64:
		for i, v := range res {
			d[i] = uint64(math.Max(v, 0))
		}
	default:
		return resizeNarrow(t, res)
	}
	return nil
}
