package runtime

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/actswap/actswap/internal/pattern"
	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// fuseGelus replaces the GELU chains exporters write out in primitive ops (the erf form and the
// tanh forms: standard, Megatron's and folded, in any operand order) by one gelu node. The chains
// are pattern.GELUChains, the definitions the rewriter finds its GELU sites with, so the two can
// not disagree about what a GELU chain is. Every value inside a chain must be read only by the
// chain and be no graph output; QuickGELU chains (x·σ(1.702x)) are left alone: there is no fused
// kernel for them.
func fuseGelus(o *optimizer) int {
	var chains []pattern.Chain
	for _, c := range pattern.GELUChains() {
		if c.Function == pattern.GELU || c.Function == pattern.GELUTanh {
			chains = append(chains, c)
		}
	}
	g := &optimizerGraph{o: o, prod: o.producers()}
	count := 0
	for i, n := range o.g.nodes {
		if o.dead[i] || len(n.outputs) != 1 || n.outputs[0] < 0 {
			continue
		}
		for _, c := range chains {
			if !slices.Contains(pattern.RootOps(c.Root), n.opType) {
				continue
			}
			m := &pattern.Matcher[int]{G: g}
			b := m.First(c.Root, n.outputs[0])
			if b == nil || !o.chainIsPrivate(b.Nodes, i) {
				continue
			}
			o.g.nodes[i] = &node{label: n.label, opType: "Gelu", kernel: &geluKernel{tanh: c.Function == pattern.GELUTanh},
				inputs: []int{b.Vars["x"]}, outputs: []int{n.outputs[0]}}
			for _, j := range b.Nodes {
				if j != i {
					o.dead[j] = true
				}
			}
			count++
			break
		}
	}
	return count
}

// chainIsPrivate reports whether the matched nodes other than root can go: each value they
// produce is read only inside the chain and is no graph output or subgraph capture.
func (o *optimizer) chainIsPrivate(nodes []int, root int) bool {
	for _, j := range nodes {
		if j == root {
			continue
		}
		for _, s := range o.g.nodes[j].outputs {
			if s < 0 {
				continue
			}
			if o.fixed[s] || o.g.consts[s] != nil {
				return false
			}
			for _, u := range o.uses[s] {
				if !slices.Contains(nodes, u) {
					return false
				}
			}
		}
	}
	return true
}

// optimizerGraph shows the optimizer's graph to the pattern engine, values named by slot.
type optimizerGraph struct {
	o    *optimizer
	prod []int
}

// Producer implements pattern.Graph: the live node writing slot s. Nodes the optimizer built
// itself (no proto) are fused kernels that no pattern names.
func (g *optimizerGraph) Producer(s int) (pattern.Node[int], bool) {
	if s < 0 || g.prod[s] < 0 || g.o.dead[g.prod[s]] {
		return pattern.Node[int]{}, false
	}
	i := g.prod[s]
	n := g.o.g.nodes[i]
	if n.proto == nil {
		return pattern.Node[int]{}, false
	}
	in := n.inputs
	for len(in) > 0 && in[len(in)-1] < 0 {
		in = in[:len(in)-1]
	}
	outputs := 0
	for _, t := range n.outputs {
		if t >= 0 {
			outputs++
		}
	}
	return pattern.Node[int]{Index: i, OpType: n.opType, Domain: onnx.CanonicalDomain(n.proto.GetDomain()),
		Proto: n.proto, Inputs: in, Outputs: outputs}, true
}

// ScalarConst implements pattern.Graph: a one-element constant.
func (g *optimizerGraph) ScalarConst(s int) (float64, bool) {
	if s < 0 {
		return 0, false
	}
	return tensor.ScalarValue(g.o.g.consts[s])
}

// Omitted implements pattern.Graph: slot −1 is an omitted optional input.
func (g *optimizerGraph) Omitted(s int) bool { return s < 0 }

// Describe implements pattern.Graph.
func (g *optimizerGraph) Describe(s int) string { return strconv.Quote(g.o.g.slotNames[s]) }

// geluKernel is the fused GELU: exact (erf) or the tanh approximation, in float32 through
// package vecmath (the kernels the Gelu op runs); other float types go through float64.
type geluKernel struct{ tanh bool }

func (k *geluKernel) apply(dst []float32) { k.f32()(dst, dst) }

func (k *geluKernel) f32() func(dst, src []float32) {
	if k.tanh {
		return vecmath.GELUTanh
	}
	return vecmath.GELU
}

func (k *geluKernel) Run(ctx *ops.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) != 1 || inputs[0] == nil {
		return nil, fmt.Errorf("fused Gelu: needs one input")
	}
	x := inputs[0]
	out := ctx.AllocOverwrite(x.DType, x.Shape)
	switch src := x.Data.(type) {
	case []float32:
		dst, f := out.F32(), k.f32()
		ctx.Parallel(len(src), 1<<14, func(lo, hi int) { f(dst[lo:hi], src[lo:hi]) })
	case []float64:
		dst := out.Data.([]float64)
		for i, v := range src {
			dst[i] = geluRef(v, k.tanh)
		}
	case []tensor.Float16Bits:
		dst := out.Data.([]tensor.Float16Bits)
		for i, v := range src {
			dst[i] = tensor.Float16FromFloat32(float32(geluRef(float64(v.Float32()), k.tanh)))
		}
	case []tensor.BFloat16Bits:
		dst := out.Data.([]tensor.BFloat16Bits)
		for i, v := range src {
			dst[i] = tensor.BFloat16FromFloat32(float32(geluRef(float64(v.Float32()), k.tanh)))
		}
	default:
		return nil, fmt.Errorf("fused Gelu: input is %v, want a float type", x.DType)
	}
	return ctx.Result(out), nil
}

// geluRef is GELU in float64, the reference for the float32 kernels.
func geluRef(x float64, tanh bool) float64 {
	if tanh {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	return 0.5 * x * math.Erfc(-x/math.Sqrt2)
}
