package actkernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/onnxops"
)

// extCase is a PWLU for the extended-table kernels (pwluExtTable) and whether they take it.
type extCase struct {
	name string
	ps   []onnxops.Params
	ext  bool
}

func extCases() []extCase {
	sawtooth := func(bl, br float64, n int) onnxops.PWLUParams {
		p := onnxops.PWLUParams{BL: bl, BR: br, KL: 0.3, KR: -0.7}
		for i := 0; i <= n; i++ {
			p.Heights = append(p.Heights, float64(i%2))
		}
		return p
	}
	vit := acttest.ManyChannels(768, func(i int) onnxops.Params {
		return acttest.Shifted(acttest.WigglyPWLU(-3, 3, 16), 0.3*math.Sin(float64(i)))
	})
	return []extCase{
		{"relu N=16 (32 entries)", []onnxops.Params{acttest.ReluPWLU(-3, 3, 16)}, true},
		{"bumpy N=5 (16 entries)", []onnxops.Params{onnxops.PWLUParams{BL: -1.7, BR: 2.3, Heights: []float64{0.3, -0.2, 0.1, 0.9, 1.7, 2.0}, KL: -0.05, KR: 1.1}}, true},
		{"N=14, the most for 16 entries", []onnxops.Params{acttest.WigglyPWLU(-2, 3, 14)}, true},
		{"N=30, the most for 32 entries", []onnxops.Params{acttest.WigglyPWLU(-4, 4, 30)}, true},
		{"N=31", []onnxops.Params{acttest.WigglyPWLU(-4, 4, 31)}, false},
		{"saw-tooth N=30 in [−4, 4]", []onnxops.Params{sawtooth(-4, 4, 30)}, true},
		// Bounds far from 0 against their width: one FMA from x would lose ≈ 3e-4 of a step
		// (the saw-tooth's rises are 1), so the kernel subtracts B_L first.
		{"saw-tooth in [1000.3, 1003.7]", []onnxops.Params{sawtooth(1000.3, 1003.7, 16)}, false},
		// A grid so fine that s' overflows for |x| ≥ 4e8: those lanes take the fix-up.
		{"bounds ±2e-30, flat left", []onnxops.Params{onnxops.PWLUParams{BL: -2e-30, BR: 2e-30, Heights: []float64{0, 0.5, -0.25, 1, 2}, KL: 0, KR: 3}}, true},
		{"bounds ±2e-30, flat right", []onnxops.Params{onnxops.PWLUParams{BL: -2e-30, BR: 2e-30, Heights: []float64{0, 0.5, -0.25, 1, 2}, KL: -2, KR: 0}}, true},
		{"vit_tiny's fc1: 768 shifted channels", vit, true},
		{"19 channels not shifted copies", acttest.ManyChannels(19, func(i int) onnxops.Params { return acttest.WigglyPWLU(-2-0.1*float64(i), 1, 12) }), false},
	}
}

// extInputs are acttest.Inputs, a dense sweep of [B_L − w, B_R + w] for a per-tensor p (every
// knot and the points beside it included), and values whose grid position overflows.
func extInputs(p onnxops.PWLUParams, rng *rand.Rand) []float32 {
	xs := acttest.Inputs(1000, rng)
	w := p.BR - p.BL
	for i := 0; i <= 4000; i++ {
		xs = append(xs, float32(p.BL-w+3*w*float64(i)/4000))
	}
	for i := 0; i <= p.N(); i++ {
		k := float32(p.BL + float64(i)*w/float64(p.N()))
		xs = append(xs, k, math.Nextafter32(k, -math.MaxFloat32), math.Nextafter32(k, math.MaxFloat32))
	}
	return append(xs, 4e8, -4e8, 1e12, -1e12, 1e20, -1e20, math.MaxFloat32, -math.MaxFloat32)
}

// TestPWLUExtendedForm checks which PWLU tables the extended-table kernels take and their values
// against the float64 reference, on the host's own level (Go and AVX2 build no extended table).
func TestPWLUExtendedForm(t *testing.T) {
	t.Parallel()
	wide := simd.Host().Wide()
	rng := rand.New(rand.NewPCG(41, 42))
	for _, c := range extCases() {
		kc := acttest.KernelCase{Name: c.name, Fam: onnxops.FamilyPWLU, Chans: c.ps}
		params, ps := acttest.Float32Params(t, kc)
		k, err := New(onnxops.FamilyPWLU, false, params)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tab := k.tab.(*pwluTable)
		took := tab.chans[0].ext != nil
		if len(ps) > 1 {
			took = tab.extOffs != nil
		}
		if want := c.ext && wide; took != want {
			t.Errorf("%s: extended-table kernel taken %v, want %v", c.name, took, want)
		}
		if len(ps) > 1 {
			// Channels last: rows of every channel, each run as one piece and in pieces that
			// start anywhere.
			rows := 40
			xs := acttest.Inputs(rows*len(ps), rng)
			ys := make([]float32, len(xs))
			k.Apply(ys, xs, rows, 1, Serial)
			acttest.CheckAgainstReference(t, c.name, ps, []int{rows, len(ps)}, -1, xs, ys)
			if !took {
				continue // the other kernels' Go tails round unlike their vector loops
			}
			cols := k.Columns()
			for r := range rows {
				row := append([]float32(nil), xs[r*len(ps):(r+1)*len(ps)]...)
				for lo := 0; lo < len(row); {
					hi := min(len(row), lo+1+(r*7+lo)%41)
					cols(row[lo:hi], lo)
					lo = hi
				}
				sameBits(t, fmt.Sprintf("%s row %d in pieces", c.name, r), row, ys[r*len(ps):(r+1)*len(ps)])
			}
			continue
		}
		xs := extInputs(ps[0].(onnxops.PWLUParams), rng)
		ys := make([]float32, len(xs))
		k.Apply(ys, xs, 1, 1, Serial)
		acttest.CheckAgainstReference(t, c.name, ps, []int{len(xs)}, 0, xs, ys)
		if !took {
			continue
		}
		// Every element gets the same bits wherever it sits: alone, at any offset, streamed.
		for off := range 17 {
			for _, stream := range []bool{false, true} {
				got := make([]float32, len(xs)+16)
				tab.apply(got[off:off+len(xs)-off], xs[off:], 0, stream)
				sameBits(t, fmt.Sprintf("%s from offset %d, stream %v", c.name, off, stream), got[off:off+len(xs)-off], ys[off:])
			}
		}
		for i := 0; i < len(xs); i += 13 {
			var one [1]float32
			tab.apply(one[:], xs[i:i+1], 0, false)
			sameBits(t, fmt.Sprintf("%s element %d alone", c.name, i), one[:], ys[i:i+1])
		}
	}
}

// sameBits reports the first element whose bits differ (NaNs compare as NaNs).
func sameBits(t *testing.T, label string, got, want []float32) {
	t.Helper()
	for i := range got {
		g, w := got[i], want[i]
		if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
			t.Errorf("%s: element %d is %v (bits %#x), want %v (bits %#x)", label, i, g, math.Float32bits(g), w, math.Float32bits(w))
			return
		}
	}
}
