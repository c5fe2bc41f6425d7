package onnxops

import (
	"math"
	"testing"
)

// Samples drawn from a known PWLU, covering every interval and both tails, must give that PWLU
// back: the least-squares solution is exact up to the tiny ridge.
func TestFitPWLURecoversKnownPWLU(t *testing.T) {
	t.Parallel()
	want := PWLUParams{BL: -2, BR: 2, Heights: []float64{-0.3, 0.1, -0.2, 0.4, 1.1, 0.9, 1.7, 2.5, 2.2}, KL: -0.25, KR: 1.5}
	var xs, ys, ws []float64
	for x := -4.0; x <= 4.0; x += 1.0 / 64 {
		xs, ys, ws = append(xs, x), append(ys, want.Eval(x)), append(ws, 1.0/512)
	}
	got, err := FitPWLU(xs, ys, ws, GELU, want.BL, want.BR, want.N())
	if err != nil {
		t.Fatal(err)
	}
	const tol = 1e-4 // the ridge (1e-6 against weights summing to ~1) moves the solution by ~1e-5
	for i, h := range want.Heights {
		if math.Abs(got.Heights[i]-h) > tol {
			t.Errorf("height %d = %g, want %g", i, got.Heights[i], h)
		}
	}
	if math.Abs(got.KL-want.KL) > tol || math.Abs(got.KR-want.KR) > tol {
		t.Errorf("slopes (%g, %g), want (%g, %g)", got.KL, got.KR, want.KL, want.KR)
	}
}

// A tail without data falls back on the ridge's targets: ReLU/GELU's outer slopes 0 and 1, and
// knot interpolation of the target where no sample lands.
func TestFitPWLURidgeFillsEmptyIntervals(t *testing.T) {
	t.Parallel()
	xs := []float64{-0.5, -0.25, 0, 0.25, 0.5}
	ys, ws := make([]float64, len(xs)), make([]float64, len(xs))
	for i, x := range xs {
		ys[i], ws[i] = GELU(x), 0.2
	}
	p, err := FitPWLU(xs, ys, ws, GELU, -3, 3, 12)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p.KL) > 1e-9 || math.Abs(p.KR-1) > 1e-9 {
		t.Errorf("empty tails: slopes (%g, %g), want (0, 1)", p.KL, p.KR)
	}
	if math.Abs(p.Heights[0]-GELU(-3)) > 1e-6 || math.Abs(p.Heights[12]-GELU(3)) > 1e-6 {
		t.Errorf("knots without data: %g, %g, want GELU's %g, %g", p.Heights[0], p.Heights[12], GELU(-3), GELU(3))
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}
