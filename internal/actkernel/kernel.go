// Package actkernel holds the float32 kernels of the ai.actswap operators (Zorro, PWLU, CRReLU):
// per-channel constant tables built once from a node's parameters, loops generated with avo
// (AVX2+FMA for all three, AVX-512F for PWLU) and pure-Go fallbacks. Its API is slice-level, so
// that actswap's runtime (runtime/ops) and the onnxruntime plugin (ortplugin) run the same code;
// the operators' definition — reference math, parameters, function bodies — stays in onnxops,
// which links no kernel.
//
// Files: kernel.go (the API), tables.go and exp32.go (tables and pure-Go loops), asm/ (the avo
// generator of kernels_amd64.s; `go generate ./internal/actkernel`), dispatch_amd64.go (assembly
// or Go by CPU features) and dispatch_other.go (Go only).
package actkernel

import (
	"fmt"

	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// Kernel is one node's operator with its parameters decoded, validated and laid out as the
// float32 loops read them. It is immutable after New and safe for concurrent use.
type Kernel struct {
	fam    onnxops.Family
	params []onnxops.Params
	tab    table
	level  simd.Level // of tab's loops, and of the float16 conversions around them
}

// table is a family's precomputed float32 constants, one set per channel.
type table interface {
	channels() int
	// apply evaluates the operator with channel ch's constants; len(dst) == len(src). stream
	// asks for non-temporal stores: the whole output is far larger than the caches.
	apply(dst, src []float32, ch int, stream bool)
	// eval is one element of channel ch, for layouts where channels change every few elements.
	eval(x float32, ch int) float32
	// applyRow evaluates consecutive channels in order (element i is channel ch0+i): a row, or a
	// piece of one, of a tensor whose channel axis is the last one.
	applyRow(dst, src []float32, ch0 int)
}

// New decodes and validates a node's parameter tensors (the inputs after X, in the order of
// onnxops.ParamInputNames) and builds the kernel. gate is Zorro's attribute (false otherwise).
func New(fam onnxops.Family, gate bool, params []*tensor.Tensor) (*Kernel, error) {
	return newOn(simd.Host(), fam, gate, params)
}

// newOn is New with the loops of level x (tests build one kernel per level the CPU has).
func newOn(x simd.Level, fam onnxops.Family, gate bool, params []*tensor.Tensor) (*Kernel, error) {
	ps, err := onnxops.ParamsFromTensors(fam, params)
	if err != nil {
		return nil, err
	}
	k := &Kernel{fam: fam, params: ps, level: x}
	switch fam {
	case onnxops.FamilyCRReLU:
		k.tab = newCRReLUTable(x, ps)
	case onnxops.FamilyPWLU:
		k.tab = newPWLUTable(x, ps)
	case onnxops.FamilyZorro:
		for i := range ps {
			z := ps[i].(onnxops.ZorroParams)
			z.Gate = gate
			ps[i] = z
		}
		k.tab = newZorroTable(x, ps, gate)
	default:
		return nil, fmt.Errorf("unknown family %q", fam)
	}
	return k, nil
}

// Channels is C: 1 for per-tensor parameters.
func (k *Kernel) Channels() int { return k.tab.channels() }

// Params are the decoded parameter sets, one per channel (Zorro's carry the gate), for callers
// that evaluate other element types with the float64 reference.
func (k *Kernel) Params() []onnxops.Params { return k.params }

// Plan views a tensor of the given shape as [outer, C, inner] around the channel axis (negative
// axes count from the end); with per-tensor parameters (C = 1) it is [1, 1, len]. The error
// names the axis, the shape and C, not the node: callers add that.
func Plan(shape []int, axis, c int) (outer, inner int, err error) {
	n := tensor.NumElements(shape)
	if c == 1 {
		return 1, n, nil
	}
	a := axis
	if a < 0 {
		a += len(shape)
	}
	if a < 0 || a >= len(shape) {
		return 0, 0, fmt.Errorf("axis %d is out of range for X of shape %s (per-channel parameters with C=%d)", axis, tensor.ShapeString(shape), c)
	}
	if shape[a] != c {
		return 0, 0, fmt.Errorf("per-channel parameters have C=%d but X of shape %s has %d along axis %d", c, tensor.ShapeString(shape), shape[a], axis)
	}
	return tensor.NumElements(shape[:a]), tensor.NumElements(shape[a+1:]), nil
}

// Parallel runs body over [0, n) in chunks of at least grain items, possibly concurrently, and
// returns when every chunk is done. Serial is the one-goroutine Parallel.
type Parallel func(n, grain int, body func(lo, hi int))

// Serial runs body(0, n) on the calling goroutine.
func Serial(n, _ int, body func(lo, hi int)) {
	if n > 0 {
		body(0, n)
	}
}

// Apply evaluates dst = op(src) for a tensor laid out as [outer, C, inner] (see Plan);
// len(dst) == len(src) == outer·C·inner, and dst may be src.
func (k *Kernel) Apply(dst, src []float32, outer, inner int, par Parallel) {
	tab, c := k.tab, k.tab.channels()
	stream := len(src) >= streamMinElems
	if c == 1 {
		par(len(src), parallelGrain, func(lo, hi int) { tab.apply(dst[lo:hi], src[lo:hi], 0, stream) })
		return
	}
	if inner == 1 {
		par(outer, max(1, parallelGrain/c), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				tab.applyRow(dst[r*c:(r+1)*c], src[r*c:(r+1)*c], 0)
			}
		})
		return
	}
	if inner < shortRun {
		// Channels change every few elements (a channel axis at or near the end): one call per
		// element is cheaper than one vector-kernel call per short run.
		par(outer*c, max(1, parallelGrain/max(inner, 1)), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				ch := r % c
				for i := r * inner; i < (r+1)*inner; i++ {
					dst[i] = tab.eval(src[i], ch)
				}
			}
		})
		return
	}
	par(outer*c, max(1, parallelGrain/max(inner, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			tab.apply(dst[r*inner:(r+1)*inner], src[r*inner:(r+1)*inner], r%c, stream)
		}
	})
}

