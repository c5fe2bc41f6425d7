package runtime

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// fuseGelus replaces the GELU chains exporters write out in primitive ops by one gelu node:
//
//	erf:  Div(x, √2) or Mul(x, 1/√2) → Erf → Add(1) → product with 0.5 and x
//	tanh: x + 0.044715·x³ (Pow(x, 3) or x·x·x) → Mul(√(2/π)) → Tanh → Add(1) → product with 0.5 and x
//
// "product with 0.5 and x" is Mul(x, ·) then Mul(0.5), or Mul(·, Mul(x, 0.5)), in any operand
// order. Every inner value must be read only inside the chain.
func fuseGelus(o *optimizer) int {
	count := 0
	prod := o.producers()
	for i := range o.g.nodes {
		if o.dead[i] {
			continue
		}
		var x int
		var chain []int
		var tanh bool
		switch {
		case o.isOp(i, "Erf"):
			x, chain = matchErfArgument(o, prod, i)
		case o.isOp(i, "Tanh"):
			x, chain = matchTanhArgument(o, prod, i)
			tanh = true
		default:
			continue
		}
		if chain == nil {
			continue
		}
		root, tail := matchGeluTail(o, prod, i, x)
		if tail == nil {
			continue
		}
		out := o.g.nodes[root].outputs[0]
		n := &node{label: o.g.nodes[root].label, opType: "Gelu", kernel: &geluKernel{tanh: tanh},
			inputs: []int{x}, outputs: []int{out}}
		for _, j := range append(chain, tail...) {
			o.dead[j] = true
		}
		o.dead[i] = true
		o.g.nodes[root] = n
		o.dead[root] = false
		count++
	}
	return count
}

// operands returns a binary node's two inputs.
func (o *optimizer) operands(i int) (int, int, bool) {
	n := o.g.nodes[i]
	if len(n.inputs) != 2 || n.inputs[0] < 0 || n.inputs[1] < 0 {
		return -1, -1, false
	}
	return n.inputs[0], n.inputs[1], true
}

// constNear reports whether slot s is a one-element constant close to want.
func (o *optimizer) constNear(s int, want float64) bool {
	v, ok := tensor.ScalarValue(o.g.consts[s])
	return ok && near(v, want)
}

// internalFrom returns the producer of s when s is read only by node reader.
func (o *optimizer) internalFrom(prod []int, s, reader int) int {
	if s < 0 || prod[s] < 0 || o.soleReader(s) != reader {
		return -1
	}
	if _, ok := o.singleOutput(prod[s]); !ok {
		return -1
	}
	return prod[s]
}

// matchErfArgument matches x/√2 feeding Erf node e; it returns x and the scaling node.
func matchErfArgument(o *optimizer, prod []int, e int) (int, []int) {
	in := o.g.nodes[e].inputs
	if len(in) != 1 {
		return -1, nil
	}
	d := o.internalFrom(prod, in[0], e)
	if d < 0 {
		return -1, nil
	}
	a, b, ok := o.operands(d)
	if !ok {
		return -1, nil
	}
	switch {
	case o.isOp(d, "Div") && o.constNear(b, math.Sqrt2):
		return a, []int{d}
	case o.isOp(d, "Mul") && o.constNear(b, 1/math.Sqrt2):
		return a, []int{d}
	case o.isOp(d, "Mul") && o.constNear(a, 1/math.Sqrt2):
		return b, []int{d}
	}
	return -1, nil
}

