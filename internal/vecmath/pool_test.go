package vecmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/testutil"
)

// maxPoolRef is one output of a 2-D max pool as ONNX defines it, in float64: the largest of the
// window's taps inside the plane, NaN if any of them is NaN, +0 over −0, −∞ if none is inside.
func maxPoolRef(plane []float32, inH, inW, top, left, kh, kw, dh, dw int) float32 {
	best, nan, seen := math.Inf(-1), false, false
	for ky := range kh {
		for kx := range kw {
			y, x := top+ky*dh, left+kx*dw
			if y < 0 || y >= inH || x < 0 || x >= inW {
				continue
			}
			v := float64(plane[y*inW+x])
			nan = nan || math.IsNaN(v)
			if !seen || v > best || v == 0 && best == 0 && !math.Signbit(v) {
				best = v
			}
			seen = true
		}
	}
	if nan {
		return float32(math.NaN())
	}
	return float32(best)
}

// poolGeometry is a 2-D pool for the tests.
type poolGeometry struct {
	in, out, kernel, strides, dilations, padBegin, padEnd [2]int
	countIncludePad                                       bool
}

// poolGeometries returns ResNet's stem pool, a few CNN pools and random geometries: kernels 1–4,
// strides 1–3 down and 1–2 across, dilations 1–2, padding 0–2 on each side, floor and ceil
// output sizes (so that some windows lie wholly in the padding), planes from narrower than a
// vector to several vectors and a tail.
func poolGeometries() []poolGeometry {
	one := [2]int{1, 1}
	geoms := []poolGeometry{
		{in: [2]int{112, 112}, out: [2]int{56, 56}, kernel: [2]int{3, 3}, strides: [2]int{2, 2}, dilations: one, padBegin: one, padEnd: one}, // ResNet's stem pool
		{in: [2]int{9, 9}, out: [2]int{4, 4}, kernel: [2]int{2, 2}, strides: [2]int{2, 2}, dilations: one},
		{in: [2]int{17, 35}, out: [2]int{17, 35}, kernel: [2]int{3, 3}, strides: one, dilations: one, padBegin: one, padEnd: one, countIncludePad: true},
	}
	r := rand.New(rand.NewPCG(41, 42))
	for len(geoms) < 300 {
		var g poolGeometry
		for d := range 2 {
			g.in[d] = 1 + r.IntN(40)
			if r.IntN(4) == 0 {
				g.in[d] = 1 + r.IntN(7)
			}
			g.kernel[d] = 1 + r.IntN(4)
			g.strides[d] = 1 + r.IntN(3-d)
			g.dilations[d] = 1 + r.IntN(2)
			g.padBegin[d], g.padEnd[d] = r.IntN(3), r.IntN(3)
			span := g.in[d] + g.padBegin[d] + g.padEnd[d] - ((g.kernel[d]-1)*g.dilations[d] + 1)
			if span < 0 {
				g.in[d] += -span
				span = 0
			}
			g.out[d] = span/g.strides[d] + 1
			if r.IntN(2) == 0 && span%g.strides[d] != 0 {
				g.out[d]++ // ceil mode
			}
		}
		g.countIncludePad = r.IntN(2) == 0
		geoms = append(geoms, g)
	}
	return geoms
}

// runPool runs p with the kernels of tier on 1–3 planes of random inputs, one in ten (in every
// other call one in two) drawn from special, with a scratch that starts as NaN (its contents
// must not matter), and checks that nothing past dst is written.
func runPool(t *testing.T, r *rand.Rand, tier simd.Level, p *Pool2D, special []float32, what string) (src, dst []float32) {
	t.Helper()
	if bound := max(4096, p.slot) + cacheLineFloats - 1; p.ScratchLen() > bound {
		t.Fatalf("%s: scratch of %d values, want at most %d", what, p.ScratchLen(), bound)
	}
	planes := 1 + r.IntN(3)
	src = make([]float32, planes*p.InSize())
	rare := 10
	if r.IntN(2) == 0 {
		rare = 2
	}
	for i := range src {
		src[i] = r.Float32()*4 - 2
		if r.IntN(rare) == 0 {
			src[i] = special[r.IntN(len(special))]
		}
	}
	n := planes * p.OutSize()
	dst = sentinelRow(n)
	scratch := make([]float32, p.ScratchLen())
	for i := range scratch {
		scratch[i] = float32(math.NaN())
	}
	p.runOn(tier, dst[:n], src, p.alignSlots(scratch))
	checkTail(t, dst, n, what)
	return src, dst[:n]
}

