package actkernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// eachPath runs f, in parallel subtests, with the pure-Go kernels and with each assembly level
// the CPU has; f builds its kernels with newOn(x, …).
func eachPath(t *testing.T, f func(t *testing.T, x simd.Level)) {
	for x := simd.Go; x <= simd.Host(); x++ {
		t.Run(x.String(), func(t *testing.T) {
			t.Parallel()
			f(t, x)
		})
	}
}

func TestKernelsAgainstReference(t *testing.T) {
	t.Parallel()
	eachPath(t, func(t *testing.T, x simd.Level) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, c := range acttest.KernelCases() {
			params, ps := acttest.Float32Params(t, c)
			shapes := [][]int{{7, 301}, {2, 3, 5, 41}}
			if len(ps) > 1 {
				shapes = [][]int{{101, len(ps)}, {2, len(ps), 5, 41}}
			}
			for _, shape := range shapes {
				axis := 1
				if len(ps) > 1 && shape[0] == 101 {
					axis = -1
				}
				k, err := newOn(x, c.Fam, c.Gate, params)
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				outer, inner, err := Plan(shape, axis, k.Channels())
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				xs := acttest.Inputs(tensor.NumElements(shape), rng)
				for _, par := range []struct {
					name string
					run  Parallel
				}{{"serial", Serial}, {"chunks", chunked}} {
					ys := make([]float32, len(xs))
					k.Apply(ys, xs, outer, inner, par.run)
					acttest.CheckAgainstReference(t, fmt.Sprintf("%s %v %s", c.Name, shape, par.name), ps, shape, axis, xs, ys)
				}
			}
		}
	})
}

// Every length from 0 to 40 checks the vector loop's tail handling.
func TestKernelTails(t *testing.T) {
	t.Parallel()
	eachPath(t, func(t *testing.T, x simd.Level) {
		rng := rand.New(rand.NewPCG(3, 4))
		eachPerTensorTable(t, x, func(c acttest.KernelCase, ps []onnxops.Params, tab table) {
			for n := 0; n <= 40; n++ {
				xs := acttest.Inputs(64, rng)[64-n:]
				dst := make([]float32, n+1)
				dst[n] = 12345 // sentinel: the kernel must not write past len(src)
				tab.apply(dst[:n], xs, 0, false)
				if dst[n] != 12345 {
					t.Fatalf("%s: n=%d: wrote past the end", c.Name, n)
				}
				acttest.CheckAgainstReference(t, fmt.Sprintf("%s n=%d", c.Name, n), ps, []int{n}, 0, xs, dst[:n])
			}
		})
	})
}

// TestKernelStreaming takes the non-temporal-store path (used for large outputs) on slices at
// every alignment, so its aligned head and tail are checked too.
func TestKernelStreaming(t *testing.T) { eachPath(t, testKernelStreaming) }

func testKernelStreaming(t *testing.T, x simd.Level) {
	rng := rand.New(rand.NewPCG(19, 20))
	eachPerTensorTable(t, x, func(c acttest.KernelCase, ps []onnxops.Params, tab table) {
		xs := acttest.Inputs(300, rng)
		for off := 0; off < 16; off++ {
			dst := make([]float32, 300)
			tab.apply(dst[off:], xs[off:], 0, true)
			acttest.CheckAgainstReference(t, fmt.Sprintf("%s streaming offset %d", c.Name, off), ps, []int{300 - off}, 0, xs[off:], dst[off:])
		}
	})
}

// eachPerTensorTable calls f with the level-x table of every per-tensor kernel case.
func eachPerTensorTable(t *testing.T, x simd.Level, f func(c acttest.KernelCase, ps []onnxops.Params, tab table)) {
	t.Helper()
	for _, c := range acttest.KernelCases() {
		if len(c.Chans) > 1 {
			continue
		}
		params, ps := acttest.Float32Params(t, c)
		tab, err := buildTable(x, c, params)
		if err != nil {
			t.Fatal(err)
		}
		f(c, ps, tab)
	}
}

func buildTable(x simd.Level, c acttest.KernelCase, params []*tensor.Tensor) (table, error) {
	k, err := newOn(x, c.Fam, c.Gate, params)
	if err != nil {
		return nil, err
	}
	return k.tab, nil
}

// chunked is a Parallel that runs body over chunks of 7 rows, concurrently, so that the
// kernels' splitting of rows and channels is checked as the runtime's workers split it.
func chunked(n, _ int, body func(lo, hi int)) {
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += 7 {
		wg.Add(1)
		go func(lo int) {
			defer wg.Done()
			body(lo, min(lo+7, n))
		}(lo)
	}
	wg.Wait()
}