// matchTanhArgument matches √(2/π)·(x + 0.044715·x³) feeding Tanh node t.
func matchTanhArgument(o *optimizer, prod []int, t int) (int, []int) {
	in := o.g.nodes[t].inputs
	if len(in) != 1 {
		return -1, nil
	}
	m := o.internalFrom(prod, in[0], t)
	if m < 0 || !o.isOp(m, "Mul") {
		return -1, nil
	}
	a, b, _ := o.operands(m)
	w := -1
	switch {
	case o.constNear(a, math.Sqrt(2/math.Pi)):
		w = b
	case o.constNear(b, math.Sqrt(2/math.Pi)):
		w = a
	default:
		return -1, nil
	}
	add := o.internalFrom(prod, w, m)
	if add < 0 || !o.isOp(add, "Add") {
		return -1, nil
	}
	p, q, _ := o.operands(add)
	for _, pair := range [][2]int{{p, q}, {q, p}} {
		x, t3 := pair[0], pair[1]
		if cube := matchCubeTerm(o, prod, t3, add, x); cube != nil {
			return x, append([]int{m, add}, cube...)
		}
	}
	return -1, nil
}

// matchCubeTerm matches 0.044715·x³ in value s read by node reader.
func matchCubeTerm(o *optimizer, prod []int, s, reader, x int) []int {
	m := o.internalFrom(prod, s, reader)
	if m < 0 || !o.isOp(m, "Mul") {
		return nil
	}
	a, b, _ := o.operands(m)
	c := -1
	switch {
	case o.constNear(a, 0.044715):
		c = b
	case o.constNear(b, 0.044715):
		c = a
	default:
		return nil
	}
	p := o.internalFrom(prod, c, m)
	if p < 0 {
		return nil
	}
	u, v, ok := o.operands(p)
	if !ok {
		return nil
	}
	if o.isOp(p, "Pow") && u == x && o.constNear(v, 3) {
		return []int{m, p}
	}
	if !o.isOp(p, "Mul") {
		return nil
	}
	// x·(x·x) in either order.
	for _, pair := range [][2]int{{u, v}, {v, u}} {
		if pair[0] != x {
			continue
		}
		sq := o.internalFrom(prod, pair[1], p)
		if sq < 0 || !o.isOp(sq, "Mul") {
			continue
		}
		if s1, s2, _ := o.operands(sq); s1 == x && s2 == x {
			return []int{m, p, sq}
		}
	}
	return nil
}

// matchGeluTail matches Add(f, 1) after node f, then the product with x and 0.5. It returns the
// root (last) node and the tail's nodes.
func matchGeluTail(o *optimizer, prod []int, f, x int) (int, []int) {
	fout, ok := o.singleOutput(f)
	if !ok {
		return -1, nil
	}
	add := o.soleReader(fout)
	if add < 0 || !o.isOp(add, "Add") {
		return -1, nil
	}
	a, b, ok := o.operands(add)
	if !ok || !(a == fout && o.constNear(b, 1) || b == fout && o.constNear(a, 1)) {
		return -1, nil
	}
	nodes := []int{add}
	cur := add
	haveX, haveHalf := false, false
	for step := 0; step < 2 && !(haveX && haveHalf); step++ {
		out, ok := o.singleOutput(cur)
		if !ok {
			return -1, nil
		}
		m := o.soleReader(out)
		if m < 0 || !o.isOp(m, "Mul") {
			return -1, nil
		}
		p, q, ok := o.operands(m)
		if !ok {
			return -1, nil
		}
		other := q
		if q == out {
			other = p
		}
		switch {
		case other == x && !haveX:
			haveX = true
		case o.constNear(other, 0.5) && !haveHalf:
			haveHalf = true
		case !haveX && !haveHalf:
			h := o.internalFrom(prod, other, m)
			if h < 0 || !o.isOp(h, "Mul") {
				return -1, nil
			}
			u, v, _ := o.operands(h)
			if !(u == x && o.constNear(v, 0.5) || v == x && o.constNear(u, 0.5)) {
				return -1, nil
			}
			haveX, haveHalf = true, true
			nodes = append(nodes, h)
		default:
			return -1, nil
		}
		nodes = append(nodes, m)
		cur = m
	}
	if !(haveX && haveHalf) {
		return -1, nil
	}
	root := nodes[len(nodes)-1]
	if _, ok := o.singleOutput(root); !ok {
		return -1, nil
	}
	return root, nodes[:len(nodes)-1]
}

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
