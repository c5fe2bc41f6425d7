package actkernel

import (
	"sync"

	"github.com/actswap/actswap/internal/half"
	"github.com/actswap/actswap/tensor"
)

// halfBlock is how many elements of a float16 or bfloat16 tensor are widened to float32 at a
// time: 16 KiB of float32 beside 8 KiB of 16-bit input and output stays in a core's L1 (32–48
// KiB), so a block is converted, evaluated and narrowed without touching memory in between, and
// a run needs no float32 copy of the tensor (memory: one block per goroutine).
const halfBlock = 4096

var halfBlocks = sync.Pool{New: func() any { b := make([]float32, halfBlock); return &b }}

// ApplyFloat16 is Apply for float16 tensors: blocks of halfBlock elements (whole rows where the
// channel axis is the last one) are widened exactly to float32, evaluated by the float32 loops
// and rounded back to nearest even; NaN and ±Inf survive both conversions. dst may be src.
func (k *Kernel) ApplyFloat16(dst, src []tensor.Float16Bits, outer, inner int, par Parallel) {
	applyHalf(k, dst, src, outer, inner, par)
}

// ApplyBFloat16 is ApplyFloat16 for bfloat16 tensors.
func (k *Kernel) ApplyBFloat16(dst, src []tensor.BFloat16Bits, outer, inner int, par Parallel) {
	applyHalf(k, dst, src, outer, inner, par)
}

// applyHalf splits the work as Apply does (the same units, grains and per-layout loops), and
// each goroutine converts its units through one pooled float32 block.
func applyHalf[T half.Bits](k *Kernel, dst, src []T, outer, inner int, par Parallel) {
	tab, c, x := k.tab, k.tab.channels(), k.level
	// through evaluates op on src[lo:hi] widened into buf and narrows the result into dst[lo:hi].
	through := func(buf []float32, lo, hi int, op func(f []float32)) {
		f := buf[:hi-lo]
		half.ToFloat32(x, f, src[lo:hi])
		op(f)
		half.FromFloat32(x, dst[lo:hi], f)
	}
	// units runs body with a block of at least minLen floats.
	units := func(n, grain, minLen int, body func(buf []float32, lo, hi int)) {
		par(n, grain, func(lo, hi int) {
			p := halfBlocks.Get().(*[]float32)
			if cap(*p) < minLen {
				*p = make([]float32, minLen)
			}
			body((*p)[:cap(*p)], lo, hi)
			halfBlocks.Put(p)
		})
	}
	switch {
	case c == 1:
		units(len(src), parallelGrain, halfBlock, func(buf []float32, lo, hi int) {
			for b := lo; b < hi; b += halfBlock {
				through(buf, b, min(b+halfBlock, hi), func(f []float32) { tab.apply(f, f, 0, false) })
			}
		})
	case inner == 1:
		// Rows of C channels, whole rows per block (a row longer than a block gets a block of its own).
		rows := max(1, halfBlock/c)
		units(outer, max(1, parallelGrain/c), rows*c, func(buf []float32, lo, hi int) {
			for r := lo; r < hi; r += rows {
				through(buf, r*c, min(r+rows, hi)*c, func(f []float32) {
					for i := 0; i < len(f); i += c {
						tab.applyRow(f[i:i+c], f[i:i+c], 0)
					}
				})
			}
		})
	default:
		// Runs of inner elements, run r of channel r % c: several short runs per block, or one
		// long run over several blocks.
		runs := max(1, halfBlock/max(inner, 1))
		units(outer*c, max(1, parallelGrain/max(inner, 1)), halfBlock, func(buf []float32, lo, hi int) {
			for r := lo; r < hi; r += runs {
				end := min(r+runs, hi)
				for b := r * inner; b < end*inner; b += halfBlock {
					through(buf, b, min(b+halfBlock, end*inner), func(f []float32) {
						for i := 0; i < len(f); {
							run := b + i - (b+i)%inner // where the element's run starts
							ch := (run / inner) % c
							n := min(len(f)-i, run+inner-(b+i))
							seg := f[i : i+n]
							if inner < shortRun {
								for j, v := range seg {
									seg[j] = tab.eval(v, ch)
								}
							} else {
								tab.apply(seg, seg, ch, false)
							}
							i += n
						}
					})
				}
			}
		})
	}
}