// Plan's errors name the axis, the shape and C.
func TestPlanErrors(t *testing.T) {
	t.Parallel()
	if _, _, err := Plan([]int{2, 4}, 1, 3); err == nil || !strings.Contains(err.Error(), "C=3") {
		t.Errorf("C=3 against X.shape[1]=4: %v", err)
	}
	if _, _, err := Plan([]int{2, 3}, 5, 3); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("axis 5 on rank 2: %v", err)
	}
	if o, i, err := Plan([]int{2, 3, 5}, -2, 3); err != nil || o != 2 || i != 5 {
		t.Errorf("axis -2: %d %d %v", o, i, err)
	}
	if o, i, err := Plan([]int{2, 3, 5}, 9, 1); err != nil || o != 1 || i != 30 {
		t.Errorf("per tensor: %d %d %v", o, i, err)
	}
}

// Elementwise works in place and only for per-tensor parameters.
func TestElementwise(t *testing.T) {
	t.Parallel()
	for _, c := range acttest.KernelCases() {
		params, ps := acttest.Float32Params(t, c)
		k, err := New(c.Fam, c.Gate, params)
		if err != nil {
			t.Fatal(err)
		}
		act := k.Elementwise()
		if len(ps) > 1 {
			if act != nil {
				t.Errorf("%s: per-channel kernel offered an in-place function", c.Name)
			}
			continue
		}
		xs := acttest.Inputs(333, rand.New(rand.NewPCG(21, 22)))
		buf := append([]float32(nil), xs...)
		act(buf)
		acttest.CheckAgainstReference(t, c.Name+" in place", ps, []int{len(xs)}, 0, xs, buf)
	}
}

// A PWLU that absorbed a per-channel bias runs a channels-last row in one pass over x − shift
// (pwluShiftedRow): every table size of both assembly levels (N=100 takes the subtract-then-
// gather fallback), C below, at and between multiples of 8 and 16 so that the vector loop's
// unrolled, single-block and pure-Go tail parts all run, checked against the float64 reference
// with the special values, and nothing written past a row.
func TestShiftedChannelsLast(t *testing.T) {
	t.Parallel()
	sets := []struct {
		name string
		p    onnxops.PWLUParams
	}{
		{"relu N=8", acttest.ReluPWLU(-3, 3, 8)},
		{"wiggly N=16", acttest.WigglyPWLU(-3, 3, 16)},
		{"wiggly N=27", acttest.WigglyPWLU(-2.5, 4, 27)},
		{"wiggly N=64", acttest.WigglyPWLU(-6, 6, 64)},
		{"wiggly N=100", acttest.WigglyPWLU(-5, 5, 100)},
		{"flat tails", acttest.Flat4()},
	}
	eachPath(t, func(t *testing.T, x simd.Level) {
		rng := rand.New(rand.NewPCG(23, 24))
		for _, set := range sets {
			for _, c := range []int{2, 7, 8, 15, 16, 17, 33, 47, 64, 100} {
				name := fmt.Sprintf("%s C=%d", set.name, c)
				kc := acttest.KernelCase{Name: name, Fam: onnxops.FamilyPWLU, Chans: acttest.ManyChannels(c, func(i int) onnxops.Params {
					return acttest.Shifted(set.p, 0.37*float64(i%23)-3)
				})}
				params, ps := acttest.Float32Params(t, kc)
				k, err := newOn(x, kc.Fam, false, params)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if k.tab.(*pwluTable).shift == nil {
					t.Fatalf("%s: shifted channels not recognised", name)
				}
				const rows = 9
				xs := acttest.Inputs(rows*c, rng)
				ys := make([]float32, rows*c+1)
				ys[rows*c] = 12345 // sentinel
				k.Apply(ys[:rows*c], xs, rows, 1, Serial)
				if ys[rows*c] != 12345 {
					t.Fatalf("%s: wrote past the end", name)
				}
				acttest.CheckAgainstReference(t, name, ps, []int{rows, c}, -1, xs, ys[:rows*c])
			}
		}
	})
}