// ApplyFloat64 evaluates float64 data with the float64 reference, laid out as for Apply.
func (k *Kernel) ApplyFloat64(dst, src []float64, outer, inner int, par Parallel) {
	ps, c := k.params, len(k.params)
	par(outer*c, max(1, parallelGrain/max(inner, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p := ps[r%c]
			for i := r * inner; i < (r+1)*inner; i++ {
				dst[i] = p.Eval(src[i])
			}
		}
	})
}

// Elementwise returns the operator as an in-place transform of any float32 slice, for fusing it
// into the epilogue of the product that feeds it; nil for per-channel parameters, which need
// each element's channel.
func (k *Kernel) Elementwise() func(dst []float32) {
	if k.tab.channels() != 1 {
		return nil
	}
	tab := k.tab
	return func(dst []float32) { tab.apply(dst, dst, 0, false) }
}

// Columns returns the operator as an in-place transform of consecutive channels — dst[i] has
// channel ch0+i, and ch0+len(dst) ≤ Channels() — for fusing per-channel parameters (per-tensor
// ones too) into the epilogue of a product whose columns are the channels (a MatMul feeding a
// channels-last activation): each piece of a row runs while it is still in cache. It may be
// called concurrently on disjoint pieces.
func (k *Kernel) Columns() func(dst []float32, ch0 int) {
	tab := k.tab
	if tab.channels() == 1 {
		return func(dst []float32, _ int) { tab.apply(dst, dst, 0, false) }
	}
	return func(dst []float32, ch0 int) { tab.applyRow(dst, dst, ch0) }
}

// parallelGrain is the number of elements below which splitting across goroutines costs more than
// it saves.
const parallelGrain = 1 << 15

// shortRun is the run length of one channel below which Apply evaluates element by element.
const shortRun = 16

// streamMinElems is the output size (elements) from which kernels write with non-temporal
// stores: 32 MiB of float32, beyond the last-level caches, where reading each destination line
// in before overwriting it only costs bandwidth. Smaller outputs stay in cache for the next op.
const streamMinElems = 8 << 20