// TestMaxPool2D compares every level's max pool with maxPoolRef on poolGeometries, with NaN,
// ±Inf, ±0 and the largest floats among the inputs (often enough for windows of signed zeros
// and −∞ only).
func TestMaxPool2D(t *testing.T) {
	t.Parallel()
	inf := float32(math.Inf(1))
	special := []float32{float32(math.NaN()), inf, -inf, 0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32}
	geoms := poolGeometries()
	withGo(t, func(t *testing.T, tier simd.Level) {
		r := rand.New(rand.NewPCG(43, 44))
		for _, g := range geoms {
			what := fmt.Sprintf("%+v", g)
			p, err := NewMaxPool2D(g.in, g.out, g.kernel, g.strides, g.dilations, g.padBegin)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			src, dst := runPool(t, r, tier, p, special, what)
			for pl := range len(src) / p.InSize() {
				plane := src[pl*p.InSize() : (pl+1)*p.InSize()]
				for oy := range g.out[0] {
					for ox := range g.out[1] {
						want := maxPoolRef(plane, g.in[0], g.in[1], oy*g.strides[0]-g.padBegin[0], ox*g.strides[1]-g.padBegin[1],
							g.kernel[0], g.kernel[1], g.dilations[0], g.dilations[1])
						if got := dst[pl*p.OutSize()+oy*g.out[1]+ox]; !sameFloat(got, want) {
							t.Fatalf("%s: plane %d, output (%d, %d) = %g, want %g", what, pl, oy, ox, got, want)
						}
					}
				}
			}
		}
	})
}

// averagePoolRef is one output of a 2-D average pool as ONNX defines it, in float64: the mean of
// the window's taps inside the plane, over their count or (countIncludePad) the count of taps
// inside the padded plane, NaN for a count of 0; and the mean's magnitude scale (Σ|tap|/count).
func averagePoolRef(plane []float32, g poolGeometry, oy, ox int) (mean, scale float64) {
	count, sum, abs := 0, 0.0, 0.0
	for ky := range g.kernel[0] {
		for kx := range g.kernel[1] {
			y := oy*g.strides[0] - g.padBegin[0] + ky*g.dilations[0]
			x := ox*g.strides[1] - g.padBegin[1] + kx*g.dilations[1]
			inside := y >= 0 && y < g.in[0] && x >= 0 && x < g.in[1]
			padded := y >= -g.padBegin[0] && y < g.in[0]+g.padEnd[0] && x >= -g.padBegin[1] && x < g.in[1]+g.padEnd[1]
			if inside {
				v := float64(plane[y*g.in[1]+x])
				sum += v
				abs += math.Abs(v)
			}
			if inside || g.countIncludePad && padded {
				count++
			}
		}
	}
	if count == 0 {
		return math.NaN(), 0
	}
	return sum / float64(count), abs / float64(count)
}