// Columns runs any piece of a channels-last row in place: pieces start at every kind of channel
// (inside a group of 8, at one, at 16), end anywhere, and match the float64 reference; the
// shifted PWLU form takes its shifts from the piece's first channel. A value outside the piece
// stays as it was.
func TestColumns(t *testing.T) {
	t.Parallel()
	cases := acttest.KernelCases()
	for _, c := range []int{7, 37, 64} {
		cases = append(cases, acttest.KernelCase{Name: fmt.Sprintf("shifted PWLU C=%d", c), Fam: onnxops.FamilyPWLU,
			Chans: acttest.ManyChannels(c, func(i int) onnxops.Params {
				return acttest.Shifted(acttest.WigglyPWLU(-3, 3, 16), 0.37*float64(i%23)-3)
			})})
	}
	eachPath(t, func(t *testing.T, x simd.Level) {
		rng := rand.New(rand.NewPCG(25, 26))
		for _, kc := range cases {
			params, ps := acttest.Float32Params(t, kc)
			k, err := newOn(x, kc.Fam, kc.Gate, params)
			if err != nil {
				t.Fatalf("%s: %v", kc.Name, err)
			}
			c := k.Channels()
			cols := k.Columns()
			const rows = 5
			xs := acttest.Inputs(rows*c, rng)
			ys := append([]float32(nil), xs...)
			for r := range rows {
				row := ys[r*c : (r+1)*c]
				for ch0 := 0; ch0 < c; {
					n := min(1+rng.IntN(20), c-ch0)
					if r == 0 {
						n = c // one whole row
					}
					cols(row[ch0:ch0+n], ch0)
					ch0 += n
				}
			}
			shape, axis := []int{rows, c}, -1
			if c == 1 {
				shape, axis = []int{rows * c}, 0
			}
			acttest.CheckAgainstReference(t, kc.Name+" by pieces", ps, shape, axis, xs, ys)
		}
	})
}

// With the GELU default's steep humps (acttest.GELUZorro) the AVX-512 kernel skips the exp for
// blocks where no lane needs a hump. Blocks of 16 here hold every z inside [0, 1], or one lane
// (at each position in turn) on a hump — left (z = −1e-4) or right (z = 1 + 1e-4), where a·|u|
// = 1 and the hump moves Y by ~6e-5, above the tolerance — or one lane NaN or ±Inf, among
// inside lanes: a skip taken for the wrong block, or a hump added to the wrong lanes, misses
// the reference.
func TestZorroHumpBlocks(t *testing.T) {
	t.Parallel()
	eachPath(t, func(t *testing.T, x simd.Level) {
		c := acttest.KernelCase{Name: "GELU default", Fam: onnxops.FamilyZorro, Chans: []onnxops.Params{acttest.GELUZorro}, Gate: true}
		params, ps := acttest.Float32Params(t, c)
		tab, err := buildTable(x, c, params)
		if err != nil {
			t.Fatal(err)
		}
		p := ps[0].(onnxops.ZorroParams)
		at := func(z float64) float32 { return float32((z - p.InShift) / p.InScale) }
		odd := []float32{at(-1e-4), at(1 + 1e-4), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
		var xs []float32
		for i := 0; i < 16; i++ {
			xs = append(xs, at(0.03*float64(i)+0.02)) // a block inside [0, 1]
		}
		for _, v := range odd {
			for lane := 0; lane < 16; lane++ {
				for i := 0; i < 16; i++ {
					xs = append(xs, at(0.05*float64(i)+0.1))
				}
				xs[len(xs)-16+lane] = v
			}
		}
		ys := make([]float32, len(xs))
		tab.apply(ys, xs, 0, false)
		acttest.CheckAgainstReference(t, c.Name, ps, []int{len(xs)}, 0, xs, ys)
	})
}

// TestCRReLUNegativeZero: Y(−0) is +0 at every level and every position, the vector loop's and
// the scalar tail's alike: OPS.md's max(X, 0) is +0 for X = −0 (as Go's max and a float64
// evaluation give), and ε·X·e^0 = −0 must not turn it back into −0. The AVX2 loop once returned −0
// from VMAXPS's operand order while the tail returned +0.
func TestCRReLUNegativeZero(t *testing.T) {
	t.Parallel()
	negZero := float32(math.Copysign(0, -1))
	eachPath(t, func(t *testing.T, x simd.Level) {
		for _, c := range []acttest.KernelCase{
			{Name: "per-tensor", Fam: onnxops.FamilyCRReLU, Chans: []onnxops.Params{onnxops.CRReLUParams{Epsilon: 0.5}}},
			{Name: "per-channel", Fam: onnxops.FamilyCRReLU, Chans: acttest.ManyChannels(37, func(i int) onnxops.Params { return onnxops.CRReLUParams{Epsilon: 0.25 + 0.1*float64(i)} })},
		} {
			params, _ := acttest.Float32Params(t, c)
			tab, err := buildTable(x, c, params)
			if err != nil {
				t.Fatal(err)
			}
			n := 37 // several 8- and 16-lane blocks and a tail; a row of 37 channels per channel
			xs := make([]float32, n)
			for i := range xs {
				xs[i] = negZero
			}
			ys := make([]float32, n)
			if len(c.Chans) > 1 {
				tab.applyRow(ys, xs, 0)
			} else {
				tab.apply(ys, xs, 0, false)
			}
			for i, y := range ys {
				if y != 0 || math.Signbit(float64(y)) {
					t.Fatalf("%s: Y(−0) at %d of %d = %v (sign bit %v), want +0", c.Name, i, n, y, math.Signbit(float64(y)))
				}
			}
		}
	})
}
