package actkernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// halfShapes are layouts that take each of applyHalf's loops: per-tensor over several blocks and
// a short one; per channel with the channel axis last (rows, several rows per block), inner runs
// shorter than shortRun, inner runs of a few per block, and runs longer than a block.
func halfShapes(c int) []struct {
	shape []int
	axis  int
} {
	if c == 1 {
		return []struct {
			shape []int
			axis  int
		}{{[]int{3, 5001}, 1}, {[]int{13}, 0}}
	}
	return []struct {
		shape []int
		axis  int
	}{{[]int{700, c}, -1}, {[]int{2, c, 5}, 1}, {[]int{2, c, 300}, 1}, {[]int{2, c, halfBlock + 77}, 1}}
}

// The float16 and bfloat16 paths give, bit for bit, what the float32 kernel gives on the widened
// input, rounded to nearest even (tensor's scalar conversions) — at every level, serial and in
// concurrent chunks, in place too — and so inherit its accuracy against float64 (the tests
// above) up to the final rounding, which TestHalfAgainstReference bounds.
func TestHalfMatchesFloat32(t *testing.T) {
	t.Parallel()
	eachPath(t, func(t *testing.T, x simd.Level) {
		rng := rand.New(rand.NewPCG(31, 32))
		for _, c := range acttest.KernelCases() {
			params, _ := acttest.Float32Params(t, c)
			k, err := newOn(x, c.Fam, c.Gate, params)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			for _, s := range halfShapes(len(c.Chans)) {
				outer, inner, err := Plan(s.shape, s.axis, k.Channels())
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				label := fmt.Sprintf("%s %v", c.Name, s.shape)
				xs := acttest.Inputs(tensor.NumElements(s.shape), rng)
				checkHalf(t, label+" float16", k, outer, inner, xs, tensor.Float16FromFloat32)
				checkHalf(t, label+" bfloat16", k, outer, inner, xs, tensor.BFloat16FromFloat32)
			}
		}
	})
}

func checkHalf[T interface {
	tensor.Float16Bits | tensor.BFloat16Bits
	Float32() float32
}](t *testing.T, label string, k *Kernel, outer, inner int, xs []float32, round func(float32) T) {
	t.Helper()
	in := make([]T, len(xs))
	for i, v := range xs {
		in[i] = round(v)
	}
	// want is the float32 kernel on the same split of the work (the vector loops and their Go
	// tails may differ in the sign of a zero result, so the split must be the same).
	want := func(par Parallel) []T {
		wide := make([]float32, len(xs))
		for i, h := range in {
			wide[i] = h.Float32()
		}
		k.Apply(wide, wide, outer, inner, par)
		out := make([]T, len(xs))
		for i, v := range wide {
			out[i] = round(v)
		}
		return out
	}
	apply := func(dst, src []T, par Parallel) {
		switch d := any(dst).(type) {
		case []tensor.Float16Bits:
			k.ApplyFloat16(d, any(src).([]tensor.Float16Bits), outer, inner, par)
		case []tensor.BFloat16Bits:
			k.ApplyBFloat16(d, any(src).([]tensor.BFloat16Bits), outer, inner, par)
		}
	}
	for _, run := range []struct {
		name    string
		par     Parallel
		inPlace bool
	}{{"serial", Serial, false}, {"chunks", chunked, false}, {"in place", chunked, true}} {
		got := make([]T, len(xs))
		if run.inPlace {
			copy(got, in)
			apply(got, got, run.par)
		} else {
			apply(got, in, run.par)
		}
		want := want(run.par)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s %s: element %d (x=%v): got %#04x (%v), want %#04x (%v)", label, run.name, i, in[i].Float32(),
					uint16(got[i]), got[i].Float32(), uint16(want[i]), want[i].Float32())
			}
		}
	}
}

// Against the float64 reference at the float16 inputs, within acttest.HalfTolerance.
func TestHalfAgainstReference(t *testing.T) {
	t.Parallel()
	eachPath(t, func(t *testing.T, x simd.Level) {
		rng := rand.New(rand.NewPCG(33, 34))
		for _, c := range acttest.KernelCases() {
			params, ps := acttest.Float32Params(t, c)
			k, err := newOn(x, c.Fam, c.Gate, params)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			s := halfShapes(len(c.Chans))[0]
			outer, inner, _ := Plan(s.shape, s.axis, k.Channels())
			xs := acttest.Inputs(tensor.NumElements(s.shape), rng)
			in := make([]tensor.Float16Bits, len(xs))
			for i, v := range xs {
				in[i] = tensor.Float16FromFloat32(v)
			}
			got := make([]tensor.Float16Bits, len(in))
			k.ApplyFloat16(got, in, outer, inner, Serial)
			acttest.CheckFloat16AgainstReference(t, c.Name, ps, s.shape, s.axis, in, got)
		}
	})
}

// BenchmarkApplyFloat16 compares a float16 tensor's pass (widen a block, the float32 kernel,
// round back) with the float32 kernel alone on the same elements and with the whole-tensor copy
// it replaced (PWLU, 16 intervals, 1 Mi elements, one goroutine). Bytes are the element count times 4 in both, so MB/s compare the
// work per element.
func BenchmarkApplyFloat16(b *testing.B) {
	const n = 1 << 20
	params, _ := acttest.Float32Params(&testing.T{}, acttest.KernelCases()[3])
	for _, x := range simd.Levels(simd.Host()) {
		k, err := newOn(x, onnxops.FamilyPWLU, false, params)
		if err != nil {
			b.Fatal(err)
		}
		xs := acttest.Inputs(n, rand.New(rand.NewPCG(1, 1)))
		h := make([]tensor.Float16Bits, n)
		for i, v := range xs {
			h[i] = tensor.Float16FromFloat32(v)
		}
		b.Run("float32/"+x.String(), func(b *testing.B) {
			b.SetBytes(4 * n)
			y := make([]float32, n)
			for b.Loop() {
				k.Apply(y, xs, 1, n, Serial)
			}
		})
		b.Run("float16/"+x.String(), func(b *testing.B) {
			b.SetBytes(4 * n)
			y := make([]tensor.Float16Bits, n)
			for b.Loop() {
				k.ApplyFloat16(y, h, 1, n, Serial)
			}
		})
		// What runtime/ops did before ApplyFloat16: the whole tensor widened to a float32 copy
		// element by element, the kernel, and rounded back element by element.
		b.Run("float16-whole-copy/"+x.String(), func(b *testing.B) {
			b.SetBytes(4 * n)
			y := make([]tensor.Float16Bits, n)
			for b.Loop() {
				buf := make([]float32, n)
				for i, v := range h {
					buf[i] = v.Float32()
				}
				k.Apply(buf, buf, 1, n, Serial)
				for i, v := range buf {
					y[i] = tensor.Float16FromFloat32(v)
				}
			}
		})
	}
}