// TestAveragePool2D compares every level's average pool with averagePoolRef on poolGeometries,
// with and without count_include_pad, NaN, ±Inf and ±0 among the inputs: within float32
// rounding of the sum (6e-7 of the taps' magnitudes per tap), the same NaN and infinities; and
// the assembly kernels with the Go one bit for bit (they sum in the same order).
func TestAveragePool2D(t *testing.T) {
	t.Parallel()
	inf := float32(math.Inf(1))
	special := []float32{float32(math.NaN()), inf, -inf, 0, float32(math.Copysign(0, -1))}
	geoms := poolGeometries()
	withGo(t, func(t *testing.T, tier simd.Level) {
		r := rand.New(rand.NewPCG(45, 46))
		for _, g := range geoms {
			what := fmt.Sprintf("%+v", g)
			p, err := NewAveragePool2D(g.in, g.out, g.kernel, g.strides, g.dilations, g.padBegin, g.padEnd, g.countIncludePad)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			src, dst := runPool(t, r, tier, p, special, what)
			inGo := make([]float32, len(dst))
			p.runOn(simd.Go, inGo, src, p.alignSlots(make([]float32, p.ScratchLen())))
			taps := float64(g.kernel[0] * g.kernel[1])
			for pl := range len(src) / p.InSize() {
				plane := src[pl*p.InSize() : (pl+1)*p.InSize()]
				for oy := range g.out[0] {
					for ox := range g.out[1] {
						at := pl*p.OutSize() + oy*g.out[1] + ox
						got := dst[at]
						if !sameFloat(got, inGo[at]) {
							t.Fatalf("%s: plane %d, output (%d, %d) = %g, the Go kernel's %g", what, pl, oy, ox, got, inGo[at])
						}
						want, scale := averagePoolRef(plane, g, oy, ox)
						switch {
						case math.IsNaN(want) || math.IsInf(want, 0):
							if !sameFloat(got, float32(want)) {
								t.Fatalf("%s: plane %d, output (%d, %d) = %g, want %g", what, pl, oy, ox, got, want)
							}
						case math.Abs(float64(got)-want) > 6e-7*taps*scale:
							t.Fatalf("%s: plane %d, output (%d, %d) = %g, want %g (±%g)", what, pl, oy, ox, got, want, 6e-7*taps*scale)
						}
					}
				}
			}
		}
	})
}

// TestPool2DRejects checks that Pool2D refuses what it does not pool: a horizontal stride
// above 2, sizes below 1, and Run's mismatched lengths.
func TestPool2DRejects(t *testing.T) {
	t.Parallel()
	one := [2]int{1, 1}
	if _, err := NewMaxPool2D([2]int{8, 8}, [2]int{3, 3}, [2]int{2, 2}, [2]int{2, 3}, one, [2]int{}); err == nil {
		t.Error("horizontal stride 3 was accepted")
	}
	if _, err := NewMaxPool2D([2]int{8, 0}, one, one, one, one, [2]int{}); err == nil {
		t.Error("an empty plane was accepted")
	}
	p, err := NewMaxPool2D([2]int{4, 4}, [2]int{2, 2}, [2]int{2, 2}, [2]int{2, 2}, one, [2]int{})
	if err != nil {
		t.Fatal(err)
	}
	scratch := make([]float32, p.ScratchLen())
	if err := p.Run(make([]float32, 4), make([]float32, 15), scratch); err == nil {
		t.Error("a partial plane was accepted")
	}
	if err := p.Run(make([]float32, 3), make([]float32, 16), scratch); err == nil {
		t.Error("a short dst was accepted")
	}
	if err := p.Run(make([]float32, 4), make([]float32, 16), scratch[:len(scratch)-1]); err == nil {
		t.Error("a short scratch was accepted")
	}
	if err := p.Run(make([]float32, 8), make([]float32, 32), scratch); err != nil {
		t.Errorf("two planes: %v", err)
	}
}

// BenchmarkMaxPool2D is ResNet-18's stem pool (3×3, stride 2, pad 1) with each level's kernels,
// over its 64 planes of 112×112 (3.2 MB, past L2) and over one plane (in L1 and L2).
func BenchmarkMaxPool2D(b *testing.B) {
	p, err := NewMaxPool2D([2]int{112, 112}, [2]int{56, 56}, [2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, [2]int{1, 1})
	if err != nil {
		b.Fatal(err)
	}
	scratch := make([]float32, p.ScratchLen())
	withKernels(func(tier simd.Level) {
		for _, planes := range []int{1, 64} {
			src := make([]float32, planes*p.InSize())
			for i := range src {
				src[i] = float32(math.Sin(float64(i)))
			}
			dst := make([]float32, planes*p.OutSize())
			b.Run(fmt.Sprintf("%s/planes=%d", tier, planes), func(b *testing.B) {
				b.SetBytes(int64(4 * len(src)))
				start := testutil.ProcessCPU()
				for b.Loop() {
					p.runOn(tier, dst, src, p.alignSlots(scratch))
				}
				testutil.ReportCPU(b, start, float64(9*len(dst)))
			})
		}
	})
}
